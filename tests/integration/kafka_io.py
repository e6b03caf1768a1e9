"""Small helpers to publish to and read back from the session broker in integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from aiokafka.structs import ConsumerRecord

from shared import kafkaclients
from shared.config import KafkaSettings


async def publish(settings: KafkaSettings, topic: str, values: Iterable[bytes], key: bytes | None = None) -> int:
    producer = kafkaclients.producer(settings, "test-publish")
    await producer.start()
    try:
        return len(await kafkaclients.send_all(producer, topic, ((key, v) for v in values)))
    finally:
        await producer.stop()


async def read_until(
    settings: KafkaSettings,
    topic: str,
    done: Callable[[list[ConsumerRecord]], bool],
    timeout: float = 90,
    on_timeout: Callable[[], str] = lambda: "",
) -> list[ConsumerRecord]:
    """Read ``topic`` from the beginning until ``done(records)`` holds; fail after ``timeout`` seconds."""
    consumer = kafkaclients.consumer(settings, "test-read")
    consumer.subscribe([topic])
    await consumer.start()
    records: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    try:
        while not done(records):
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: condition not met in {timeout}s ({len(records)} read)\n{on_timeout()}")
            for batch in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()
