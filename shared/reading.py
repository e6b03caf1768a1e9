"""Reading a whole topic as it is now (no consumer group): for CLI tools that show or replay a topic."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from shared.config import KafkaSettings


async def read_to_end(settings: KafkaSettings, topic: str) -> list[ConsumerRecord]:
    """Every record of ``topic`` from the beginning up to the end offsets taken at the start."""
    consumer = AIOKafkaConsumer(topic, **settings.client_kwargs(), enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.unsubscribe()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[ConsumerRecord] = []
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                records.extend(r for r in batch if r.offset < end[TopicPartition(r.topic, r.partition)])
        return records
    finally:
        await consumer.stop()
