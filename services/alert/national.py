"""The national view of the alert worker: every replica reads the WHOLE ``indicator.totals`` topic, without a
group (its own partitions of it are only some provinces), into a :class:`shared.national.NationalView` — what
rankings, forecasts and the on-time reporting rate need.

When a report arrived: with the wall clock, the day (Vietnam) of the total record's Kafka timestamp (the aggregate
publishes a total as soon as the report is folded in; a re-read keeps the timestamps). With the event clock
(replays, the demo, tests) the replayed records all carry today's timestamp, so a report is taken to arrive on the
day it is dated: the demo replays each feed message at its ``as_of``, which is the event clock's own reading.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime

import orjson
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from shared import kafkaclients
from shared.config import KafkaSettings
from shared.logs import get_logger
from shared.national import NationalView
from shared.reading import iter_to_end
from shared.vntime import VN_TZ

log = get_logger("tiendo.alert.national")


async def follow_topic(
    settings: KafkaSettings, topic: str, start: Mapping[int, int], client_id: str
) -> AsyncIterator[ConsumerRecord]:
    """Every record of ``topic`` from the ``start`` offset of each partition (0 if not given), forever; no group,
    manual assignment of the partitions the topic has when it starts."""
    consumer = kafkaclients.consumer(settings, client_id)
    consumer.subscribe([topic])
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.unsubscribe()
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, start.get(tp.partition, 0))
        while True:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    yield record
    finally:
        await consumer.stop()


class NationalFollower:
    """:meth:`load` reads ``indicator.totals`` to its end, :meth:`follow` then applies each later total."""

    def __init__(self, settings: KafkaSettings, topic: str, *, event_clock: bool) -> None:
        self.settings, self.topic, self.event_clock = settings, topic, event_clock
        self.view = NationalView()
        self._next: dict[int, int] = {}
        self.loaded = False
        self.ready = asyncio.Event()  # set once loaded: follow from there

    async def load(self) -> int:
        """Read the topic to its end; return the number of series seen."""
        async for record in iter_to_end(self.settings, self.topic):
            self.apply(record)
        self.loaded = True
        self.ready.set()
        return len(self.view)

    async def follow(self) -> None:
        """Apply every total after those :meth:`load` read, forever."""
        async for record in follow_topic(self.settings, self.topic, self._next, "tiendo-alert-national"):
            self.apply(record)

    def apply(self, record: ConsumerRecord) -> bool:
        """Fold one totals record in (a tombstone or an unusable total is skipped); whether a reading changed."""
        self._next[record.partition] = record.offset + 1
        if record.value is None:
            return False
        try:
            total = orjson.loads(record.value)
            if self.event_clock:
                arrived = datetime.fromisoformat(total["last_as_of"]).astimezone(VN_TZ).date()
            else:
                arrived = datetime.fromtimestamp(record.timestamp / 1000, UTC).astimezone(VN_TZ).date()
            return self.view.apply(total, arrived)
        except (ValueError, KeyError, TypeError, ArithmeticError):
            log.warning("bad_total_skipped", key=record.key, partition=record.partition, offset=record.offset)
            return False
