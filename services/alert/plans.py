"""The compacted ``plans`` topic: publishing plans (``tiendo plans load``, the demo), reading those in force, and
following it (the alert worker: :class:`PlansFollower`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import orjson

from services.alert.national import follow_topic
from shared import kafkaclients
from shared.config import KafkaSettings
from shared.evaluation import plan_series_key
from shared.plans import Plan
from shared.reading import iter_to_end, read_to_end
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


class PlansFollower:
    """Every plan in memory, from the plans topic: :meth:`load` reads it to its end (no consumer group, manual
    assignment, from the beginning), :meth:`follow` then yields each later change; the caller :meth:`apply`-s it
    once it has acted on it."""

    def __init__(self, settings: KafkaSettings, topic: str) -> None:
        self.settings, self.topic = settings, topic
        self._plans: dict[bytes, Plan] = {}
        self._by_series: dict[str, list[Plan]] = {}
        self._ordered: list[Plan] | None = None
        self._next: dict[int, int] = {}  # partition → next offset to read after load
        self.loaded = False
        self.version = 0  # counts the changes

    async def load(self) -> int:
        """Read the topic to its end (created if missing); return the number of plans in force."""
        await ensure_topics(self.settings, (PLANS,))
        latest: dict[bytes, bytes | None] = {}
        async for record in iter_to_end(self.settings, self.topic):
            latest[record.key or b""] = record.value
            self._next[record.partition] = record.offset + 1
        for key, value in latest.items():
            if value is not None:
                self.apply(key, value)
        self.loaded = True
        return len(self._plans)

    async def follow(self) -> AsyncIterator[tuple[bytes, bytes | None]]:
        """Every record after those :meth:`load` read, forever (the plans topic's partitions as they were then)."""
        async for record in follow_topic(self.settings, self.topic, self._next, "tiendo-alert-plans"):
            yield record.key or b"", record.value

    def apply(self, key: bytes, value: bytes | None) -> None:
        """Put a plan record (a tombstone removes the plan); a record that is not a plan is skipped."""
        if value is None:
            self._plans.pop(key, None)
        else:
            try:
                self._plans[key] = Plan.from_dict(orjson.loads(value))
            except (ValueError, KeyError, TypeError):
                return
        self._ordered = None
        self._by_series = {}
        self.version += 1

    def get(self, key: bytes) -> Plan | None:
        return self._plans.get(key)

    def items(self) -> Iterable[tuple[bytes, Plan]]:
        return self._plans.items()

    def values(self) -> Iterable[Plan]:
        return self._plans.values()

    def ordered(self) -> list[Plan]:
        """The plans, oldest plan year first (in January the new year's gauges are the ones left standing)."""
        if self._ordered is None:
            self._ordered = sorted(self._plans.values(), key=lambda p: (p.year, p.key))
        return self._ordered

    def judged_on(self, series: str) -> list[Plan]:
        """The plans judged on a series (``plan_series_key``), oldest plan year first."""
        if not self._by_series and self._plans:
            for plan in self.ordered():
                self._by_series.setdefault(plan_series_key(plan), []).append(plan)
        return self._by_series.get(series, [])
