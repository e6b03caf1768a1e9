"""Session fixtures: one real Apache Kafka broker for the whole test session."""

from __future__ import annotations

import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.localkafka import LocalBroker
from shared.config import KafkaSettings
from shared.topics import TopicSpec, ensure_topics

#: The session broker's SASL/PLAIN user (its SASL_PLAINTEXT listener: the ``sasl_bootstrap`` fixture).
SASL_USER = ("tiendo", "s3cr3t-Passw0rd-for-tests")
_SESSION: dict[str, LocalBroker] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="fault suite: big sizes (100,000 events, 20 kills) instead of the CI sizes",
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of the session's broker: ``TIENDO_KAFKA_BOOTSTRAP`` if set, else one started here."""
    if given := os.environ.get("TIENDO_KAFKA_BOOTSTRAP"):
        yield given
        return
    broker = LocalBroker(
        home=Path(tmp_path_factory.mktemp("kafka")),
        port=free_port(),
        controller_port=free_port(),
        sasl_port=free_port(),
        sasl_users=(SASL_USER,),
    )
    # SIGTERM (e.g. from `timeout` or CI) ends the session like Ctrl-C, so the teardown below still stops the broker.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    broker.start()
    _SESSION["broker"] = broker
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def sasl_bootstrap(kafka_bootstrap: str) -> str:
    """The session broker's SASL_PLAINTEXT listener (skipped with an external ``TIENDO_KAFKA_BOOTSTRAP``)."""
    broker = _SESSION.get("broker")
    if broker is None or broker.sasl_port is None:
        pytest.skip(f"the external broker {kafka_bootstrap} has no SASL listener known to the tests")
    return f"{broker.host}:{broker.sasl_port}"


@pytest.fixture(scope="session")
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=kafka_bootstrap)


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic and group names, so tests never share state."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
async def make_topics(kafka_settings: KafkaSettings) -> AsyncIterator:
    """Create topics (name, partitions, configs) on the session broker."""

    async def create(*specs: TopicSpec) -> None:
        await ensure_topics(kafka_settings, specs)

    yield create
