"""Fixtures shared by the integration tests: a namespace per test and a running ingest worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.config import KafkaSettings
from shared.topics import DLQ, UPDATES, ensure_topics
from tests.conftest import free_port
from tests.workers import Worker


def start_ingest(
    kafka_settings: KafkaSettings, namespace: str, unique: str, tmp_path: Path, name: str = "ingest", **env: str
) -> Worker:
    """A real ingest worker process reading ``feed.<unique>-*`` (``env``: more ``TIENDO_*`` settings), started;
    its log is ``<tmp_path>/<name>.log``."""
    return Worker(
        "ingest",
        {
            "TIENDO_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
            "TIENDO_NAMESPACE": namespace,
            "TIENDO_TOPIC_PATTERN": rf"feed\.{unique}-.*",
            "TIENDO_DATA_DIR": str(tmp_path / "state"),
            "TIENDO_METADATA_MAX_AGE_MS": "2000",
            **env,
        },
        tmp_path / f"{name}.log",
        free_port(),
    ).start()


@pytest.fixture
def namespace(unique: str) -> str:
    return f"t{unique}."


@pytest.fixture
async def ingest(
    kafka_settings: KafkaSettings, namespace: str, unique: str, tmp_path: Path
) -> AsyncIterator[tuple[Worker, KafkaSettings]]:
    """A real ingest worker reading the feed topics ``feed.<unique>-*``, and its namespaced settings."""
    ns = KafkaSettings(bootstrap_servers=kafka_settings.bootstrap_servers, namespace=namespace)
    await ensure_topics(ns, (UPDATES, DLQ))
    worker = start_ingest(kafka_settings, namespace, unique, tmp_path)
    try:
        await asyncio.to_thread(worker.wait_ready)
        yield worker, ns
    finally:
        worker.stop()
