"""The session broker is real Apache Kafka: produce/consume, topic creation, configs, checks of existing topics."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from structlog.testing import capture_logs

from shared import kafkaclients
from shared.config import KafkaSettings
from shared.topics import PLANS, PROJECT_TOPICS, TopicError, TopicSpec, ensure_topics

pytestmark = pytest.mark.kafka


async def test_produce_consume_round_trip(kafka_settings: KafkaSettings, make_topics, unique: str) -> None:
    topic = f"roundtrip.{unique}"
    await make_topics(TopicSpec(topic, 2))
    producer = kafkaclients.producer(kafka_settings, "test")
    await producer.start()
    try:
        acked = await kafkaclients.send_all(
            producer, topic, [(str(i % 7).encode(), f"v{i}".encode()) for i in range(100)]
        )
    finally:
        await producer.stop()
    assert len(acked) == 100 and {m.topic for m in acked} == {topic}
    consumer = kafkaclients.consumer(kafka_settings, "test", group=f"g-{unique}")
    consumer.subscribe([topic])
    await consumer.start()
    try:
        seen: list[bytes] = []
        while len(seen) < 100:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, "no messages within 5 s"
            seen += [m.value for msgs in batch.values() for m in msgs]
    finally:
        await consumer.stop()
    assert sorted(seen) == sorted(f"v{i}".encode() for i in range(100))


async def test_send_all_batches_land_where_and_in_the_order_a_per_message_send_would(
    kafka_settings: KafkaSettings, make_topics, unique: str
) -> None:
    """Keyed messages in murmur2 partitions (as ``producer.send`` places them), offsets as acknowledged, in order,
    a message larger than a batch in one of its own, inside a transaction; and no linger waited for."""
    topic = f"batches.{unique}"
    await make_topics(TopicSpec(topic, 3))
    values = [b"%05d" % i + b"." * 200 for i in range(3000)]
    values[1234] = b"L" * (600 * 1024)  # more than twice the producer's batch size
    messages = [(b"series-%d" % (i % 11), v) for i, v in enumerate(values)]
    producer = kafkaclients.transactional_producer(kafka_settings, "test", f"batches-{unique}")
    lingering = kafkaclients.producer(kafka_settings, "test-lingering", linger_ms=60_000)
    await producer.start()
    await lingering.start()
    try:
        async with producer.transaction():
            acked = await kafkaclients.send_all(producer, topic, messages)
        sent_alone = await asyncio.wait_for(kafkaclients.send_all(lingering, topic, [(None, b"x")]), 20)
    finally:
        await producer.stop()
        await lingering.stop()
    reference = kafkaclients.producer(kafka_settings, "test-reference")
    await reference.start()
    try:
        placed = await asyncio.gather(*[await reference.send(topic, b"probe", key=key) for key, _ in messages[:11]])
    finally:
        await reference.stop()
    assert [m.partition for m in acked[:11]] == [m.partition for m in placed]
    assert len(sent_alone) == 1  # a 60 s linger was not waited for
    consumer = kafkaclients.consumer(kafka_settings, "test")
    consumer.subscribe([topic])
    await consumer.start()
    try:
        read: dict[tuple[int, int], tuple[bytes, bytes]] = {}
        while len(read) < len(messages):
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, "no messages within 5 s"
            read |= {(m.partition, m.offset): (m.key, m.value) for msgs in batch.values() for m in msgs}
    finally:
        await consumer.stop()
    assert [read[m.partition, m.offset] for m in acked] == messages  # every acknowledgement names its own message


async def test_project_topics_created_idempotently_with_their_configs(kafka_settings: KafkaSettings) -> None:
    await ensure_topics(kafka_settings, PROJECT_TOPICS)
    assert await ensure_topics(kafka_settings, PROJECT_TOPICS) == []
    admin = kafkaclients.admin(kafka_settings)
    await admin.start()
    try:
        described = await admin.describe_topics([t.name for t in PROJECT_TOPICS])
        partitions = {d["topic"]: len(d["partitions"]) for d in described}
        assert partitions == {t.name: t.partitions for t in PROJECT_TOPICS}
        [configs] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, PLANS.name)])
        values = {c[0]: c[1] for c in configs.resources[0][4]}
        assert values["cleanup.policy"] == "compact"
        assert values["min.insync.replicas"] == "1"
    finally:
        await admin.close()


async def described(settings: KafkaSettings, *names: str) -> None:
    """Wait until the broker describes the new topics (their metadata reaches the broker a moment after creation)."""
    admin = kafkaclients.admin(settings)
    await admin.start()
    try:
        for _ in range(100):
            topics = await admin.describe_topics(list(names))
            if all(t["error_code"] == 0 and t["partitions"] for t in topics):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{names} not described within 10 s")
    finally:
        await admin.close()


async def test_existing_topics_that_differ_from_their_spec_are_reported(
    kafka_settings: KafkaSettings, unique: str
) -> None:
    state = TopicSpec(f"state.{unique}", 2, {"cleanup.policy": "compact", "segment.ms": "86400000"})
    events = TopicSpec(f"events.{unique}", 1, {"retention.ms": "7200000"})
    await ensure_topics(kafka_settings, [state, events])
    await described(kafka_settings, state.name, events.name)
    with capture_logs() as logs:
        assert await ensure_topics(kafka_settings, [state, events]) == []
    assert logs == []

    wider = TopicSpec(state.name, 3, {**state.config, "segment.ms": "3600000"})
    longer = TopicSpec(events.name, 1, {"retention.ms": "86400000"})
    with capture_logs() as logs:
        await ensure_topics(kafka_settings, [wider, longer])
    assert {(e["log_level"], e["event"], e["topic"], e["differs"], e["actual"]) for e in logs} == {
        ("warning", "topic_mismatch", state.name, "partitions", "2"),
        ("warning", "topic_mismatch", state.name, "segment.ms", "86400000"),
        ("warning", "topic_mismatch", events.name, "retention.ms", "7200000"),
    }

    compacted = TopicSpec(events.name, 1, {"cleanup.policy": "compact"})
    with (
        capture_logs() as logs,
        pytest.raises(TopicError, match=rf"{events.name}: cleanup.policy is delete \(retention"),
    ):
        await ensure_topics(kafka_settings, [compacted])
    assert [(e["log_level"], e["event"], e["differs"]) for e in logs] == [
        ("error", "topic_loses_data", "cleanup.policy")
    ]
