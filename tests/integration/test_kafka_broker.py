"""The session broker is real Apache Kafka: produce/consume, topic creation, configs."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.config import KafkaSettings
from shared.topics import PLANS, PROJECT_TOPICS, TopicSpec, ensure_topics

pytestmark = pytest.mark.kafka


async def test_produce_consume_round_trip(kafka_settings: KafkaSettings, make_topics, unique: str) -> None:
    topic = f"roundtrip.{unique}"
    await make_topics(TopicSpec(topic, 2))
    producer = AIOKafkaProducer(**kafka_settings.client_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(100):
            await producer.send(topic, key=str(i % 7).encode(), value=f"v{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, **kafka_settings.client_kwargs(), auto_offset_reset="earliest", group_id=f"g-{unique}"
    )
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


async def test_project_topics_created_idempotently_with_their_configs(kafka_settings: KafkaSettings) -> None:
    await ensure_topics(kafka_settings, PROJECT_TOPICS)
    assert await ensure_topics(kafka_settings, PROJECT_TOPICS) == []
    admin = AIOKafkaAdminClient(**kafka_settings.client_kwargs())
    await admin.start()
    try:
        described = await admin.describe_topics([t.name for t in PROJECT_TOPICS])
        partitions = {d["topic"]: len(d["partitions"]) for d in described}
        assert partitions == {t.name: t.partitions for t in PROJECT_TOPICS}
        [configs] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, PLANS.name)])
        values = {c[0]: c[1] for c in configs.resources[0][4]}
        assert values["cleanup.policy"] == "compact"
    finally:
        await admin.close()
