"""The ingest worker against the real broker: normalised updates, dead letters with reasons, dedupe, restarts."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import orjson
import pytest

from shared.config import KafkaSettings
from shared.deadletter import DeadLetter
from shared.topics import DLQ, UPDATES, TopicSpec
from shared.updates import IndicatorUpdate
from tests.integration.kafka_io import publish, read_until

pytestmark = pytest.mark.kafka


def ev(event_id: str, province: str, value: object, unit: str, **kw: object) -> bytes:
    body = {
        "event_id": event_id,
        "province": province,
        "indicator": kw.pop("indicator", "state_budget_revenue"),
        "as_of": kw.pop("as_of", "2024-03-31"),
        "value": value,
        "unit": unit,
        "mode": kw.pop("mode", "ytd"),
        **kw,
    }
    return orjson.dumps(body)


VALID = {
    # identity suffix: (bytes, expected unit uid, expected base value)
    "bg-revenue": (ev("bg-revenue", "Bắc Giang", "4.680", "tỷ đồng"), "24", Decimal("4680e9")),
    "bg-revenue-en": (ev("bg-revenue-en", "BAC GIANG", "4,680", "billion VND"), "24", Decimal("4680e9")),
    "bg-ipv": (
        ev("bg-ipv", "Tỉnh Bắc Giang", 150, "nghìn tỷ đồng", indicator="industrial_production_value"),
        "24",
        Decimal("150e12"),
    ),
    "bg-fdi": (
        ev("bg-fdi", "24", "624.26", "million USD", indicator="investment_attracted", as_of="2024-03-15"),
        "24",
        Decimal("624260000"),
    ),
    "bn-2025": (ev("bn-2025", "Bac Ninh", 1200, "tỷ đồng", as_of="2025-09-30"), "24@2025-07-01", Decimal("1200e9")),
    "ls-clear": (
        ev("ls-clear", "Lạng Sơn", 12500, "m2", indicator="site_clearance_area", mode="delta"),
        "20",
        Decimal("1.25"),
    ),
    "hcm": (ev("hcm", "TP.HCM", "1,5", "nghìn tỷ đồng", as_of="2024-03-31T18:00:00Z"), "79", Decimal("1.5e12")),
}
BAD = {
    "not_json": b"{not json",
    "not_an_object": b"[1, 2]",
    "missing_field": orjson.dumps({"event_id": "x", "province": "Bắc Giang"}),
    "wrong_type": ev("wt", "Bắc Giang", True, "tỷ đồng"),
    "unknown_indicator": ev("ui", "Bắc Giang", 1, "tỷ đồng", indicator="gdp_happiness"),
    "unknown_province": ev("up", "Bac Nimh", 1, "tỷ đồng"),
    "impossible_date": ev("id", "Bắc Giang", 1, "tỷ đồng", as_of="1999-12-31"),
    "unknown_unit": ev("uu", "Bắc Giang", 1, "gallons"),
    "unit_mismatch": ev("um", "Bắc Giang", 1, "ha"),
    "negative_value": ev("nv", "Bắc Giang", -5, "tỷ đồng"),
    "ambiguous_number": ev("an", "Bắc Giang", "4,680", "VND"),
    "invalid_number": ev("in", "Bắc Giang", "four", "tỷ đồng"),
}


async def test_valid_events_normalised_once_and_bad_ones_dead_lettered(
    kafka_settings: KafkaSettings, make_topics, unique: str, ingest
) -> None:
    worker, ns = ingest
    a, b = f"feed.{unique}-bac-giang", f"feed.{unique}-other"
    await make_topics(TopicSpec(a, 1), TopicSpec(b, 1))
    valid = [raw for raw, _, _ in VALID.values()]
    correction = ev("bg-revenue", "Bắc Giang", "4.700", "tỷ đồng", revision=1)
    published = await publish(kafka_settings, a, [*valid[:4], valid[0], valid[1], correction])  # 2 duplicates
    published += await publish(kafka_settings, b, [*valid[4:], *BAD.values(), valid[5]])  # 1 duplicate

    updates = await read_until(
        kafka_settings, ns.topic(UPDATES.name), lambda rs: len(_mine(rs, unique)) >= 8, on_timeout=worker.tail
    )
    letters = await read_until(
        kafka_settings, ns.topic(DLQ.name), lambda rs: len(rs) >= len(BAD), on_timeout=worker.tail
    )
    got = _mine(updates, unique)
    by_id = {(u.event_id, u.revision): u for u in got}
    assert len(got) == len(by_id) == 8, "each valid event and the correction exactly once"
    for event_id, (_, uid, value) in VALID.items():
        update = by_id[(event_id, 0)]
        assert (update.unit, update.value) == (uid, value), event_id
    assert by_id[("bg-revenue", 1)].value == Decimal("4700e9")
    assert by_id[("hcm", 0)].quarter == 2, "2024-03-31T18:00Z is Q2 in Vietnam"
    assert by_id[("bn-2025", 0)].current_code == "24"
    assert by_id[("bg-revenue", 0)].current_code == "24" and by_id[("bg-revenue", 0)].province_code == "24"
    assert all(u.origin.topic in (a, b) for u in got)
    # Every update of a unit+indicator shares a key, so it shares a partition.
    keys = {r.key: set() for r in updates}
    for r in updates:
        keys[r.key].add(r.partition)
    assert all(len(p) == 1 for p in keys.values())

    dead = [DeadLetter.decode(r.value) for r in letters]
    assert sorted(d.reason for d in dead) == sorted(BAD)
    for d in dead:
        assert d.value == BAD[d.reason], "original bytes kept"
        assert d.origin.topic == b and d.message
    suggestion = next(d for d in dead if d.reason == "unknown_province")
    assert "Bắc Ninh" in suggestion.message

    # A batch is counted once its outputs and dedupe entries are acknowledged, just after the outputs are visible.
    deadline = time.monotonic() + 30
    while True:
        accepted, duplicate, rejected = (
            worker.metric("tiendo_ingest_events_total", {"outcome": o}) for o in ("accepted", "duplicate", "rejected")
        )
        if accepted + duplicate + rejected >= published or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert (accepted, duplicate, rejected) == (8, 3, len(BAD))
    assert accepted + duplicate + rejected == published
    assert worker.metric("tiendo_ingest_rejections_total", {"reason": "unknown_province"}) == 1
    assert worker.metric("tiendo_ingest_province_accepted_total", {"province": "24"}) == 6


async def test_new_feed_topic_is_picked_up_without_restart(
    kafka_settings: KafkaSettings, make_topics, unique: str, ingest
) -> None:
    worker, ns = ingest
    first = f"feed.{unique}-first"
    await make_topics(TopicSpec(first, 1))
    await publish(kafka_settings, first, [VALID["bg-revenue"][0]])
    await read_until(
        kafka_settings, ns.topic(UPDATES.name), lambda rs: len(_mine(rs, unique)) >= 1, on_timeout=worker.tail
    )
    late = f"feed.{unique}-late-comer"
    await make_topics(TopicSpec(late, 1))
    await publish(kafka_settings, late, [VALID["ls-clear"][0]])
    updates = await read_until(
        kafka_settings, ns.topic(UPDATES.name), lambda rs: len(_mine(rs, unique)) >= 2, on_timeout=worker.tail
    )
    assert {u.origin.topic for u in _mine(updates, unique)} == {first, late}


def _mine(records: list, unique: str) -> list[IndicatorUpdate]:
    return [
        u for u in (IndicatorUpdate.decode(r.value) for r in records) if u.origin.topic.startswith(f"feed.{unique}-")
    ]
