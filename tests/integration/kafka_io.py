"""Small helpers to publish to and read back from the session broker in integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from shared.config import KafkaSettings


async def publish(settings: KafkaSettings, topic: str, values: Iterable[bytes], key: bytes | None = None) -> int:
    producer = AIOKafkaProducer(**settings.client_kwargs(), acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, v, key=key) for v in values]
        for f in futures:
            await f
        return len(futures)
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
    consumer = AIOKafkaConsumer(
        topic, **settings.client_kwargs(), auto_offset_reset="earliest", enable_auto_commit=False
    )
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
