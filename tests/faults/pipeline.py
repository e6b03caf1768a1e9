"""What the fault tests share: feed events with a known outcome, an oracle, the workers of one namespace, and the
checks that every published feed offset is accounted for and the totals equal the oracle.

Feed events are delta-mode only, with explicit province codes (units whose uid is their code in 2022-2024) and
dates, so the oracle is a plain sum: the final revision of each ``(feed topic, event_id)``, per (unit, indicator,
year, quarter). Every message is keyed by its event id, so all copies and revisions of an event sit in one
partition, in publication order: which copy ingest accepts (the first of each revision above the highest seen)
is known in advance, and so is the outcome of every published offset.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from shared import kafkaclients
from shared.config import KafkaSettings
from shared.consuming import AGGREGATE_GROUP, INGEST_GROUP
from shared.deadletter import DeadLetter
from shared.normalise import Reason
from shared.topics import ALERTS, DLQ, PLANS, TOTALS, UPDATES, TopicSpec, ensure_topics
from shared.updates import Retraction, decode_message
from tests.conftest import free_port
from tests.workers import Worker

#: Units whose uid is their code from 2022 to 2024 (before the 2025 merger).
UNITS = ("01", "20", "24", "27", "31", "38", "48", "66", "79", "92")
#: (indicator, feed unit, factor to the indicator's base unit)
INDICATORS = (
    ("new_jobs", "người", 1),
    ("new_enterprises", "doanh nghiệp", 1),
    ("state_budget_revenue", "tỷ đồng", 10**9),
    ("site_clearance_area", "ha", 1),
)
YEARS = (2022, 2023, 2024)
SOURCE = "fault-suite"

Origin = tuple[str, int, int]  # feed topic, partition, offset
Figures = dict[tuple[str, str, int, int], tuple[Decimal, Decimal, int]]


def feed_body(
    event_id: str, province: str, indicator: str, unit: str, *, as_of: str, value: object, **kw: object
) -> dict[str, object]:
    """A delta-mode feed event (schema v1) as a dict; ``kw`` adds or replaces fields."""
    return {
        "event_id": event_id,
        "province": province,
        "indicator": indicator,
        "as_of": as_of,
        "value": value,
        "unit": unit,
        "mode": "delta",
        "source": SOURCE,
        **kw,
    }


def _bad(event_id: str, kind: int) -> tuple[bytes, str]:
    """One invalid feed event (the ``kind``-th sort) and the reason ingest must give."""
    good = feed_body(event_id, "24", "new_jobs", "người", as_of="2024-05-20", value=7)
    variants: list[tuple[object, str]] = [
        (b'{"event_id": "' + event_id.encode() + b'", "province": ', Reason.NOT_JSON),
        ([1, 2, event_id], Reason.NOT_AN_OBJECT),
        ({k: v for k, v in good.items() if k != "value"}, Reason.MISSING_FIELD),
        ({**good, "value": True}, Reason.WRONG_TYPE),
        ({**good, "indicator": "gdp_happiness"}, Reason.UNKNOWN_INDICATOR),
        ({**good, "province": "Bac Nimh"}, Reason.UNKNOWN_PROVINCE),
        ({**good, "as_of": "1999-12-31"}, Reason.IMPOSSIBLE_DATE),
        ({**good, "unit": "gallons"}, Reason.UNKNOWN_UNIT),
        ({**good, "unit": "ha"}, Reason.UNIT_MISMATCH),
        ({**good, "value": -5}, Reason.NEGATIVE_VALUE),
        ({**good, "value": "four"}, Reason.INVALID_NUMBER),
    ]
    body, reason = variants[kind % len(variants)]
    return (body if isinstance(body, bytes) else orjson.dumps(body)), str(reason)


@dataclass(frozen=True, slots=True)
class Message:
    """One feed message to publish, with what the pipeline must make of it."""

    topic: str
    key: bytes
    value: bytes | None
    kind: str  # new, correction, duplicate (an exact re-send) or bad
    event_id: str
    revision: int = 0
    series: tuple[str, str, int, int] | None = None  # unit, indicator, year, quarter (valid events)
    amount: Decimal = Decimal(0)  # in the indicator's base unit
    reason: str | None = None  # bad events: the dead-letter reason

    @property
    def identity(self) -> tuple[str, str]:
        return self.topic, self.event_id


def _random_day(rng: random.Random, year: int, not_quarter: int | None = None) -> date:
    while True:
        day = date(year, 1, 1) + timedelta(days=rng.randrange(365))
        if (day.month - 1) // 3 + 1 != not_quarter:
            return day


def _valid(
    topic: str, event_id: str, code: str, indicator: int, *, day: date, value: int, revision: int, kind: str
) -> Message:
    name, unit, factor = INDICATORS[indicator]
    body = feed_body(event_id, code, name, unit, as_of=day.isoformat(), value=value, revision=revision)
    return Message(
        topic,
        event_id.encode(),
        orjson.dumps(body),
        kind,
        event_id,
        revision,
        (code, name, day.year, (day.month - 1) // 3 + 1),
        Decimal(value) * factor,
    )


def generate(
    rng: random.Random,
    n: int,
    topics: Sequence[str],
    *,
    duplicates: float = 0.03,
    corrections: float = 0.01,
    bad: float = 0.01,
    prefix: str = "e",
) -> list[Message]:
    """``n`` feed messages: ~3% exact re-sends of earlier valid ones, ~1% corrections (revision 1 of an earlier
    event, another value, four in five of them moved to another quarter, year, unit or indicator: another series
    but the first), ~1% invalid events; the rest new events spread over 10 units x 4 indicators x 3 years (120
    series)."""
    out: list[Message] = []
    valid: list[Message] = []
    uncorrected: list[Message] = []
    bad_kind = 0
    for i in range(n):
        r = rng.random()
        if r < duplicates and valid:
            out.append(replace(rng.choice(valid), kind="duplicate"))
            continue
        if r < duplicates + corrections and uncorrected:
            old = uncorrected.pop(rng.randrange(len(uncorrected)))
            code, name, year, quarter = old.series  # type: ignore[misc]
            indicator = [x[0] for x in INDICATORS].index(name)
            day = date.fromisoformat(orjson.loads(old.value)["as_of"])
            move = rng.randrange(5)  # the value only, or another quarter, year, unit or indicator too
            if move == 1:
                day = _random_day(rng, year, not_quarter=quarter)
            elif move == 2:
                day = _random_day(rng, rng.choice([y for y in YEARS if y != year]))
            elif move == 3:
                code = rng.choice([u for u in UNITS if u != code])
            elif move == 4:
                indicator = rng.choice([i for i in range(len(INDICATORS)) if i != indicator])
            value = int(orjson.loads(old.value)["value"]) + rng.randint(1, 500)
            msg = _valid(old.topic, old.event_id, code, indicator, day=day, value=value, revision=1, kind="correction")
        elif r < duplicates + corrections + bad:
            event_id = f"{prefix}bad{i}"
            value, reason = _bad(event_id, bad_kind)
            bad_kind += 1
            out.append(Message(rng.choice(topics), event_id.encode(), value, "bad", event_id, reason=reason))
            continue
        else:
            year = rng.choice(YEARS)
            msg = _valid(
                rng.choice(topics),
                f"{prefix}{i}",
                rng.choice(UNITS),
                rng.randrange(len(INDICATORS)),
                day=_random_day(rng, year),
                value=rng.randint(1, 1000),
                revision=0,
                kind="new",
            )
            uncorrected.append(msg)
        out.append(msg)
        valid.append(msg)
    return out


def oracle(messages: Iterable[Message]) -> Figures:
    """Unit-view totals straight from the input: the final revision of each (feed topic, event id), summed per
    quarter; quarters from Q1 to the last one with events, an empty one in between as (0, carried ytd, 0)."""
    final: dict[tuple[str, str], Message] = {}
    for m in messages:
        if m.series is not None and (m.identity not in final or m.revision > final[m.identity].revision):
            final[m.identity] = m
    sums: dict[tuple[str, str, int], dict[int, list]] = defaultdict(lambda: {q: [Decimal(0), 0] for q in (1, 2, 3, 4)})
    for m in final.values():
        unit, indicator, year, quarter = m.series  # type: ignore[misc]
        cell = sums[(unit, indicator, year)][quarter]
        cell[0] += m.amount
        cell[1] += 1
    out: Figures = {}
    for (unit, indicator, year), by_quarter in sums.items():
        last = max(q for q, (_, n) in by_quarter.items() if n)
        ytd = Decimal(0)
        for q in range(1, last + 1):
            value, n = by_quarter[q]
            ytd += value
            out[(unit, indicator, year, q)] = (value, ytd, n)
    return out


def expected_outcomes(messages: Sequence[Message], origins: Sequence[Origin]) -> dict[Origin, str]:
    """Published offset → ``accepted``, ``duplicate`` or the dead-letter reason, from the input alone.

    Copies and revisions of an event share its key, hence its partition and publication order, so ingest sees
    them in this order whatever the batching: a revision above the highest seen is accepted, the rest duplicates.
    """
    highest: dict[tuple[str, str], int] = {}
    out: dict[Origin, str] = {}
    for m, origin in zip(messages, origins, strict=True):
        if m.reason is not None:
            out[origin] = m.reason
        elif m.identity in highest and m.revision <= highest[m.identity]:
            out[origin] = "duplicate"
        else:
            highest[m.identity] = m.revision
            out[origin] = "accepted"
    return out


def figures(rows: Iterable[dict]) -> Figures:
    """(unit, indicator, year, quarter) → (value, ytd, events) from /totals rows, exact."""
    return {
        (r["unit"], r["indicator"], r["year"], r["quarter"]): (Decimal(r["value"]), Decimal(r["ytd"]), r["events"])
        for r in rows
    }


def differences(got: Figures, expected: Figures) -> str:
    """'' when equal, else how many quarters differ, with a few examples."""
    if got == expected:
        return ""
    wrong = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    extra = sorted(set(got) - set(expected))
    return (
        f"{len(wrong)} of {len(expected)} quarters differ (got, expected): {list(wrong.items())[:5]}; "
        f"{len(extra)} unexpected: {extra[:5]}"
    )


# --- Kafka --------------------------------------------------------------------------------------------------------


async def publish(
    settings: KafkaSettings, messages: Sequence[Message], *, slices: int = 1, pause: float = 0.0
) -> list[Origin]:
    """Publish in order (in ``slices`` parts with ``pause`` seconds between them); return each message's offset."""
    producer = kafkaclients.producer(settings, "faults-publish")
    await producer.start()
    origins: list[Origin] = []
    try:
        size = max(1, -(-len(messages) // slices))
        for start in range(0, len(messages), size):
            acked = await kafkaclients.send_all(
                producer, [(m.topic, m.key, m.value) for m in messages[start : start + size]]
            )
            origins += [(meta.topic, meta.partition, meta.offset) for meta in acked]
            if pause and start + size < len(messages):
                await asyncio.sleep(pause)
        return origins
    finally:
        await producer.stop()


async def partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition of the topics, from fresh cluster metadata."""
    cluster = await consumer._client.fetch_all_metadata()
    parts = [TopicPartition(t, p) for t in topics for p in sorted(cluster.partitions_for_topic(t) or ())]
    assert {tp.topic for tp in parts} == set(topics), f"topics missing: {set(topics) - {tp.topic for tp in parts}}"
    return parts


async def read_topic(settings: KafkaSettings, topic: str, timeout: float = 120) -> list[ConsumerRecord]:
    """Every record of ``topic`` from the beginning up to its end offsets at call time."""
    consumer = kafkaclients.consumer(settings, "faults-read", max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    try:
        parts = await partitions(consumer, [topic])
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline, f"{topic}: not read to its end in {timeout}s"
            for batch in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def committed_all(
    settings: KafkaSettings,
    group: str,
    topics: Sequence[str],
    timeout: float,
    on_timeout: Callable[[], str] = str,
) -> None:
    """Wait until ``group`` has committed the end of every partition of ``topics`` (ends re-read each round): its
    committed offset is the end, or only transaction markers lie between them (a transactional commit's offset is
    that of its commit marker)."""
    admin = kafkaclients.admin(settings)
    consumer = kafkaclients.consumer(settings, "faults-offsets")
    await admin.start()
    await consumer.start()
    try:
        parts = await partitions(consumer, topics)
        deadline = time.monotonic() + timeout
        while True:
            ends = await consumer.end_offsets(parts)
            try:
                done = await admin.list_consumer_group_offsets(group, partitions=parts)
            except Exception:  # the coordinator moving (e.g. right after a broker restart): ask again
                done = {}
            behind = {tp: (done[tp].offset if tp in done else None, ends[tp]) for tp in parts}
            behind = {tp: v for tp, v in behind.items() if ends[tp] > 0 and (v[0] is None or v[0] < ends[tp])}
            behind = {tp: v for tp, v in behind.items() if v[0] is None or await _records_after(consumer, tp, v[0])}
            if not behind:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{group} behind (committed, end): {behind}\n{on_timeout()}")
            await asyncio.sleep(1)
    finally:
        await consumer.stop()
        await admin.close()


async def _records_after(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> bool:
    """Whether committed records follow ``offset`` in ``tp`` (markers are no records)."""
    consumer.assign([tp])
    consumer.seek(tp, offset)
    end = (await consumer.end_offsets([tp]))[tp]
    for _ in range(20):  # a position that does not reach the end in 10 s: counted as behind
        if await consumer.position(tp) >= end:
            return False
        if (await consumer.getmany(tp, timeout_ms=500, max_records=1)).get(tp):
            return True
    return True


# --- workers --------------------------------------------------------------------------------------------------------


@dataclass
class Stack:
    """One test's namespace (topics, groups), feed topics, state folders and workers."""

    bootstrap: str
    unique: str
    tmp: Path
    workers: list[Worker] = field(default_factory=list)

    @property
    def ns(self) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=self.bootstrap, namespace=f"t{self.unique}.")

    @property
    def plain(self) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=self.bootstrap)

    def feed(self, name: str) -> str:
        return f"feed.{self.unique}-{name}"

    async def create_topics(self, feeds: Iterable[TopicSpec] = ()) -> None:
        await ensure_topics(self.ns, (UPDATES, DLQ, TOTALS, PLANS, ALERTS))
        await ensure_topics(self.plain, tuple(feeds))

    def _env(self, **extra: str) -> dict[str, str]:
        return {
            "TIENDO_BOOTSTRAP_SERVERS": self.bootstrap,
            "TIENDO_NAMESPACE": self.ns.namespace,
            "TIENDO_SESSION_TIMEOUT_S": "6",  # the broker's minimum: a restarted worker waits less for the dead one
            "TIENDO_LOG_LEVEL": "INFO",
            **extra,
        }

    def _worker(self, command: str, replica: str = "", **env: str) -> Worker:
        """``replica``: a suffix giving a second replica of a worker its own state folder and log."""
        worker = Worker(
            command,
            self._env(TIENDO_DATA_DIR=str(self.tmp / f"{command}{replica}-state"), **env),
            self.tmp / f"{command}{replica}.log",
            free_port(),
        )
        self.workers.append(worker)
        return worker

    def ingest(self, replica: str = "", **env: str) -> Worker:
        return self._worker(
            "ingest", replica, TIENDO_TOPIC_PATTERN=rf"feed\.{self.unique}-.*", TIENDO_METADATA_MAX_AGE_MS="2000", **env
        )

    def aggregate(self, replica: str = "", **env: str) -> Worker:
        return self._worker("aggregate", replica, **env)

    def alert(self, **env: str) -> Worker:
        return self._worker("alert", TIENDO_CLOCK="event", TIENDO_EVALUATE_INTERVAL_S="1", **env)

    async def progress(self, worker: Worker, metric: str, target: float, what: str, timeout: float = 180) -> float:
        """Wait until the worker process counted ``target`` in ``metric``; fail if it dies or time runs out."""
        deadline = time.monotonic() + timeout
        while (count := await asyncio.to_thread(processed, worker, metric)) < target:
            alive = worker.proc is not None and worker.proc.poll() is None
            assert alive, f"{what}: {worker.command} died\n{self.logs()}"
            assert time.monotonic() < deadline, f"{what}: {count:.0f} < {target:.0f} in {timeout}s\n{self.logs()}"
            await asyncio.sleep(0.05)
        return count

    def logs(self, chars: int = 3000) -> str:
        return "\n".join(f"--- {w.command} {w.log.name} ---\n{w.tail(chars)}" for w in self.workers)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()

    @property
    def ingest_group(self) -> str:
        return f"{self.ns.namespace}{INGEST_GROUP}"

    @property
    def aggregate_group(self) -> str:
        return f"{self.ns.namespace}{AGGREGATE_GROUP}"


def processed(worker: Worker, metric: str) -> float:
    """Sum of a counter of this worker process; 0 while it does not answer (starting, killed)."""
    try:
        return worker.metric(metric)
    except OSError:
        return 0.0


INGESTED = "tiendo_ingest_events_total"
AGGREGATED = "tiendo_aggregate_updates_total"


def totals(worker: Worker) -> Figures:
    status, body = worker.get("/totals?view=unit", timeout=60)
    assert status == 200, body
    return figures(orjson.loads(body)["totals"])


async def settled_totals(stack: Stack, aggregate: Worker, expected: Figures, timeout: float) -> Figures:
    """The aggregate's unit-view totals once they equal ``expected``; after ``timeout`` whatever they are."""
    deadline = time.monotonic() + timeout
    while True:
        got = await asyncio.to_thread(totals, aggregate)
        if got == expected or time.monotonic() > deadline:
            return got
        await asyncio.sleep(1)


async def check_topic_totals(stack: Stack, expected: Figures) -> int:
    """The compacted ``indicator.totals`` (latest unit-view value per key, what the alert worker reads) agrees
    with the oracle: every quarter with events is there with the oracle's figures, and any other quarter published
    (an empty one between two with events) carries (0, ytd so far, 0). Returns the number of quarters on it."""
    latest: dict[bytes, bytes] = {}
    for record in await read_topic(stack.ns, stack.ns.topic(TOTALS.name)):
        if record.key.startswith(b"unit/"):
            latest[record.key] = record.value
    on_topic = figures(orjson.loads(v) for v in latest.values())
    wrong = {k: (v, expected.get(k)) for k, v in on_topic.items() if expected.get(k) != v}
    assert not wrong, f"{len(wrong)} stale totals on the topic (topic, oracle): {list(wrong.items())[:5]}"
    missing = [k for k, (_, _, events) in expected.items() if events and k not in on_topic]
    assert not missing, f"{len(missing)} quarters with events never published: {missing[:5]}"
    return len(on_topic)


@dataclass
class Accounting:
    published: int
    accepted: int
    duplicate: int
    rejected: int
    updates_records: int
    letters: int

    def __str__(self) -> str:
        return (
            f"published {self.published} = accepted {self.accepted} + duplicate {self.duplicate} + rejected "
            f"{self.rejected}; {self.updates_records} records on indicator.updates, {self.letters} dead letters"
        )


async def check_accounting(stack: Stack, messages: Sequence[Message], origins: Sequence[Origin]) -> Accounting:
    """Every published offset is accounted for exactly once: accepted (on indicator.updates, possibly twice after a
    kill), rejected (in the DLQ with the right reason, possibly twice) or a duplicate (neither), as the input says."""
    expected = expected_outcomes(messages, origins)
    by_origin = dict(zip(origins, messages, strict=True))
    updates = await read_topic(stack.ns, stack.ns.topic(UPDATES.name))
    letters = await read_topic(stack.ns, stack.ns.topic(DLQ.name))
    accepted: set[Origin] = set()
    moved = {m.identity for m in messages if m.kind == "correction"}
    for record in updates:
        update = decode_message(record.value)
        if isinstance(update, Retraction):  # a correction moved the event out of the retraction's series
            assert (update.publisher, update.event_id) in moved and update.revision == 1, update
            continue
        origin = (update.origin.topic, update.origin.partition, update.origin.offset)
        assert origin in by_origin, f"an update from an offset never published: {origin}"
        m = by_origin[origin]
        assert (update.event_id, update.revision, update.publisher) == (m.event_id, m.revision, m.topic), origin
        assert (update.unit, update.indicator, update.year, update.quarter) == m.series, origin
        assert update.value == m.amount and update.mode == "delta", origin
        accepted.add(origin)
    rejected: dict[Origin, str] = {}
    for record in letters:
        letter = DeadLetter.decode(record.value)
        origin = (letter.origin.topic, letter.origin.partition, letter.origin.offset)
        assert origin in by_origin, f"a dead letter for an offset never published: {origin}"
        assert rejected.setdefault(origin, letter.reason) == letter.reason, f"two reasons for {origin}"
        assert letter.value == by_origin[origin].value, f"dead letter of {origin} lost the original bytes"
    assert not accepted & rejected.keys(), "an offset both accepted and rejected"
    want_accepted = {o for o, what in expected.items() if what == "accepted"}
    want_rejected = {o: what for o, what in expected.items() if what not in ("accepted", "duplicate")}
    missing, extra = want_accepted - accepted, accepted - want_accepted
    assert not missing and not extra, (
        f"accepted: {len(missing)} missing (e.g. {sorted(missing)[:3]}), {len(extra)} unexpected "
        f"(e.g. {[(o, by_origin[o].kind) for o in sorted(extra)[:3]]})"
    )
    assert rejected == want_rejected, (
        f"dead letters: {len(want_rejected.keys() - rejected.keys())} missing, "
        f"{len(rejected.keys() - want_rejected.keys())} unexpected, "
        f"{sum(1 for o in rejected.keys() & want_rejected.keys() if rejected[o] != want_rejected[o])} wrong reasons"
    )
    duplicates = set(expected) - accepted - rejected.keys()
    assert duplicates == {o for o, what in expected.items() if what == "duplicate"}
    return Accounting(len(expected), len(accepted), len(duplicates), len(rejected), len(updates), len(letters))
