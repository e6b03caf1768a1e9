"""Every topic tiendo uses, declared once (name, partitions, cleanup policy), and the code creating them and checking
existing ones against their declaration."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from shared import kafkaclients
from shared.config import KafkaSettings
from shared.logs import get_logger

log = get_logger("tiendo.topics")

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

    def topic_configs(self, settings: KafkaSettings) -> dict[str, str]:
        """The topic's configs as created: its own and the settings' ``min.insync.replicas``."""
        return {"min.insync.replicas": str(settings.min_isr), **self.config}


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

ALERT_STATE = TopicSpec(
    "tiendo-alert-state",
    TOTALS.partitions,  # co-partitioned: partition p holds the figures and alert states of totals partition p
    {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": str(24 * 3600 * 1000)},
    "The alert worker's state: f|<series> → year-to-date figures, a|<alert id> → alert state (compacted).",
)

#: The project's own topics, in pipeline order.
PROJECT_TOPICS: tuple[TopicSpec, ...] = (UPDATES, DLQ, TOTALS, PLANS, ALERTS, DEDUPE, SERIES_CHANGELOG, ALERT_STATE)


def feed_topic(name: str, partitions: int = 1) -> TopicSpec:
    """A publisher's feed topic, ``feed.<name>``."""
    topic = name if name.startswith(FEED_PREFIX) else FEED_PREFIX + name
    if not _TOPIC_NAME.match(topic):
        raise ValueError(f"invalid topic name {topic!r}: use letters, digits, '.', '_' or '-'")
    return TopicSpec(topic, partitions, description="A provincial feed.")


class TopicError(RuntimeError):
    """The broker refused to create a topic, or an existing topic would lose data as it is configured."""


@dataclass(frozen=True, slots=True)
class TopicState:
    """An existing topic as the broker describes it: ``config`` holds every effective config, defaults included."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One way an existing topic differs from its spec; ``loses_data``: keeping it so would lose records."""

    what: str
    expected: str
    actual: str
    loses_data: bool = False

    def __str__(self) -> str:
        return f"{self.what} is {self.actual}, expected {self.expected}"


def _policies(config: dict[str, str]) -> set[str]:
    return {p.strip() for p in config.get("cleanup.policy", "delete").split(",")}


def compare(spec: TopicSpec, settings: KafkaSettings, state: TopicState) -> list[Mismatch]:
    """How ``state`` differs from ``spec`` created with ``settings``.

    Losing data: a compacted (state) topic that also deletes by time with a finite retention drops live states;
    a delete (event) topic that is compacted drops every event but the last of each key. Other differences
    (partitions, replication factor, min.insync.replicas, retention) are reported but harmless to the records.
    """
    expected = spec.topic_configs(settings)
    mismatches: list[Mismatch] = []
    if state.partitions != spec.partitions:
        mismatches.append(Mismatch("partitions", str(spec.partitions), str(state.partitions)))
    if state.replication_factor != settings.replication_factor:
        mismatches.append(
            Mismatch("replication factor", str(settings.replication_factor), str(state.replication_factor))
        )
    want, have = _policies(expected), _policies(state.config)
    if want != have:
        retention = state.config.get("retention.ms", "")
        loses = ("compact" in want and "delete" in have and retention != "-1") or (
            "compact" not in want and "compact" in have
        )
        actual = ",".join(sorted(have)) + (f" (retention.ms {retention})" if "delete" in have else "")
        mismatches.append(Mismatch("cleanup.policy", ",".join(sorted(want)), actual, loses))
    for name, value in expected.items():
        if name != "cleanup.policy" and state.config.get(name) != value:
            mismatches.append(Mismatch(name, value, state.config.get(name, "unset")))
    return mismatches


async def _describe(admin: AIOKafkaAdminClient, names: list[str]) -> list[TopicState]:
    """The topics the broker can describe fully (a topic created a moment ago may not be yet: it is left out)."""
    described = await admin.describe_topics(names)
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
    configs = {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}
        for response in responses
        for resource in response.resources
        if resource[0] == 0
    }
    return [
        TopicState(
            d["topic"], len(d["partitions"]), min(len(p["replicas"]) for p in d["partitions"]), configs[d["topic"]]
        )
        for d in described
        if d["error_code"] == 0 and d["partitions"] and d["topic"] in configs
    ]


async def ensure_topics(settings: KafkaSettings, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics (in the settings' namespace) that do not exist yet; return the names created. Idempotent.

    Existing topics are checked against their specs: each difference is logged as a warning (``topic_mismatch``),
    and a topic that would lose data as configured raises :class:`TopicError` after every one is logged.
    Feed topics belong to their publishers and are never namespaced: pass them with an empty-namespace settings.
    """
    by_name = {settings.topic(s.name): s for s in specs}
    admin = kafkaclients.admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics()) & by_name.keys()
        created: list[str] = []
        if missing := [name for name in by_name if name not in existing]:
            response = await admin.create_topics(
                [
                    NewTopic(
                        name,
                        by_name[name].partitions,
                        settings.replication_factor,
                        topic_configs=by_name[name].topic_configs(settings),
                    )
                    for name in missing
                ]
            )
            for name, code, message, *_ in response.topic_errors:
                if code == 0:
                    created.append(name)
                elif code == TopicAlreadyExistsError.errno:  # created meanwhile, or not yet in the metadata
                    existing.add(name)
                else:
                    raise TopicError(f"creating topic {name!r} failed (Kafka error {code}): {message}")
        if existing:
            _check(settings, by_name, await _describe(admin, sorted(existing)))
        return created
    finally:
        await admin.close()


def _check(settings: KafkaSettings, specs: dict[str, TopicSpec], states: list[TopicState]) -> None:
    losing = []
    for state in states:
        for mismatch in compare(specs[state.name], settings, state):
            event = "topic_loses_data" if mismatch.loses_data else "topic_mismatch"
            (log.error if mismatch.loses_data else log.warning)(
                event, topic=state.name, differs=mismatch.what, expected=mismatch.expected, actual=mismatch.actual
            )
            if mismatch.loses_data:
                losing.append(f"{state.name}: {mismatch}")
    if losing:
        raise TopicError(
            "existing topics would lose data as configured (fix with kafka-configs.sh --alter): " + "; ".join(losing)
        )
