"""The compacted ``plans`` topic: publishing plans (``tiendo plans load``, the demo) and reading those in force."""

from __future__ import annotations

import orjson

from shared import kafkaclients
from shared.config import KafkaSettings
from shared.plans import Plan
from shared.reading import read_to_end
from shared.topics import PLANS, ensure_topics


async def publish_plans(settings: KafkaSettings, plans: list[Plan]) -> None:
    """Create the ``plans`` topic if needed and publish every plan, keyed by :attr:`Plan.key`; wait for the acks."""
    await ensure_topics(settings, (PLANS,))
    producer = kafkaclients.producer(settings, "tiendo-plans")
    try:
        await producer.start()
        await kafkaclients.send_all(
            producer, settings.topic(PLANS.name), [(p.key.encode(), orjson.dumps(p.to_dict())) for p in plans]
        )
    finally:
        await producer.stop()


async def read_plans(settings: KafkaSettings) -> tuple[list[Plan], int]:
    """The plans in force (the latest value per key on the compacted topic, tombstones removed) and the number of
    latest records that are not plans (skipped)."""
    latest: dict[bytes | None, bytes | None] = {}
    for record in await read_to_end(settings, settings.topic(PLANS.name)):
        latest[record.key] = record.value
    plans, skipped = [], 0
    for value in latest.values():
        if value is None:
            continue
        try:
            plans.append(Plan.from_dict(orjson.loads(value)))
        except (ValueError, KeyError, TypeError):
            skipped += 1
    return sorted(plans, key=lambda p: (p.year, p.province_code, p.indicator, p.basis)), skipped
