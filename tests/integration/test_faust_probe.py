"""A minimal Faust app (RocksDB table, changelog) runs against the session's real broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared import kafkaclients
from shared.config import KafkaSettings
from shared.topics import TopicSpec
from tests.conftest import free_port

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]


async def test_faust_app_consumes_and_updates_a_table(
    kafka_settings: KafkaSettings, make_topics, unique: str, tmp_path: Path
) -> None:
    src, out = f"probe.in.{unique}", f"probe.out.{unique}"
    await make_topics(TopicSpec(src, 1), TopicSpec(out, 1))
    env = {
        **os.environ,
        "PROBE_ID": f"probe-{unique}",
        "PROBE_IN": src,
        "PROBE_OUT": out,
        "TIENDO_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "TIENDO_WEB_PORT": str(free_port()),
        "TIENDO_DATA_DIR": str(tmp_path),
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.faust_probe"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        producer = kafkaclients.producer(kafka_settings, "test")
        await producer.start()
        await kafkaclients.send_all(producer, src, [(b"abc"[i % 3 : i % 3 + 1], b"x") for i in range(30)])
        await producer.stop()
        consumer = kafkaclients.consumer(kafka_settings, "test")
        consumer.subscribe([out])
        await consumer.start()
        latest: dict[bytes, int] = {}
        deadline = time.monotonic() + 90
        try:
            while sum(1 for _ in latest) < 3 or any(v < 10 for v in latest.values()):
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
                for msgs in (await consumer.getmany(timeout_ms=1000)).values():
                    for m in msgs:
                        latest[m.key] = max(latest.get(m.key, 0), int(m.value))
        finally:
            await consumer.stop()
        assert latest == {b"a": 10, b"b": 10, b"c": 10}
        assert worker.poll() is None, "worker died"
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
    # The table's RocksDB store holds the counts on disk and its changelog topic exists.
    assert any(tmp_path.rglob("*.sst")) or any(tmp_path.rglob("CURRENT"))
