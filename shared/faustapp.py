"""The thin Faust layer every worker shares: app construction, output producer, process entry point."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any, Literal

import faust
from aiokafka import AIOKafkaProducer
from pydantic import Field

from shared import kafkaclients
from shared.config import KafkaSettings
from shared.logs import configure_logging, get_logger
from shared.topics import TopicSpec, ensure_topics

log = get_logger("tiendo.faust")


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
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "exactly_once",
        description="exactly_once: each input partition's batch, its outputs, state writes and input offsets "
        "commit in one Kafka transaction (a producer per input partition fences a paused predecessor); "
        "at_least_once: outputs acknowledged, then offsets committed (see docs/design.md).",
    )
    instance_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Static consumer-group membership id (default: host name and web port): a worker restarted "
        "under the same id gets its partitions back at once instead of after its predecessor's session timeout.",
    )

    def group_instance_id(self) -> str:
        """This worker's static membership id in its consumer groups."""
        return self.instance_id or f"{socket.gethostname()}-{self.web_port}"


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
        "datadir": str(settings.data_dir / f"{settings.namespace}{name}"),
        "web_enabled": True,
        "web_host": settings.web_host,
        "web_bind": settings.web_host,
        "web_port": settings.web_port,
        "web_in_thread": False,
        "topic_replication_factor": settings.replication_factor,
        "topic_allow_declare": True,
        "consumer_auto_offset_reset": "earliest",
        "consumer_metadata_max_age_ms": settings.metadata_max_age_ms,
        "producer_acks": -1,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "table_standby_replicas": 0,
        "broker_session_timeout": settings.session_timeout_s,
        "consumer_group_instance_id": settings.group_instance_id(),
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
    return faust.App(f"{settings.namespace}tiendo-{name}", **defaults)


class Outputs:
    """The worker's output producer (acks=all, idempotent: retries never duplicate), started on first use.

    aiokafka clients must be created inside the running loop, so the producer is made lazily by the agent that
    needs it; the output topics are created first when missing.
    """

    def __init__(self, settings: KafkaSettings, client_id: str, topics: tuple[TopicSpec, ...]) -> None:
        self.settings, self.client_id, self.topics = settings, client_id, topics
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def producer(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                await ensure_topics(self.settings, self.topics)
                producer = kafkaclients.producer(self.settings, self.client_id)
                await producer.start()
                self._producer = producer
            return self._producer

    async def stop(self) -> None:
        """Flush and stop; safe to call when never started."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()


def run_worker(app: faust.App, settings: WorkerSettings) -> None:
    """Run a Faust worker in this process until SIGINT/SIGTERM, with tiendo's logging (no spinner)."""
    secret = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
    configure_logging(settings.log_level, json=settings.log_json, secrets=[secret])
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
