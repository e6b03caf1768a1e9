"""A fake Kafka producer for the stages' unit tests: it records every message sent, and can fail a topic's
acknowledgements."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field, replace
from types import SimpleNamespace

from aiokafka.errors import KafkaTimeoutError
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

from shared.kafkaclients import MAX_REQUEST_BYTES

_offsets = itertools.count()


@dataclass
class Meta:
    """What an acknowledgement carries (``RecordMetadata``'s fields the stages read)."""

    topic: str
    partition: int
    offset: int
    timestamp: int

    def _replace(self, **changes: int) -> Meta:
        return replace(self, **changes)


@dataclass
class FakeProducer:
    """aiokafka's batch API as ``send_all`` uses it, without a broker: records every message of every submitted
    batch as ``(topic, key, value, partition)`` (each topic has ``partitions``); ``fail_on`` makes the
    acknowledgement of batches to that topic fail, as a broker that does not answer would."""

    fail_on: str | None = None
    partitions: int = 8
    sent: list[tuple[str, bytes | None, bytes | None, int | None]] = field(default_factory=list)
    _max_request_size: int = MAX_REQUEST_BYTES

    @property
    def client(self) -> SimpleNamespace:
        return SimpleNamespace(cluster=SimpleNamespace(available_partitions_for_topic=lambda _: set()))

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(256 * 1024, 0)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> asyncio.Future[Meta]:
        future: asyncio.Future[Meta] = asyncio.get_running_loop().create_future()
        if topic == self.fail_on:
            future.set_exception(KafkaTimeoutError())
            return future
        records = list(DefaultRecordBatch(bytes(batch._build())))
        base = next(_offsets)
        for _ in records[1:]:
            next(_offsets)
        self.sent += [(topic, r.key, r.value, partition) for r in records]
        future.set_result(Meta(topic, partition, base, -1))
        return future

    def to(self, topic: str) -> list[bytes]:
        """The values sent to ``topic``, in order."""
        return [value for t, _, value, _ in self.sent if t == topic and value is not None]
