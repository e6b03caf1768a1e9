"""Reading a whole topic as it is now (no consumer group): for tools that show or replay a topic, and for state
kept in a compacted topic."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Collection, Mapping

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from shared import kafkaclients
from shared.config import KafkaSettings

#: Give up when a topic yields nothing for this long before its end offsets are reached.
STALL_TIMEOUT_S = 60.0


class TopicStalledError(RuntimeError):
    """The topic stopped yielding records before its end offsets."""


async def iter_to_end(
    settings: KafkaSettings,
    topic: str,
    *,
    partitions: Collection[int] | None = None,
    start: Mapping[int, int] | None = None,
    stall_timeout_s: float = STALL_TIMEOUT_S,
    max_records: int = 5000,
) -> AsyncIterator[ConsumerRecord]:
    """Every record of ``topic`` (or of its ``partitions``) from the beginning, or from the ``start`` offset of a
    partition, up to the end offsets taken at the start; nothing if the topic does not exist."""
    # Subscribing fetches the topic's metadata (its partitions); reading then uses manual assignment.
    # No group; a start offset that retention removed reads from the first one kept (auto_offset_reset earliest).
    consumer = kafkaclients.consumer(settings, "tiendo-reader")
    consumer.subscribe([topic])
    await consumer.start()
    try:
        existing = consumer.partitions_for_topic(topic) or set()
        consumer.unsubscribe()
        tps = [TopicPartition(topic, p) for p in sorted(existing) if partitions is None or p in partitions]
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        for tp in tps:
            if start and start.get(tp.partition, 0) > 0:
                consumer.seek(tp, start[tp.partition])
        end = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if await consumer.position(tp) < end[tp]}
        last_progress = time.monotonic()
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=max_records)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < end[tp]:
                        yield record
            if batches:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > stall_timeout_s:
                raise TopicStalledError(
                    f"reading {topic} stalled: no records for {stall_timeout_s:.0f}s before its end"
                )
            remaining = {tp for tp in remaining if await consumer.position(tp) < end[tp]}
    finally:
        await consumer.stop()


async def end_offsets(settings: KafkaSettings, topic: str, partitions: Collection[int]) -> dict[int, int]:
    """The committed end of each of these partitions of ``topic`` (the last stable offset: records of transactions
    still open or aborted at its end are not before it); partitions the topic lacks are left out."""
    consumer = kafkaclients.consumer(settings, "tiendo-reader")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def read_to_end(settings: KafkaSettings, topic: str) -> list[ConsumerRecord]:
    """:func:`iter_to_end` as a list."""
    return [record async for record in iter_to_end(settings, topic)]
