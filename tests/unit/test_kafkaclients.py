"""The Kafka client factory's settings and ``send_all``, without a broker."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch
from aiokafka.structs import RecordMetadata, TopicPartition

from shared import kafkaclients
from shared.config import KafkaSettings
from shared.faustapp import WorkerSettings


class FakeProducer:
    """aiokafka's batch API over real ``BatchBuilder``s, without a broker: ``partitions`` per topic, batches
    of ``batch_size`` bytes, each acknowledged at the next offset of its partition; the ``fail``-th submitted batch's
    acknowledgement fails, the ``refuse``-th submission raises."""

    def __init__(
        self, partitions: dict[str, int], batch_size: int = 16384, fail: int | None = None, refuse: int | None = None
    ) -> None:
        self.partitions, self.batch_size, self.fail, self.refuse = partitions, batch_size, fail, refuse
        self._max_request_size = kafkaclients.MAX_REQUEST_BYTES
        self.client = SimpleNamespace(
            cluster=SimpleNamespace(available_partitions_for_topic=lambda t: set(range(self.partitions[t])))
        )
        self.batches: list[tuple[str, int, list[tuple[bytes | None, bytes | None]]]] = []
        self.acks: list[asyncio.Future[Any]] = []
        self.next_offset: dict[tuple[str, int], int] = {}

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions[topic]))

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> asyncio.Future[Any]:
        if len(self.acks) == self.refuse:
            raise KafkaTimeoutError()
        assert batch.closed(), "submitted batches are closed (sent without lingering)"
        records = [(r.key, r.value) for r in DefaultRecordBatch(bytes(batch._build()))]
        base = self.next_offset.get((topic, partition), 0)
        self.next_offset[topic, partition] = base + len(records)
        self.batches.append((topic, partition, records))
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if len(self.acks) == self.fail:
            asyncio.get_running_loop().call_later(0.01, ack.set_exception, KafkaTimeoutError())
        else:
            tp = TopicPartition(topic, partition)
            meta = RecordMetadata(topic, partition, tp, base, -1, 0, 0)
            asyncio.get_running_loop().call_later(0.02 - len(self.acks) * 0.001, ack.set_result, meta)
        self.acks.append(ack)
        return ack


async def test_send_all_one_topic_returns_metadata_in_sending_order() -> None:
    producer = FakeProducer({"t": 1})
    acked = await kafkaclients.send_all(producer, "t", [(b"k1", b"v1"), (None, b"v2")])  # type: ignore[arg-type]
    assert [(m.topic, m.partition, m.offset) for m in acked] == [("t", 0, 0), ("t", 0, 1)]
    assert producer.batches == [("t", 0, [(b"k1", b"v1"), (None, b"v2")])]  # one batch
    assert all(m.timestamp > 0 for m in acked)  # create time: the message's own, not the batch's -1


async def test_send_all_places_keys_as_the_producers_partitioner_and_honours_given_partitions() -> None:
    producer = FakeProducer({"a": 3, "b": 5})
    keys = [b"vn-%d" % i for i in range(40)]
    acked = await kafkaclients.send_all(
        producer,  # type: ignore[arg-type]
        [*(("b", k, b"v") for k in keys), ("a", b"k", b"v", 2), ("a", None, None, 0)],
    )
    default = DefaultPartitioner()
    assert [m.partition for m in acked[:40]] == [default(k, [0, 1, 2, 3, 4], []) for k in keys]
    assert [(m.topic, m.partition) for m in acked[40:]] == [("a", 2), ("a", 0)]
    assert len(producer.batches) == len({m.partition for m in acked[:40]}) + 2  # one batch per partition
    with pytest.raises(ValueError, match="a has no partition 3"):
        await kafkaclients.send_all(producer, [("a", b"k", b"v", 3)])  # type: ignore[arg-type]


async def test_send_all_sends_unkeyed_messages_to_one_available_partition_per_call() -> None:
    producer = FakeProducer({"t": 4})
    acked = await kafkaclients.send_all(producer, "t", [(None, b"%d" % i) for i in range(20)])  # type: ignore[arg-type]
    assert len({m.partition for m in acked}) == 1 and len(producer.batches) == 1


async def test_send_all_splits_full_batches_in_order_and_a_large_message_gets_its_own() -> None:
    producer = FakeProducer({"t": 2}, batch_size=1024)
    values = [b"%04d" % i + b"x" * 96 for i in range(50)]
    values[20] = b"L" * 5000  # larger than a batch
    messages = [(b"same-key", v) for v in values]
    acked = await kafkaclients.send_all(producer, "t", messages)  # type: ignore[arg-type]
    assert [m.offset for m in acked] == list(range(50))  # consecutive, in sending order, across batches
    assert len(producer.batches) > 4 and producer.batches[0][2] != [(None, None)]
    assert [v for _, _, records in producer.batches for _, v in records] == values
    assert ("t", acked[0].partition, [(b"same-key", values[20])]) in producer.batches


async def test_send_all_refuses_a_message_too_large_for_a_request_before_sending_anything() -> None:
    producer = FakeProducer({"t": 1})
    too_large = b"x" * (kafkaclients.MAX_REQUEST_BYTES + 1)
    with pytest.raises(MessageSizeTooLargeError, match="exceeds the request size limit"):
        await kafkaclients.send_all(producer, "t", [(None, b"small"), (None, too_large)])  # type: ignore[arg-type]
    assert producer.batches == []


async def test_send_all_raises_the_first_error_after_every_batch_settled() -> None:
    producer = FakeProducer({"t": 3}, fail=1)
    with pytest.raises(KafkaTimeoutError):
        await kafkaclients.send_all(producer, "t", [(b"k%d" % i, b"v") for i in range(30)])  # type: ignore[arg-type]
    assert len(producer.acks) == 3 and all(f.done() for f in producer.acks)


async def test_send_all_waits_for_submitted_batches_when_a_submission_is_refused() -> None:
    producer = FakeProducer({"t": 1}, batch_size=200, refuse=2)
    with pytest.raises(KafkaTimeoutError):
        await kafkaclients.send_all(producer, "t", [(None, b"x" * 100)] * 6)  # type: ignore[arg-type]
    assert len(producer.acks) == 2 and all(f.done() for f in producer.acks)


async def test_producer_defaults_and_overrides() -> None:
    producer = kafkaclients.producer(KafkaSettings(), "me", linger_ms=20)
    assert producer.client._client_id == "me"
    accumulator = producer._message_accumulator
    assert accumulator._batch_size == 256 * 1024 and accumulator._linger_time == 0.02
    assert producer._max_request_size == kafkaclients.MAX_REQUEST_BYTES
    assert producer._sender._acks == -1 and producer._txn_manager is not None  # acks=all, idempotent
    await producer.stop()


async def test_worker_group_consumer_has_static_membership_and_worker_timeouts() -> None:
    settings = WorkerSettings(namespace="ns.", session_timeout_s=6, instance_id="w-1", metadata_max_age_ms=2000)
    consumer = kafkaclients.consumer(settings, "c", group="g")
    assert consumer._group_id == "ns.g" and consumer._group_instance_id == "w-1"
    assert consumer._session_timeout_ms == 6000 and consumer._heartbeat_interval_ms == 2000
    assert consumer._client._metadata_max_age_ms == 2000
    assert consumer._enable_auto_commit is False and consumer._auto_offset_reset == "earliest"
    await consumer.stop()


async def test_plain_consumer_has_no_group_and_no_static_membership() -> None:
    consumer = kafkaclients.consumer(KafkaSettings(namespace="ns."), "reader")
    assert consumer._group_id is None and consumer._group_instance_id is None
    assert consumer._enable_auto_commit is False
    await consumer.stop()
