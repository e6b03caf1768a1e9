"""The Kafka client factory's settings and ``send_all``, without a broker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from shared import kafkaclients
from shared.config import KafkaSettings
from shared.faustapp import WorkerSettings


class FakeProducer:
    """Records sends; the ``fail`` index's acknowledgement fails, the ``refuse`` index's send raises."""

    def __init__(self, fail: int | None = None, refuse: int | None = None) -> None:
        self.sent: list[tuple[str, Any, Any, Any]] = []
        self.futures: list[asyncio.Future[Any]] = []
        self.fail, self.refuse = fail, refuse

    async def send(self, topic: str, value: Any, key: Any = None, partition: Any = None) -> asyncio.Future[Any]:
        index = len(self.sent)
        if index == self.refuse:
            raise MessageSizeTooLargeError()
        self.sent.append((topic, key, value, partition))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        loop = asyncio.get_running_loop()
        if index == self.fail:
            loop.call_later(0.01, future.set_exception, KafkaTimeoutError())
        else:
            loop.call_later(0.02 - index * 0.001, future.set_result, (topic, index))
        self.futures.append(future)
        return future


async def test_send_all_one_topic_returns_metadata_in_order() -> None:
    producer = FakeProducer()
    acked = await kafkaclients.send_all(producer, "t", [(b"k1", b"v1"), (None, b"v2")])  # type: ignore[arg-type]
    assert acked == [("t", 0), ("t", 1)]
    assert producer.sent == [("t", b"k1", b"v1", None), ("t", None, b"v2", None)]


async def test_send_all_messages_with_partitions() -> None:
    producer = FakeProducer()
    await kafkaclients.send_all(producer, [("a", b"k", b"v", 2), ("b", None, None)])  # type: ignore[arg-type]
    assert producer.sent == [("a", b"k", b"v", 2), ("b", None, None, None)]


async def test_send_all_raises_the_first_error_after_every_send_settled() -> None:
    producer = FakeProducer(fail=1)
    with pytest.raises(KafkaTimeoutError):
        await kafkaclients.send_all(producer, "t", [(None, b"%d" % i) for i in range(4)])  # type: ignore[arg-type]
    assert all(f.done() for f in producer.futures)


async def test_send_all_waits_for_earlier_sends_when_a_send_is_refused() -> None:
    producer = FakeProducer(refuse=2)
    with pytest.raises(MessageSizeTooLargeError):
        await kafkaclients.send_all(producer, "t", [(None, b"x")] * 4)  # type: ignore[arg-type]
    assert len(producer.futures) == 2 and all(f.done() for f in producer.futures)


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
