"""The workers' stages on a fake producer: what each batch sends, in which order, and what it remembers — and that a
batch whose outputs are not acknowledged leaves no state behind (the batch worker reads it again)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry

from services.aggregate.batches import AggregateStage, Topics
from services.aggregate.metrics import AggregateMetrics
from services.aggregate.store import SeriesStore
from services.ingest.metrics import IngestMetrics
from services.ingest.stage import IngestStage, decode_seen
from shared import aggregation
from shared.compacted import CompactedMap
from shared.config import KafkaSettings
from shared.deadletter import DeadLetter
from shared.topics import DEDUPE
from shared.updates import IndicatorUpdate, Retraction, decode_message
from tests.unit.fakes import FakeProducer

_offsets = itertools.count()


def record(topic: str, value: bytes, partition: int = 0) -> ConsumerRecord:
    return ConsumerRecord(
        topic, partition, next(_offsets), int(datetime.now(UTC).timestamp() * 1000), 0, None, value, None, 0, 0, ()
    )


def feed(event_id: str, as_of: str, *, revision: int = 0, **kw: object) -> bytes:
    body = {
        "event_id": event_id,
        "province": "Bắc Giang",
        "indicator": "public_investment_disbursed",
        "as_of": as_of,
        "value": 100,
        "unit": "tỷ đồng",
        "mode": "delta",
        "revision": revision,
        **kw,
    }
    return orjson.dumps(body)


def ingest_stage(max_ids: int = 1_000) -> IngestStage:
    seen = CompactedMap(KafkaSettings(), DEDUPE)
    return IngestStage(
        seen,
        IngestMetrics(CollectorRegistry()),
        updates_topic="updates",
        dlq_topic="dlq",
        retention_days=400,
        max_ids=max_ids,
    )


async def test_ingest_sends_updates_retractions_and_letters_then_remembers() -> None:
    stage, producer = ingest_stage(), FakeProducer()
    await stage.process(
        [record("feed.bg", feed("w53", "2024-12-31")), record("feed.bg", b"{not json")],
        producer,  # type: ignore[arg-type]
    )
    assert [decode_message(v).year for v in producer.to("updates")] == [2024]  # type: ignore[union-attr]
    assert [orjson.loads(v)["reason"] for v in producer.to("dlq")] == ["not_json"]
    revision, _, routing = decode_seen(stage.seen.data[b"feed.bg/w53"])
    assert (revision, routing) == (0, "24|24|24|public_investment_disbursed|2024")

    producer.sent.clear()
    await stage.process([record("feed.bg", feed("w53", "2025-01-02", revision=1))], producer)  # type: ignore[arg-type]
    sent = [decode_message(v) for v in producer.to("updates")]
    assert [type(m) for m in sent] == [IndicatorUpdate, Retraction], "the update, then the old series' retraction"
    assert sent[1].series == "24|public_investment_disbursed|2024" and sent[1].revision == 1
    assert [key for topic, key, _, _ in producer.sent if topic == "updates"] == [b"24|public_investment_disbursed"] * 2


async def test_ingest_remembers_nothing_when_an_output_is_not_acknowledged() -> None:
    stage = ingest_stage()
    with pytest.raises(KafkaTimeoutError):
        await stage.process([record("feed.bg", feed("w1", "2024-05-31"))], FakeProducer(fail_on="updates"))  # type: ignore[arg-type]
    assert stage.seen.data == {}, "read again, the event is new again"


async def test_ingest_dead_letters_new_ids_once_the_dedupe_state_is_full() -> None:
    stage, producer = ingest_stage(max_ids=2), FakeProducer()
    events = [feed(f"w{n}", "2024-05-31") for n in range(3)]
    counted = await stage.process([record("feed.bg", e) for e in events], producer)  # type: ignore[arg-type]
    counted()
    assert len(producer.to("updates")) == 2 and sorted(stage.seen.data) == [b"feed.bg/w0", b"feed.bg/w1"]
    [letter] = [DeadLetter.decode(v) for v in producer.to("dlq")]
    assert letter.reason == "dedupe_full" and letter.value == events[2], "the original, to replay"
    registry = stage.metrics.worker.registry
    assert registry.get_sample_value("tiendo_ingest_rejections_total", {"reason": "dedupe_full"}) == 1
    assert registry.get_sample_value("tiendo_ingest_dedupe_max_keys") == 2

    producer.sent.clear()  # full: a correction of a remembered id still goes through, its duplicate is dropped
    again = [feed("w0", "2024-05-31", revision=1), feed("w1", "2024-05-31"), feed("w3", "2024-05-31")]
    await stage.process([record("feed.bg", e) for e in again], producer)  # type: ignore[arg-type]
    assert [decode_message(v).event_id for v in producer.to("updates")] == ["w0"]  # type: ignore[union-attr]
    assert [orjson.loads(v)["reason"] for v in producer.to("dlq")] == ["dedupe_full"]


def aggregate_stage(tmp_path: Path) -> tuple[AggregateStage, SeriesStore]:
    store = SeriesStore(tmp_path, cache_size=100)
    store.open(0)
    stage = AggregateStage(
        KafkaSettings(), store, Topics("totals", "changelog", "dlq"), AggregateMetrics(CollectorRegistry())
    )
    return stage, store


async def updates_of(*events: bytes) -> list[ConsumerRecord]:
    """The update records ingest publishes for these feed events."""
    stage, producer = ingest_stage(), FakeProducer()
    await stage.process([record("feed.bg", e) for e in events], producer)  # type: ignore[arg-type]
    return [record("updates", v) for v in producer.to("updates")]


async def test_aggregate_publishes_totals_then_changelog_then_saves(tmp_path: Path) -> None:
    stage, store = aggregate_stage(tmp_path)
    producer = FakeProducer()
    records = await updates_of(
        feed("q1", "2024-03-31", mode="ytd", value="4.000"), feed("h1", "2024-06-30", mode="ytd", value="4,680")
    )
    committed = await stage.process(records, producer)  # type: ignore[arg-type]
    assert committed is not None and store.partitions[0].next_offset == 0, "RocksDB waits for the commit"
    committed()
    topics = [topic for topic, _, _, _ in producer.sent]
    assert topics.index("changelog") > max(i for i, t in enumerate(topics) if t in ("totals", "dlq"))
    [letter] = [orjson.loads(v) for v in producer.to("dlq")]
    assert letter["reason"] == "implausible_value", "4,680 tỷ đồng read as 4.68 bn against 4,000 bn"
    state = store.load(0, "24|public_investment_disbursed|2024")
    assert state is not None and state.quarter_total(2).ytd == 4_000 * 10**9
    assert store.partitions[0].next_offset > 0, "the changelog checkpoint moved with the save"


async def test_aggregate_dead_letters_the_updates_a_full_series_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aggregation, "MAX_IDENTITIES", 1)
    stage, _ = aggregate_stage(tmp_path)
    producer = FakeProducer()
    records = await updates_of(feed("w1", "2024-01-31"), feed("w2", "2024-02-29"))
    (await stage.process(records, producer))()  # type: ignore[arg-type]
    [letter] = [DeadLetter.decode(v) for v in producer.to("dlq")]
    assert letter.reason == "series_full" and letter.origin.topic == "feed.bg", "traced to its feed message"
    assert decode_message(letter.value).event_id == "w2"  # type: ignore[arg-type,union-attr]
    registry = stage.metrics.worker.registry
    assert registry.get_sample_value("tiendo_aggregate_updates_total", {"outcome": "overflow"}) == 1


async def test_aggregate_saves_nothing_when_the_changelog_is_not_acknowledged(tmp_path: Path) -> None:
    stage, store = aggregate_stage(tmp_path)
    records = await updates_of(feed("q1", "2024-03-31"))
    with pytest.raises(KafkaTimeoutError):
        await stage.process(records, FakeProducer(fail_on="changelog"))  # type: ignore[arg-type]
    assert store.load(0, "24|public_investment_disbursed|2024") is None
    assert store.partitions[0].next_offset == 0
