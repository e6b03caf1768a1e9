"""The benchmark's pieces that need no broker: inputs, the raw loops' batch functions, statistics, profile summary."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiokafka.structs import ConsumerRecord

from bench.common import histogram_quantile, percentile, throughput
from bench.data import feed_events, indicator_updates, paced_updates
from bench.profile import summarise
from bench.raw_aggregate import process as aggregate_batch
from bench.raw_ingest import process as ingest_batch


def record(topic: str, offset: int, value: bytes, key: bytes | None = None) -> ConsumerRecord:
    return ConsumerRecord(topic, 0, offset, int(time.time() * 1000), 0, key, value, None, 0, len(value), ())


def test_feed_events_are_realistic_with_unique_ids_across_copies() -> None:
    events = feed_events(7000, "bx")
    assert len(events) == 7000
    assert {e.topic for e in events} <= {f"feed.bx-{o}" for o in ("bac-giang", "bac-ninh", "hai-phong", "lang-son",
                                                                  "hai-duong", "thai-nguyen", "da-nang")}  # fmt: skip
    assert 0.01 < sum(e.kind == "bad" for e in events) / len(events) < 0.03
    valid = [orjson.loads(e.value) for e in events if e.kind == "valid"]
    ids = [(v["event_id"]) for v in valid]
    assert len(set(ids)) == len(ids)  # the second copy of a demo year got its own prefix


def test_raw_ingest_batch_matches_triage_and_dedupes_in_memory() -> None:
    events = feed_events(100, "bx")
    records = [record(e.topic, i, e.value) for i, e in enumerate(events)]
    seen: dict[str, int] = {}
    now = datetime.now(UTC)
    out = ingest_batch(records, seen, "ns.indicator.updates", "ns.indicator.dlq", now)
    assert out.accepted + out.rejected + out.duplicates == 100
    assert out.rejected == sum(e.kind == "bad" for e in events)
    assert len(out.messages) == out.accepted + out.rejected
    seen.update(out.remember)
    again = ingest_batch(records, seen, "ns.indicator.updates", "ns.indicator.dlq", now)
    assert again.accepted == 0 and again.duplicates == out.accepted + out.duplicates


def test_raw_aggregate_batch_keeps_state_and_publishes_both_views() -> None:
    updates = indicator_updates(100, 60)
    assert len({(u.unit, u.indicator, u.year) for u in updates}) == 60
    states: dict = {}
    out = aggregate_batch([record("ns.indicator.updates", i, u.encode(), u.key) for i, u in enumerate(updates)], states)
    assert out.rejected == 0 and len(states) == 60
    views = {key.split(b"/")[0] for key, _ in out.messages}
    assert views == {b"unit", b"current"}
    assert len({(u.unit, u.indicator, u.year) for u in indicator_updates(2000, 1000)}) == 1000
    assert all(u.revision == 0 for u in paced_updates(300, 60))


def test_statistics() -> None:
    assert percentile([3, 1, 2], 50) == 2
    assert percentile([], 99) is None
    buckets = [(0.1, 0), (0.5, 50), (1.0, 100), (float("inf"), 100)]
    assert histogram_quantile(buckets, 0.5) == 0.5
    assert histogram_quantile(buckets, 0.75) == 0.75
    assert throughput(1000, 100.0, 110.0, 11)["seconds"] == 11.0


def test_profile_summary(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text(
        "<module> (x.py:1);process (services/aggregate/batches.py:60);apply_batch (shared/aggregation.py:600) 3\n"
        "<module> (x.py:1);consume (services/aggregate/app.py:90);getmany (aiokafka/consumer/consumer.py:400) 1\n"
    )
    summary = summarise(raw)
    assert summary["samples"] == 4
    assert summary["inclusive_pct"]["  apply_batch (aggregation, incl. loading states)"] == 75.0
    assert summary["inclusive_pct"]["a batch (services/aggregate/batches.py)"] == 75.0
    assert summary["inclusive_pct"]["aiokafka: consumer fetch (getmany)"] == 25.0
    assert summary["self_pct_by_component"]["shared"] == 75.0
