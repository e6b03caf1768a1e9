"""The thin Faust layer every worker shares: app construction, output producer, process entry point."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from faust.streams import _current_event
from faust.types import EventT
from pydantic import Field

from shared.config import KafkaSettings
from shared.logs import configure_logging


class WorkerSettings(KafkaSettings):
    """Settings common to the ingest, aggregate and alert workers (flags or ``TIENDO_*`` variables)."""

    web_host: str = Field("127.0.0.1", description="Address the worker's HTTP server binds to.")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of the worker's HTTP server (/metrics).")
    data_dir: Path = Field(Path(".var/state"), description="Local state (RocksDB) folder.")
    log_level: str = "INFO"
    log_json: bool = Field(True, description="JSON log lines (false: key=value for terminals).")
    batch_size: int = Field(2000, ge=1, le=100_000, description="Events taken from the stream per batch.")
    batch_wait_s: float = Field(0.1, gt=0, le=10, description="Longest wait to fill a batch (seconds).")
    metadata_max_age_ms: int = Field(
        10_000, ge=1000, description="Consumer metadata refresh: new feed topics are seen within it."
    )
    session_timeout_s: float = Field(10.0, gt=1, description="Consumer group session timeout (seconds).")


def _credentials(settings: KafkaSettings) -> Any:
    kwargs = settings.client_kwargs()
    if settings.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=kwargs["sasl_plain_username"],
            password=kwargs["sasl_plain_password"],
            mechanism=kwargs["sasl_mechanism"],
            ssl_context=kwargs.get("ssl_context"),
        )
    if settings.security_protocol == "SSL":
        return faust.SSLCredentials(kwargs["ssl_context"])
    return None


def make_app(name: str, settings: WorkerSettings, **conf: Any) -> faust.App:
    """A Faust app with tiendo's defaults: raw bytes in and out, RocksDB tables, HTTP on 127.0.0.1."""
    defaults: dict[str, Any] = {
        "broker": [f"kafka://{s.strip()}" for s in settings.bootstrap_servers.split(",")],
        "broker_credentials": _credentials(settings),
        "store": "rocksdb://",
        "datadir": str(settings.data_dir / name),
        "web_enabled": True,
        "web_host": settings.web_host,
        "web_bind": settings.web_host,
        "web_port": settings.web_port,
        "web_in_thread": False,
        "topic_replication_factor": 1,
        "topic_allow_declare": True,
        "consumer_auto_offset_reset": "earliest",
        "consumer_metadata_max_age_ms": settings.metadata_max_age_ms,
        "producer_acks": -1,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "table_standby_replicas": 0,
        "broker_session_timeout": settings.session_timeout_s,
        "broker_heartbeat_interval": min(3.0, settings.session_timeout_s / 3),
        "broker_rebalance_timeout": 30.0,
        "broker_commit_interval": 1.0,
        "stream_buffer_maxsize": max(4096, settings.batch_size * 2),
        "stream_wait_empty": False,
        "web_stats_enabled": False,
        "web_graph_enabled": False,
        "web_tables_enabled": False,
        "web_metrics_enabled": False,
    }
    defaults.update(conf)
    return faust.App(f"tiendo-{name}", **defaults)


def make_producer(settings: KafkaSettings, client_id: str) -> AIOKafkaProducer:
    """The output producer: acks from all in-sync replicas and idempotence, so retries never duplicate."""
    return AIOKafkaProducer(
        **settings.client_kwargs(),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
        compression_type=None,
    )


def run_worker(app: faust.App, settings: WorkerSettings) -> None:
    """Run a Faust worker in this process until SIGINT/SIGTERM, with tiendo's logging (no spinner)."""
    configure_logging(settings.log_level, json=settings.log_json)
    Path(app.conf.datadir).parent.mkdir(parents=True, exist_ok=True)
    worker = faust.Worker(
        app,
        loglevel=settings.log_level,
        quiet=True,
        override_logging=False,
        redirect_stdouts=False,
        loop=asyncio.new_event_loop(),
    )
    worker.spinner = None  # Faust's spinner handler puts the root logger at DEBUG: costly, see stream-notes
    worker.execute_from_commandline()


@contextmanager
def event_context(event: EventT) -> Iterator[None]:
    """Make ``event`` Faust's current event while a batch writes to a table.

    Faust places a table write in the changelog partition of the current event, which only per-event iteration
    sets; batched agents (``take_events``) set it here for the event a key's write belongs to (faust-streaming
    issue #497: without it RocksDB tables refuse the write).
    """
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
