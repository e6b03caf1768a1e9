"""Every topic tiendo uses, declared once (name, partitions, cleanup policy), and the code creating them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.config import KafkaSettings

#: Feed topics are named by their publishers: ``feed.<slug or code>``.
FEED_PATTERN = r"feed\..*"
FEED_PREFIX = "feed."
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic as the project declares it."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def compacted(self) -> bool:
        return self.config.get("cleanup.policy") == "compact"


UPDATES = TopicSpec(
    "indicator.updates", 4, description="Normalised, deduplicated updates; key: province code + indicator."
)
DLQ = TopicSpec(
    "indicator.dlq",
    1,
    {"retention.ms": str(90 * 24 * 3600 * 1000)},
    "Rejected feed events: original bytes, source position, reason code and sentence.",
)
TOTALS = TopicSpec(
    "indicator.totals",
    4,
    {"cleanup.policy": "compact"},
    "Latest quarterly total per province/indicator/year/quarter (compacted).",
)
PLANS = TopicSpec("plans", 1, {"cleanup.policy": "compact"}, "Plans in force; key: province/indicator/year/basis.")
ALERTS = TopicSpec(
    "alerts", 1, {"retention.ms": str(400 * 24 * 3600 * 1000)}, "Alert history: every firing and resolve."
)

DEDUPE = TopicSpec(
    "tiendo-ingest-dedupe",
    1,
    {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": str(24 * 3600 * 1000)},
    "Ingest's dedupe state: event identity → highest revision and the day last seen (compacted).",
)

SERIES_CHANGELOG = TopicSpec(
    "tiendo-aggregate-series-changelog",
    UPDATES.partitions,  # co-partitioned: partition p holds the states of the series read from updates partition p
    {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": str(24 * 3600 * 1000)},
    "The aggregate worker's series states: key unit|indicator|year → state (compacted; rebuilds its RocksDB).",
)

#: The project's own topics, in pipeline order.
PROJECT_TOPICS: tuple[TopicSpec, ...] = (UPDATES, DLQ, TOTALS, PLANS, ALERTS, DEDUPE, SERIES_CHANGELOG)


def feed_topic(name: str, partitions: int = 1) -> TopicSpec:
    """A publisher's feed topic, ``feed.<name>``."""
    topic = name if name.startswith(FEED_PREFIX) else FEED_PREFIX + name
    if not _TOPIC_NAME.match(topic):
        raise ValueError(f"invalid topic name {topic!r}: use letters, digits, '.', '_' or '-'")
    return TopicSpec(topic, partitions, description="A provincial feed.")


class TopicError(RuntimeError):
    """The broker refused to create a topic."""


async def ensure_topics(settings: KafkaSettings, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics (in the settings' namespace) that do not exist yet; return the names created. Idempotent.

    Feed topics belong to their publishers and are never namespaced: pass them with an empty-namespace settings.
    """
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if settings.topic(s.name) not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [NewTopic(settings.topic(s.name), s.partitions, 1, topic_configs=dict(s.config)) for s in missing]
        )
        created = []
        for name, code, message, *_ in response.topic_errors:
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:
                raise TopicError(f"creating topic {name!r} failed (Kafka error {code}): {message}")
        return created
    finally:
        await admin.close()
