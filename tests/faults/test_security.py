"""Security basics: loopback-only HTTP by default, SASL/PLAIN to Kafka, no secret in any log line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from shared import kafkaclients
from shared.config import KafkaSettings
from shared.topics import UPDATES, TopicSpec, ensure_topics
from tests.conftest import SASL_USER, free_port
from tests.integration.kafka_io import read_until
from tests.workers import Worker

pytestmark = pytest.mark.kafka


def listening_addresses(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses (hex, as in /proc/net/tcp*) with a socket listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


async def test_sasl_plain_ingest_works_and_never_logs_the_password(
    kafka_settings: KafkaSettings, sasl_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    user, password = SASL_USER
    secure = KafkaSettings(
        bootstrap_servers=sasl_bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username=user,
        sasl_password=password,
        namespace=f"t{unique}.",
    )
    assert password not in repr(secure) and password not in str(secure.model_dump())
    topic = f"feed.{unique}-secure"
    await ensure_topics(secure, (UPDATES,))
    await ensure_topics(kafka_settings, (TopicSpec(topic, 1),))
    port = free_port()
    worker = Worker(
        "ingest",
        {
            "TIENDO_BOOTSTRAP_SERVERS": sasl_bootstrap,
            "TIENDO_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "TIENDO_SASL_MECHANISM": "PLAIN",
            "TIENDO_SASL_USERNAME": user,
            "TIENDO_SASL_PASSWORD": password,
            "TIENDO_NAMESPACE": secure.namespace,
            "TIENDO_TOPIC_PATTERN": rf"feed\.{unique}-.*",
            "TIENDO_DATA_DIR": str(tmp_path / "state"),
            "TIENDO_LOG_LEVEL": "DEBUG",  # the most talkative setting: still no secret
        },
        tmp_path / "ingest.log",
        port,
    ).start()
    try:
        await asyncio.to_thread(worker.wait_ready)
        producer = kafkaclients.producer(secure, "test-secure")
        await producer.start()
        event = {
            "event_id": "s-1",
            "province": "Lạng Sơn",
            "indicator": "new_jobs",
            "as_of": "2024-05-20",
            "value": 120,
            "unit": "người",
            "mode": "delta",
        }
        await kafkaclients.send_all(producer, topic, [(None, orjson.dumps(event))])
        await producer.stop()
        updates = await read_until(
            secure, secure.topic(UPDATES.name), lambda rs: len(rs) >= 1, timeout=90, on_timeout=worker.tail
        )
        assert orjson.loads(updates[0].value)["event_id"] == "s-1"
        # The HTTP server listens on loopback only (127.0.0.1), never on all interfaces.
        assert listening_addresses(port) == {"0100007F"}
    finally:
        worker.stop()
    log = (tmp_path / "ingest.log").read_text(errors="replace")
    assert "sasl" in log.lower() or "SASL" in log, "the debug log does show the SASL handshake"
    assert password not in log


async def test_wrong_password_fails_with_a_clear_error_and_no_secret(
    sasl_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    wrong = "wr0ng-Passw0rd-never-logged"
    worker = Worker(
        "ingest",
        {
            "TIENDO_BOOTSTRAP_SERVERS": sasl_bootstrap,
            "TIENDO_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "TIENDO_SASL_USERNAME": SASL_USER[0],
            "TIENDO_SASL_PASSWORD": wrong,
            "TIENDO_NAMESPACE": f"t{unique}.",
            "TIENDO_DATA_DIR": str(tmp_path / "state"),
            "TIENDO_LOG_LEVEL": "DEBUG",
        },
        tmp_path / "ingest.log",
        free_port(),
    ).start()
    try:
        with pytest.raises(AssertionError):
            await asyncio.to_thread(worker.wait_ready, 25)
    finally:
        worker.stop()
    log = (tmp_path / "ingest.log").read_text(errors="replace")
    assert "Authentication failed" in log or "SaslAuthenticationFailed" in log or "authentication" in log.lower()
    assert wrong not in log
