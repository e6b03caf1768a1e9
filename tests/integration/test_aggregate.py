"""The aggregate worker against the real broker: seed figures end to end, ytd differencing, the totals API,
crash safety under SIGKILL and recovery of a large state from the changelog."""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from shared import kafkaclients
from shared.aggregation import SeriesState
from shared.config import KafkaSettings
from shared.consuming import AGGREGATE_GROUP
from shared.contracts import View, totals_key
from shared.provinces import registry
from shared.topics import DLQ, TOTALS, UPDATES, TopicSpec
from shared.updates import IndicatorUpdate, Origin
from shared.vntime import VN_TZ, quarter_of
from tests.conftest import free_port
from tests.integration.kafka_io import publish, read_until
from tests.workers import ROOT, Worker

pytestmark = pytest.mark.kafka

T = TypeVar("T")
BN = Decimal(10**9)  # one tỷ đồng in VND
TN = Decimal(10**12)  # one nghìn tỷ đồng in VND
UPDATES_TOTAL = "tiendo_aggregate_updates_total"


class Pipeline:
    """One test's own namespace (topics, consumer groups), state folder and workers."""

    def __init__(self, kafka: KafkaSettings, unique: str, tmp_path: Path) -> None:
        self.unique, self.tmp_path = unique, tmp_path
        self.bootstrap = kafka.bootstrap_servers
        self.ns = KafkaSettings(bootstrap_servers=kafka.bootstrap_servers, namespace=f"t{unique}.")
        self.data_dir = tmp_path / "aggregate-state"
        self.workers: list[Worker] = []

    @property
    def updates_topic(self) -> str:
        return self.ns.topic(UPDATES.name)

    @property
    def totals_topic(self) -> str:
        return self.ns.topic(TOTALS.name)

    @property
    def changelog_topic(self) -> str:
        return f"{self.ns.namespace}tiendo-aggregate-series-changelog"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "TIENDO_BOOTSTRAP_SERVERS": self.bootstrap,
            "TIENDO_NAMESPACE": self.ns.namespace,
            "TIENDO_DATA_DIR": str(self.data_dir),
            "TIENDO_LOG_LEVEL": "INFO",
            **extra,
        }

    def aggregate(self, **extra_env: str) -> Worker:
        worker = Worker("aggregate", self.env(**extra_env), self.tmp_path / "aggregate.log", free_port())
        self.workers.append(worker)
        return worker

    def ingest(self) -> Worker:
        env = self.env(
            TIENDO_TOPIC_PATTERN=rf"feed\.{self.unique}-.*",
            TIENDO_DATA_DIR=str(self.tmp_path / "ingest-state"),
            TIENDO_METADATA_MAX_AGE_MS="2000",
        )
        worker = Worker("ingest", env, self.tmp_path / "ingest.log", free_port())
        self.workers.append(worker)
        return worker


@pytest.fixture
async def pipeline(kafka_settings: KafkaSettings, unique: str, tmp_path: Path, make_topics):
    p = Pipeline(kafka_settings, unique, tmp_path)
    ns = p.ns.namespace
    await make_topics(*(TopicSpec(ns + s.name, s.partitions, s.config) for s in (UPDATES, TOTALS, DLQ)))
    try:
        yield p
    finally:
        for worker in p.workers:
            worker.stop()


# --- helpers -------------------------------------------------------------------------------------------------


def wait_for(check: Callable[[], T], what: str, timeout: float = 60, on_timeout: Callable[[], str] = str) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s\n{on_timeout()}")
        time.sleep(0.25)


def get_json(worker: Worker, path: str, **params: object) -> tuple[int, Any]:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    status, body = worker.get(f"{path}?{query}" if query else path, timeout=60)
    return status, orjson.loads(body)


def totals(worker: Worker, **params: object) -> list[dict]:
    status, body = get_json(worker, "/totals", **params)
    assert status == 200, body
    assert body["count"] == len(body["totals"])
    return body["totals"]


def figures(rows: Iterable[dict]) -> dict[tuple, tuple[Decimal, Decimal, int]]:
    """(unit, indicator, year, quarter) → (value, ytd, events), exact."""
    return {
        (r["unit"], r["indicator"], r["year"], r["quarter"]): (Decimal(r["value"]), Decimal(r["ytd"]), r["events"])
        for r in rows
    }


def processed(worker: Worker) -> float:
    """Updates this worker process has taken from indicator.updates (every outcome), 0 if it does not answer."""
    try:
        return worker.metric(UPDATES_TOTAL)
    except OSError:
        return 0


def latest_by_key(records: Iterable[ConsumerRecord]) -> dict[bytes, bytes]:
    latest: dict[bytes, bytes] = {}
    for r in records:
        latest[r.key] = r.value
    return latest


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "TERM": "dumb"},
        check=False,
    )


def feed_event(
    event_id: str, indicator: str, value: object, unit: str, as_of: str, *, mode: str = "delta", **kw: object
) -> bytes:
    body = {
        "event_id": event_id,
        "province": kw.pop("province", "Bắc Giang"),
        "indicator": indicator,
        "as_of": as_of,
        "value": value,
        "unit": unit,
        "mode": mode,
        "source": kw.pop("source", "Cục Thống kê"),
        **kw,
    }
    return orjson.dumps(body)


_SEQ = iter(range(10**9))


def update(
    event_id: str,
    code: str,
    indicator: str,
    value: Decimal | int | str,
    as_of: datetime,
    *,
    mode: str = "delta",
    revision: int = 0,
    publisher: str = "feed.test",
) -> IndicatorUpdate:
    """An update as ingest would publish it, for the unit holding ``code`` on ``as_of`` (Vietnam time)."""
    day = as_of.astimezone(VN_TZ).date()
    reg = registry()
    unit = reg.get(code, on=day)
    year, quarter = quarter_of(as_of)
    return IndicatorUpdate(
        event_id=event_id,
        revision=revision,
        publisher=publisher,
        unit=unit.uid,
        province_code=unit.code,
        current_code=reg.rollup(unit.code, on=day).code,
        indicator=indicator,
        mode=mode,  # type: ignore[arg-type]
        value=Decimal(value),
        as_of=as_of,
        year=year,
        quarter=quarter,
        source="test",
        origin=Origin(publisher, 0, next(_SEQ)),
        received_at=datetime.now(VN_TZ),
    )


def vn(day: str) -> datetime:
    """End of a day in Vietnam, as ingest reads a date-only ``as_of``."""
    return datetime.combine(date.fromisoformat(day), datetime.max.time(), VN_TZ)


async def publish_updates(settings: KafkaSettings, topic: str, updates: Iterable[IndicatorUpdate]) -> int:
    """Publish updates keyed like ingest does (unit|indicator), in order."""
    producer = kafkaclients.producer(settings, "test-updates", linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        return len(await kafkaclients.send_all(producer, topic, ((u.key, u.encode()) for u in updates)))
    finally:
        await producer.stop()


# --- the seed scenario, through ingest and aggregate ----------------------------------------------------------

BG_Q1 = [
    # budget revenue as YTD readings in Vietnamese notation (4.680 = 4,680 tỷ đồng)
    feed_event("bg-thu-ngan-sach-2024-01", "state_budget_revenue", "1.500", "tỷ đồng", "2024-01-31", mode="ytd"),
    feed_event("bg-thu-ngan-sach-2024-02", "state_budget_revenue", "3.100", "tỷ đồng", "2024-02-29", mode="ytd"),
    feed_event("bg-thu-ngan-sach-2024-03", "state_budget_revenue", "4.680", "tỷ đồng", "2024-03-31", mode="ytd"),
    # industrial production value as monthly deltas in nghìn tỷ đồng: 48.6 + 47.9 + 54.3 = 150.8
    feed_event("bg-gtsxcn-2024-01", "industrial_production_value", "48,6", "nghìn tỷ đồng", "2024-01-31"),
    feed_event("bg-gtsxcn-2024-02", "industrial_production_value", "47,9", "nghìn tỷ đồng", "2024-02-29"),
    feed_event("bg-gtsxcn-2024-03", "industrial_production_value", "54,3", "nghìn tỷ đồng", "2024-03-31"),
    # 95 + 102 + 113 = 310 new enterprises
    feed_event("bg-dn-moi-2024-01", "new_enterprises", 95, "doanh nghiệp", "2024-01-31"),
    feed_event("bg-dn-moi-2024-02", "new_enterprises", 102, "doanh nghiệp", "2024-02-29"),
    feed_event("bg-dn-moi-2024-03", "new_enterprises", 113, "doanh nghiệp", "2024-03-31"),
    feed_event("bg-grdp-2024-q1", "grdp_growth", "14,18", "%", "2024-03-31", mode="ytd"),
]
BG_Q1_EXPECTED = {
    "state_budget_revenue": (4680 * BN, 3),
    "industrial_production_value": (Decimal("150.8") * TN, 3),
    "new_enterprises": (Decimal(310), 3),
    "grdp_growth": (Decimal("14.18"), 1),
}
BN_Q1 = [  # old Bắc Ninh (27), which merged into the current Bắc Ninh (24) on 2025-07-01
    feed_event(
        "bn-thu-ngan-sach-2024-03",
        "state_budget_revenue",
        "9.870",
        "tỷ đồng",
        "2024-03-31",
        mode="ytd",
        province="Bắc Ninh",
    ),
    feed_event("bn-dn-moi-2024-02", "new_enterprises", 250, "doanh nghiệp", "2024-02-15", province="Bac Ninh"),
    feed_event("bn-grdp-2024-q1", "grdp_growth", "7,5", "%", "2024-03-31", mode="ytd", province="Tỉnh Bắc Ninh"),
]


def unit_key(unit: str, indicator: str, year: int, quarter: int, view: View = View.UNIT) -> bytes:
    return totals_key(view, unit, indicator, year, quarter)


async def test_seed_scenario_end_to_end_with_correction_and_current_view(
    kafka_settings: KafkaSettings, make_topics, pipeline: Pipeline
) -> None:
    p = pipeline
    bg, bn = f"feed.{p.unique}-bac-giang", f"feed.{p.unique}-bac-ninh"
    await make_topics(TopicSpec(bg, 1), TopicSpec(bn, 1))
    ingest, aggregate = p.ingest().start(), p.aggregate().start()
    ingest.wait_ready()
    aggregate.wait_ready()

    def logs() -> str:
        return ingest.tail(2000) + "\n---\n" + aggregate.tail()

    await publish(kafka_settings, bg, [*BG_Q1, BG_Q1[1]])  # the February reading twice: ingest drops the copy

    def bg_q1() -> dict[str, dict]:
        rows = totals(aggregate, province="Bac Giang", year=2024, quarter=1)
        return {r["indicator"]: r for r in rows}

    def matches(expected: dict[str, tuple[Decimal, int]]) -> dict[str, dict] | None:
        rows = bg_q1()
        got = {i: (Decimal(r["value"]), r["events"]) for i, r in rows.items()}
        return rows if got == expected else None

    rows = wait_for(lambda: matches(BG_Q1_EXPECTED), "Bắc Giang Q1 2024 totals", on_timeout=logs)
    for indicator, row in rows.items():
        assert (row["unit"], row["province_code"], row["current_code"], row["view"]) == ("24", "24", "24", "unit")
        assert Decimal(row["ytd"]) == BG_Q1_EXPECTED[indicator][0], "Q1: year to date is the quarter"
        assert row["last_as_of"].startswith("2024-03-31T23:59:59.999999+07:00")
        assert row["sources"] == ["Cục Thống kê"]
    assert rows["state_budget_revenue"]["base_unit"] == "VND"
    assert aggregate.metric(UPDATES_TOTAL, {"outcome": "applied"}) == 10
    assert aggregate.metric(UPDATES_TOTAL, {"outcome": "duplicate"}) == 0, "ingest already dropped the duplicate"

    def topic_has(expected: dict[bytes, Decimal]) -> Callable[[list[ConsumerRecord]], bool]:
        def done(records: list[ConsumerRecord]) -> bool:
            latest = latest_by_key(records)
            return all(k in latest and Decimal(orjson.loads(latest[k])["value"]) == v for k, v in expected.items())

        return done

    on_topic = {unit_key("24", i, 2024, 1): v for i, (v, _) in BG_Q1_EXPECTED.items()}
    records = await read_until(kafka_settings, p.totals_topic, topic_has(on_topic), on_timeout=logs)
    published = orjson.loads(latest_by_key(records)[unit_key("24", "state_budget_revenue", 2024, 1)])
    assert published == rows["state_budget_revenue"], "the topic carries what the API answers"

    # A correction of the 31 March reading: same event id, revision 1, 4.700 tỷ đồng.
    before = Decimal(rows["state_budget_revenue"]["value"])
    correction = feed_event(
        "bg-thu-ngan-sach-2024-03", "state_budget_revenue", "4.700", "tỷ đồng", "2024-03-31", mode="ytd", revision=1
    )
    await publish(kafka_settings, bg, [correction])
    rows = wait_for(
        lambda: matches({**BG_Q1_EXPECTED, "state_budget_revenue": (4700 * BN, 3)}), "the correction", on_timeout=logs
    )
    assert Decimal(rows["state_budget_revenue"]["value"]) - before == 20 * BN
    assert Decimal(rows["state_budget_revenue"]["ytd"]) == 4700 * BN
    assert aggregate.metric(UPDATES_TOTAL, {"outcome": "correction"}) == 1
    await read_until(
        kafka_settings,
        p.totals_topic,
        topic_has({unit_key("24", "state_budget_revenue", 2024, 1): 4700 * BN}),
        on_timeout=logs,
    )

    # Old Bắc Ninh (27) publishes too: the current view rolls 27 and 24 into the current Bắc Ninh (24).
    await publish(kafka_settings, bn, BN_Q1)
    expected_current = {
        "state_budget_revenue": ((4700 + 9870) * BN, 4),
        "industrial_production_value": (Decimal("150.8") * TN, 3),
        "new_enterprises": (Decimal(310 + 250), 4),
    }  # grdp_growth is a rate: rates never add up

    def current(province: str) -> dict[str, tuple[Decimal, int]] | None:
        rows = totals(aggregate, province=province, year=2024, view="current")
        got = {r["indicator"]: (Decimal(r["value"]), r["events"]) for r in rows}
        if got != expected_current:
            return None
        assert {(r["unit"], r["current_code"], r["quarter"], r["view"]) for r in rows} == {("24", "24", 1, "current")}
        return got

    wait_for(
        lambda: current("Bắc Giang"),
        "current view of 2024 (by the old name)",
        on_timeout=lambda: f"{totals(aggregate, year=2024, view='current')}\n{totals(aggregate, year=2024)}\n{logs()}",
    )
    assert current("Bac Ninh") and current("24"), "any name of the current unit selects it"
    unit_view = figures(totals(aggregate, province="Bắc Ninh", year=2024))
    assert unit_view[("27", "state_budget_revenue", 2024, 1)][:2] == (9870 * BN, 9870 * BN)
    assert ("24", "state_budget_revenue", 2024, 1) not in unit_view, "the unit view keeps the 2024 units apart"
    await read_until(
        kafka_settings,
        p.totals_topic,
        topic_has({unit_key("24", i, 2024, 1, View.CURRENT): v for i, (v, _) in expected_current.items()}),
        on_timeout=logs,
    )

    # The command line shows the same figures, in tỷ đồng with thousands separators.
    url = f"http://127.0.0.1:{aggregate.port}"
    shown = cli("totals", "--province", "Bac Giang", "--year", "2024", "--quarter", "1", "--url", url)
    assert shown.returncode == 0, shown.stderr
    for text in ("24 Bắc Giang", "state_budget_revenue", "4,700.00", "150,800.00", "tỷ đồng", "310", "14.18", "%"):
        assert text in shown.stdout, (text, shown.stdout)
    rolled = cli("totals", "--province", "Bac Giang", "--year", "2024", "--view", "current", "--url", url)
    assert rolled.returncode == 0, rolled.stderr
    assert "24 Bắc Ninh" in rolled.stdout and "14,570.00" in rolled.stdout, rolled.stdout
    as_json = cli("totals", "--province", "Bac Giang", "--year", "2024", "--quarter", "1", "--url", url, "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert orjson.loads(as_json.stdout) == totals(aggregate, province="Bac Giang", year=2024, quarter=1)


# --- trust: corrections that move, the plan year's January tail, the merger, implausible readings ------------


async def test_corrections_move_once_tail_merger_and_implausible_through_the_workers(
    kafka_settings: KafkaSettings, make_topics, pipeline: Pipeline
) -> None:
    """Through the real ingest and aggregate workers: a correction moving an event to another year and one fixing
    its province each count once; a January reading of the 2024 plan year is 2024's Q4+; the merged Bắc Ninh's
    9-month reading covers its constituents' first half; a reading 1000x off its series is dead-lettered."""
    p = pipeline
    bg, bn = f"feed.{p.unique}-bac-giang", f"feed.{p.unique}-bac-ninh"
    await make_topics(TopicSpec(bg, 1), TopicSpec(bn, 1))
    ingest, aggregate = p.ingest().start(), p.aggregate().start()
    ingest.wait_ready()
    aggregate.wait_ready()

    def logs() -> str:
        return ingest.tail(2000) + "\n---\n" + aggregate.tail()

    disbursed = "public_investment_disbursed"
    await publish(
        kafka_settings,
        bg,
        [
            feed_event("hp-w53", disbursed, 100, "tỷ đồng", "2024-12-31"),
            feed_event("thu-q1", "state_budget_revenue", 500, "tỷ đồng", "2024-03-31", mode="ytd", province="27"),
            feed_event("gn-2024", disbursed, "1.000", "tỷ đồng", "2024-12-31", mode="ytd"),
            feed_event("bg-h1", "registered_capital", "6.000", "tỷ đồng", "2025-06-30", mode="ytd"),
            feed_event("bn-h1", "registered_capital", "20.000", "tỷ đồng", "2025-06-30", mode="ytd", province="27"),
            feed_event("ngan-sach-q1", "state_budget_revenue", "4.000", "tỷ đồng", "2024-06-30", mode="ytd"),
        ],
    )
    await publish(
        kafka_settings,
        bg,
        [
            feed_event("hp-w53", disbursed, 100, "tỷ đồng", "2025-01-02", revision=1),  # moved into 2025
            feed_event("thu-q1", "state_budget_revenue", 500, "tỷ đồng", "2024-03-31", mode="ytd", revision=1),
            feed_event("gn-2024-t1", disbursed, "1.200", "tỷ đồng", "2025-01-31", mode="ytd", plan_year=2024),
            feed_event("bn-9t", "registered_capital", "30.000", "tỷ đồng", "2025-09-30", mode="ytd", province="24"),
            feed_event("ngan-sach-9t", "state_budget_revenue", "4,680", "tỷ đồng", "2024-09-30", mode="ytd"),
        ],
    )

    def settled() -> dict[tuple, tuple[Decimal, Decimal, int]] | None:
        got = figures(totals(aggregate))
        return got if got.get(("24", disbursed, 2024, 5)) and got.get(("24", disbursed, 2025, 1)) else None

    got = wait_for(settled, "the moved corrections and the January tail", on_timeout=logs)
    assert got[("24", disbursed, 2025, 1)] == (100 * BN, 100 * BN, 1), "the moved increment, once, in 2025"
    assert got[("24", disbursed, 2024, 4)] == (1_000 * BN, 1_000 * BN, 1), "2024 keeps only its own reading"
    assert got[("24", disbursed, 2024, 5)] == (200 * BN, 1_200 * BN, 1), "the January tail of plan year 2024"
    assert ("24", disbursed, 2025, 5) not in got

    def state_budget() -> dict[tuple, tuple[Decimal, Decimal, int]] | None:
        rows = figures(totals(aggregate, indicator="state_budget_revenue", year=2024))
        return rows if ("24", "state_budget_revenue", 2024, 1) in rows else None

    rows = wait_for(state_budget, "the province fixed from Bắc Ninh to Bắc Giang", on_timeout=logs)
    assert rows[("24", "state_budget_revenue", 2024, 1)] == (500 * BN, 500 * BN, 1)
    assert ("27", "state_budget_revenue", 2024, 1) not in rows, "old Bắc Ninh holds nothing any more"
    current = {
        r["quarter"]: (Decimal(r["ytd"]), r["period"])
        for r in totals(aggregate, province="Bắc Ninh", indicator="registered_capital", year=2025, view="current")
    }
    assert current == {1: (0, "Q1"), 2: (26_000 * BN, "Q2"), 3: (30_000 * BN, "Q3")}, "30,000, not 56,000"
    assert aggregate.metric(UPDATES_TOTAL, {"outcome": "retracted"}) == 2

    # "4,680" tỷ đồng is 4.68 bn in Vietnamese notation, 1/855 of the series' 4,000 bn: dead-lettered, not applied.
    def implausible(records: list[ConsumerRecord]) -> bool:
        return any(orjson.loads(r.value)["reason"] == "implausible_value" for r in records)

    letters = await read_until(kafka_settings, p.ns.topic(DLQ.name), implausible, on_timeout=logs)
    [letter] = [orjson.loads(r.value) for r in letters if orjson.loads(r.value)["reason"] == "implausible_value"]
    assert "1/855 of" in letter["message"] and letter["origin"]["topic"] == bg, letter
    assert orjson.loads(letter["value"])["event_id"] == "ngan-sach-9t"
    after = figures(totals(aggregate, indicator="state_budget_revenue", year=2024))
    assert after[("24", "state_budget_revenue", 2024, 2)][1] == 4_000 * BN
    assert ("24", "state_budget_revenue", 2024, 3) not in after, "the refused reading is nowhere"
    assert aggregate.metric(UPDATES_TOTAL, {"outcome": "implausible"}) == 1


# --- ytd differencing across quarters, updates published straight to indicator.updates -----------------------


async def test_ytd_differencing_across_quarters_with_a_late_q1_reading(pipeline: Pipeline) -> None:
    p = pipeline
    aggregate = p.aggregate().start()
    aggregate.wait_ready()
    sent = 0

    async def send(*updates: IndicatorUpdate) -> None:
        nonlocal sent
        sent += await publish_updates(p.ns, p.updates_topic, updates)
        wait_for(lambda: processed(aggregate) >= sent, f"{sent} updates processed", on_timeout=aggregate.tail)

    def quarters(indicator: str) -> dict[int, tuple[Decimal, Decimal, int]]:
        rows = totals(aggregate, province="24", year=2024, indicator=indicator)
        return {q: f for (_, _, _, q), f in figures(rows).items()}

    rev = "state_budget_revenue"
    await send(
        update("r-jan", "24", rev, 30 * BN, vn("2024-01-31"), mode="ytd"),
        update("r-feb", "24", rev, 65 * BN, vn("2024-02-29"), mode="ytd"),
        update("r-apr", "24", rev, 140 * BN, vn("2024-04-30"), mode="ytd"),
        update("r-jun", "24", rev, 250 * BN, vn("2024-06-30"), mode="ytd"),
    )
    assert quarters(rev) == {1: (65 * BN, 65 * BN, 2), 2: (185 * BN, 250 * BN, 2)}

    # The 31 March reading arrives after the Q2 ones: it fixes Q1 and Q2's own value, the year to date stays.
    await send(update("r-mar", "24", rev, 100 * BN, vn("2024-03-31"), mode="ytd"))
    assert quarters(rev) == {1: (100 * BN, 100 * BN, 3), 2: (150 * BN, 250 * BN, 2)}
    # An even later reading dated before the quarter's last one changes no figure.
    await send(update("r-mar-10", "24", rev, 80 * BN, vn("2024-03-10"), mode="ytd"))
    assert quarters(rev) == {1: (100 * BN, 100 * BN, 4), 2: (150 * BN, 250 * BN, 2)}

    # Q3: a reading, then a delta after it, then the quarter-end reading that includes the delta.
    await send(
        update("r-aug", "24", rev, 330 * BN, vn("2024-08-31"), mode="ytd"),
        update("r-sep-15", "24", rev, 25 * BN, vn("2024-09-15"), mode="delta"),
    )
    assert quarters(rev)[3] == (105 * BN, 355 * BN, 2)
    await send(update("r-sep", "24", rev, 420 * BN, vn("2024-09-30"), mode="ytd"))
    assert quarters(rev) == {
        1: (100 * BN, 100 * BN, 4),
        2: (150 * BN, 250 * BN, 2),
        3: (170 * BN, 420 * BN, 3),
    }
    # Correcting the late Q1 reading moves Q1 and Q2's own value only.
    await send(update("r-mar", "24", rev, 110 * BN, vn("2024-03-31"), mode="ytd", revision=1))
    final = quarters(rev)
    assert final == {1: (110 * BN, 110 * BN, 4), 2: (140 * BN, 250 * BN, 2), 3: (170 * BN, 420 * BN, 3)}

    # Delta-only: a quarter without events in between carries the year to date.
    ne = "new_enterprises"
    await send(
        update("n-jan", "24", ne, 10, vn("2024-01-20")),
        update("n-mar", "24", ne, 12, vn("2024-03-20")),
        update("n-aug", "24", ne, 5, vn("2024-08-20")),
    )
    assert quarters(ne) == {1: (22, 22, 2), 2: (0, 22, 0), 3: (5, 27, 1)}

    # What indicator.totals holds last for each quarter is what the API answers (Q2 was republished each time).
    expected = {unit_key("24", rev, 2024, q): f for q, f in final.items()}
    expected |= {unit_key("24", ne, 2024, q): f for q, f in quarters(ne).items()}

    def done(records: list[ConsumerRecord]) -> bool:
        latest = {k: orjson.loads(v) for k, v in latest_by_key(records).items()}
        return all(
            k in latest and (Decimal(latest[k]["value"]), Decimal(latest[k]["ytd"]), latest[k]["events"]) == f
            for k, f in expected.items()
        )

    await read_until(p.ns, p.totals_topic, done, on_timeout=aggregate.tail)
    counts = {
        o: aggregate.metric(UPDATES_TOTAL, {"outcome": o}) for o in ("applied", "correction", "duplicate", "rejected")
    }
    assert counts == {"applied": 12, "correction": 1, "duplicate": 0, "rejected": 0}


# --- the HTTP API: bad parameters, OpenAPI, health ------------------------------------------------------------


async def test_bad_parameters_are_400_with_a_clear_message_openapi_and_health(pipeline: Pipeline) -> None:
    aggregate = pipeline.aggregate().start()
    seen: list[tuple[int, dict]] = []
    deadline = time.monotonic() + 120
    while not seen or seen[-1][0] != 200:
        assert time.monotonic() < deadline, aggregate.tail()
        assert aggregate.proc is not None and aggregate.proc.poll() is None, aggregate.tail()
        try:
            status, body = get_json(aggregate, "/health")
            seen.append((status, body))
        except OSError:
            pass  # not listening yet
        time.sleep(0.05)
    for status, body in seen:
        if status == 503:
            assert body["status"] == "starting" and not (body["recovered"] and body["assigned"]), body
        else:
            assert status == 200 and body == {"status": "ready", "recovered": True, "assigned": True}, body
    assert aggregate.metric("tiendo_aggregate_recovery_duration_seconds") > 0

    bad = {
        "unknown province, with a suggestion": ({"province": "Bac Nimh"}, "province: unknown province 'Bac Nimh'"),
        "quarter out of range": ({"quarter": "6"}, "quarter: 6 is outside 1..5"),
        "year not a number": ({"year": "abc"}, "year: 'abc' is not an integer"),
        "view": ({"view": "x"}, "view: must be 'unit' or 'current', not 'x'"),
        "unknown parameter": ({"provinse": "Bắc Giang"}, "unknown parameter(s): provinse"),
        "unknown indicator": ({"indicator": "state_budget_revenu"}, "indicator: unknown indicator"),
    }
    for what, (params, message) in bad.items():
        status, body = get_json(aggregate, "/totals", **params)
        assert status == 400, (what, body)
        assert set(body) == {"error"} and body["error"].startswith(message), (what, body)
    assert "did you mean Bắc Ninh" in get_json(aggregate, "/totals", province="Bac Nimh")[1]["error"]
    assert "state_budget_revenue" in get_json(aggregate, "/totals", indicator="state_budget_revenu")[1]["error"]
    assert get_json(aggregate, "/totals", province="Bắc Giang", year=2024, quarter=4, view="current") == (
        200,
        {"totals": [], "count": 0},
    )

    status, spec = get_json(aggregate, "/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.")
    assert {"/totals", "/health", "/metrics"} <= set(spec["paths"])
    names = {prm["name"] for prm in spec["paths"]["/totals"]["get"]["parameters"]}
    assert names == {"province", "indicator", "year", "quarter", "view"}

    # The command line prints the API's 400 as one line and exits 1 (a quarter or view out of range is refused
    # before it asks: tests/unit/test_cli.py); an unreachable worker is one line too.
    url = f"http://127.0.0.1:{aggregate.port}"
    for args, message in (
        (("--province", "Bac Nimh"), "tiendo: error: province: unknown province 'Bac Nimh': did you mean Bắc Ninh"),
    ):
        result = cli("totals", "--url", url, *args)
        assert result.returncode == 1 and result.stdout == "", result
        assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    gone = f"http://127.0.0.1:{free_port()}"
    result = cli("totals", "--url", gone)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result
    assert result.stderr.startswith(f"tiendo: error: the aggregate worker is not reachable at {gone}"), result.stderr
    assert cli("totals", "--url", url).stdout.strip() == "no totals match"


# --- crash safety: SIGKILL at random moments, one restart from the changelog only ------------------------------

CRASH_SEED = 20240331
CRASH_UNITS = ("01", "24", "27", "31", "79", "92")
CRASH_INDICATORS = ("state_budget_revenue", "new_enterprises", "investment_attracted", "site_clearance_area")
CRASH_YEARS = (2022, 2023, 2024)
#: Units that exist before and after the merger, for the one-update series of later years.
SPARSE_UNITS = ("01", "24", "31", "79", "92")


def random_value(rng: random.Random, indicator: str) -> Decimal:
    if indicator == "new_enterprises":
        return Decimal(rng.randint(1, 60))
    if indicator == "site_clearance_area":
        return Decimal(rng.randint(1, 500_000)) / 100  # ha, two decimals
    if indicator == "investment_attracted":
        return Decimal(rng.randint(1, 10**8)) / 100  # USD, cents
    return Decimal(rng.randint(1, 10**6)) * 10**6  # VND, whole millions


def random_as_of(rng: random.Random, year: int, quarter: int) -> datetime:
    start = datetime(year, 3 * quarter - 2, 1, tzinfo=VN_TZ)
    return start + timedelta(seconds=rng.randrange(89 * 24 * 3600))


def generate_updates(rng: random.Random, n: int, sparse: float = 0.1) -> list[IndicatorUpdate]:
    """``n`` delta updates: about 5% exact re-sends of earlier ones and 2% corrections (higher revision, another
    value, a third of them moved to another quarter of the same year); the rest new event identities.

    Most new identities go to a few dense series (6 units x 4 indicators x 3 years); a ``sparse`` part each
    opens a series of its own (a year from 2025 on), written once: a state that a crash leaves only on the local
    disk is then not repaired by a later write to the same series, so the test sees it.
    """
    sent: list[IndicatorUpdate] = []
    latest: dict[str, IndicatorUpdate] = {}  # identity → its highest revision so far
    identities: list[str] = []
    sparse_series = rng.sample(
        [(u, i, y) for u in SPARSE_UNITS for i in CRASH_INDICATORS for y in range(2025, 3000)], int(n * sparse)
    )
    for i in range(n):
        r = rng.random()
        if r < 0.05 and sent:
            sent.append(rng.choice(sent))
            continue
        if r < 0.07 and identities:
            old = latest[rng.choice(identities)]
            quarter = rng.choice([q for q in (1, 2, 3, 4) if q != old.quarter]) if rng.random() < 0.33 else old.quarter
            new = update(
                old.event_id,
                old.province_code,
                old.indicator,
                random_value(rng, old.indicator),
                random_as_of(rng, old.year, quarter),
                revision=old.revision + 1,
                publisher=old.publisher,
            )
        else:
            if r < 0.07 + sparse and sparse_series:
                code, indicator, year = sparse_series.pop()
            else:
                code, indicator, year = rng.choice(CRASH_UNITS), rng.choice(CRASH_INDICATORS), rng.choice(CRASH_YEARS)
            new = update(
                f"e{i}",
                code,
                indicator,
                random_value(rng, indicator),
                random_as_of(rng, year, rng.randint(1, 4)),
                publisher=f"feed.p{rng.randint(1, 3)}",
            )
            identities.append(new.identity)
        latest[new.identity] = new
        sent.append(new)
    return sent


def oracle(updates: Iterable[IndicatorUpdate]) -> dict[tuple, tuple[Decimal, Decimal, int]]:
    """Unit-view totals straight from the input: the final revision of each identity, summed per quarter;
    quarters from Q1 to the last one with events, an empty one in between as (0, carried ytd, 0)."""
    final: dict[tuple[str, str], IndicatorUpdate] = {}
    for u in updates:
        key = (u.unit, u.identity)  # an identity's revisions all stay in one unit
        if key not in final or u.revision > final[key].revision:
            final[key] = u
    sums: dict[tuple, dict[int, list]] = defaultdict(lambda: {q: [Decimal(0), 0] for q in (1, 2, 3, 4)})
    for u in final.values():
        cell = sums[(u.unit, u.indicator, u.year)][u.quarter]
        cell[0] += u.value
        cell[1] += 1
    out: dict[tuple, tuple[Decimal, Decimal, int]] = {}
    for (unit, indicator, year), by_quarter in sums.items():
        last = max(q for q, (_, n) in by_quarter.items() if n)
        ytd = Decimal(0)
        for q in range(1, last + 1):
            value, n = by_quarter[q]
            ytd += value
            out[(unit, indicator, year, q)] = (value, ytd, n)
    return out


async def changelog_totals(p: Pipeline) -> dict[tuple, tuple[Decimal, Decimal, int]]:
    """Unit-view totals rebuilt from the table's changelog alone (the latest state of each series)."""
    consumer = kafkaclients.consumer(p.ns, "test-changelog")
    await consumer.start()
    try:
        assert p.changelog_topic in await consumer.topics()
        parts = [TopicPartition(p.changelog_topic, n) for n in range(UPDATES.partitions)]  # co-partitioned
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        latest: dict[bytes, bytes] = {}
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            for batch in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for r in batch:
                    if r.value is None:
                        latest.pop(r.key, None)
                    else:
                        latest[r.key] = r.value
    finally:
        await consumer.stop()
    rows = [t.to_dict() for raw in latest.values() for t in SeriesState.from_dict(orjson.loads(raw)).totals()]
    return figures(rows)


def assert_same(got: dict, expected: dict, what: str) -> None:
    """Totals equal the oracle's; otherwise say how many quarters differ, with a few examples."""
    if got != expected:
        wrong = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
        extra = sorted(set(got) - set(expected))
        raise AssertionError(
            f"{what}: {len(wrong)} of {len(expected)} quarters differ (got, expected): {list(wrong.items())[:5]}; "
            f"{len(extra)} unexpected: {extra[:5]}"
        )


async def caught_up(p: Pipeline, timeout: float, on_timeout: Callable[[], str]) -> None:
    """Wait until the aggregate consumer group has committed the end of every indicator.updates partition."""
    group = f"{p.ns.namespace}{AGGREGATE_GROUP}"
    parts = [TopicPartition(p.updates_topic, n) for n in range(UPDATES.partitions)]
    admin = kafkaclients.admin(p.ns)
    consumer = kafkaclients.consumer(p.ns, "test-offsets")
    await admin.start()
    await consumer.start()
    try:
        ends = await consumer.end_offsets(parts)
        deadline = time.monotonic() + timeout
        while True:
            committed = await admin.list_consumer_group_offsets(group, partitions=parts)
            if all(tp in committed and committed[tp].offset >= ends[tp] for tp in parts):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{group} committed {committed}, ends {ends}\n{on_timeout()}")
            await asyncio.sleep(1)
    finally:
        await consumer.stop()
        await admin.close()


async def test_sigkill_at_random_moments_loses_nothing_and_counts_nothing_twice(
    pipeline: Pipeline, record_property
) -> None:
    p = pipeline
    rng = random.Random(CRASH_SEED)
    updates = generate_updates(rng, 50_000)
    expected = oracle(updates)
    assert len({(u.unit, u.indicator, u.year) for u in updates}) > 4000
    # Six rounds: publish a chunk, (re)start the worker, let it make progress, SIGKILL it at a random moment.
    # The worker's local state is wiped before the restart after the fourth kill: that run recovers from the
    # changelog. The last run finishes the backlog and is stopped normally.
    rounds, wipe_before = 6, 4
    chunk = -(-len(updates) // rounds)
    aggregate = p.aggregate(TIENDO_SESSION_TIMEOUT_S="6")
    progress: list[float] = []
    ready: list[float] = []
    started = time.monotonic()
    for n in range(rounds):
        await publish_updates(p.ns, p.updates_topic, updates[n * chunk : (n + 1) * chunk])
        if n == wipe_before:
            shutil.rmtree(p.data_dir)
        t0 = time.monotonic()
        aggregate.start()
        aggregate.wait_ready(timeout=120)
        ready.append(round(time.monotonic() - t0, 1))
        target = rng.randint(chunk // 4, chunk * 3 // 4)
        wait_for(lambda t=target: processed(aggregate) >= t, f"round {n}: progress", 120, aggregate.tail)
        time.sleep(rng.uniform(0, 0.5))
        progress.append(processed(aggregate))
        aggregate.kill()
    kills = len(progress)
    assert kills >= 5 and all(progress), progress

    aggregate.start()
    aggregate.wait_ready(timeout=120)
    await caught_up(p, 120, aggregate.tail)
    assert_same(figures(totals(aggregate, view="unit")), expected, "/totals after the crashes")
    assert aggregate.metric(UPDATES_TOTAL, {"outcome": "overflow"}) == 0
    assert aggregate.metric(UPDATES_TOTAL, {"outcome": "rejected"}) == 0
    assert aggregate.stop() == 0, aggregate.tail()
    # Recovery relies on the changelog alone, so it must hold the same state as the local store (it did not when
    # a replay after a crash found only duplicates and wrote nothing: the sparse series showed it).
    assert_same(await changelog_totals(p), expected, "the changelog alone")
    seconds = round(time.monotonic() - started, 1)
    record_property("kills", kills)
    record_property("processed_per_run", progress)
    record_property("seconds_to_ready_per_run", ready)
    record_property("seconds", seconds)
    print(f"\ncrash test: {kills} kills, updates processed per run {progress}, ready after {ready}s; {seconds}s")


async def test_two_replicas_share_partitions_through_kills_and_rebalances(pipeline: Pipeline, record_property) -> None:
    """Two workers, each with its own state folder: partitions move between them as they are killed and restarted
    (the survivor recovers the moved partitions from the changelog the other wrote). Both together end with
    exactly the oracle's totals, and so does the changelog."""
    p = pipeline
    rng = random.Random(CRASH_SEED + 1)
    updates = generate_updates(rng, 20_000)
    expected = oracle(updates)

    def replica(name: str) -> Worker:
        env = p.env(TIENDO_DATA_DIR=str(p.tmp_path / f"state-{name}"), TIENDO_SESSION_TIMEOUT_S="6")
        worker = Worker("aggregate", env, p.tmp_path / f"aggregate-{name}.log", free_port())
        p.workers.append(worker)
        return worker

    a, b = replica("a"), replica("b")
    ALL_PARTITIONS = f'"partitions": {list(range(UPDATES.partitions))}, "event": "partitions_assigned"'  # noqa: N806
    for worker in (a, b):
        worker.start()
    for worker in (a, b):
        worker.wait_ready(timeout=120)
    chunk = len(updates) // 4
    # Round by round, one replica is SIGKILLed while the other keeps (and then takes over) the work.
    for n, victim in enumerate((a, b, a)):
        await publish_updates(p.ns, p.updates_topic, updates[n * chunk : (n + 1) * chunk])
        before = processed(victim)
        wait_for(lambda v=victim, x=before: processed(v) > x, f"round {n}: the victim works", 120, victim.tail)
        survivor = b if victim is a else a
        took_all = survivor.log.read_text().count(ALL_PARTITIONS)
        time.sleep(rng.uniform(0, 0.3))
        victim.kill()
        # Down for longer than its session: the group drops it and the survivor recovers its partitions.
        wait_for(
            lambda s=survivor, x=took_all: s.log.read_text().count(ALL_PARTITIONS) > x,
            f"round {n}: the survivor takes every partition",
            60,
            survivor.tail,
        )
        victim.start()
        victim.wait_ready(timeout=120)
    await publish_updates(p.ns, p.updates_topic, updates[3 * chunk :])
    await caught_up(p, 180, lambda: a.tail() + b.tail())
    # Each replica answers for the partitions it owns; together they hold every series exactly once.
    rows_a, rows_b = totals(a, view="unit"), totals(b, view="unit")
    assert rows_a and rows_b, "both replicas own partitions"
    assert not figures(rows_a).keys() & figures(rows_b).keys()
    assert_same(figures(rows_a) | figures(rows_b), expected, "/totals of the two replicas")
    assert a.stop() == 0 and b.stop() == 0
    assert_same(await changelog_totals(p), expected, "the changelog alone")
    record_property("updates", len(updates))


# --- recovery of 100,000 series from the changelog ------------------------------------------------------------

RECOVERY_KEYS = 100_000
RECOVERY_UNITS = ("01", "04", "08", "11", "12", "14", "20", "22", "24", "31")
RECOVERY_INDICATORS = (
    "state_budget_revenue",
    "new_enterprises",
    "investment_attracted",
    "site_clearance_area",
    "new_jobs",
    "registered_capital",
    "public_investment_disbursed",
    "import_export_value",
    "site_clearance_households",
    "industrial_production_value",
)


def recovery_updates() -> list[IndicatorUpdate]:
    """One update for each of 1000 years × 10 units × 10 indicators: 100,000 series."""
    out = []
    for year in range(2000, 3000):
        as_of = datetime(year, 2, 1, 12, tzinfo=VN_TZ)
        for code in RECOVERY_UNITS:
            for indicator in RECOVERY_INDICATORS:
                out.append(update(f"{code}-{indicator}-{year}", code, indicator, year, as_of))
    assert len({(u.unit, u.indicator, u.year) for u in out}) == RECOVERY_KEYS
    return out


@pytest.mark.slow  # about 2-5 minutes on 2 cores: putting 100,000 series through the worker dominates
async def test_recovery_of_100k_series_from_the_changelog(pipeline: Pipeline, record_property) -> None:
    p = pipeline
    updates = recovery_updates()
    aggregate = p.aggregate()
    aggregate.start().wait_ready()
    t0 = time.monotonic()
    await publish_updates(p.ns, p.updates_topic, updates)
    wait_for(lambda: processed(aggregate) >= RECOVERY_KEYS, "100k updates applied", 300, aggregate.tail)
    applied_s = time.monotonic() - t0
    assert aggregate.metric(UPDATES_TOTAL, {"outcome": "applied"}) == RECOVERY_KEYS
    assert aggregate.stop() == 0, aggregate.tail()

    shutil.rmtree(p.data_dir)
    started = time.monotonic()
    aggregate.start()
    answered = wait_for(lambda: _health(aggregate), "the HTTP server", 60, aggregate.tail)
    assert answered == 503, "not ready while recovering"
    aggregate.wait_ready(timeout=300)
    ready_s = time.monotonic() - started
    recovery_s = wait_for(
        lambda: aggregate.metric("tiendo_aggregate_recovery_duration_seconds"), "recovery metric", 10, aggregate.tail
    )
    keys = wait_for(lambda: aggregate.metric("tiendo_aggregate_state_keys"), "state keys gauge", 30, aggregate.tail)
    assert keys == RECOVERY_KEYS
    t1 = time.monotonic()
    sample = random.Random(7).sample(updates, 10)
    for u in sample:
        rows = totals(aggregate, province=u.province_code, indicator=u.indicator, year=u.year)
        assert [(r["unit"], r["quarter"], Decimal(r["value"]), r["events"]) for r in rows] == [
            (u.unit, 1, Decimal(u.year), 1)
        ]
    query_s = (time.monotonic() - t1) / len(sample)
    assert ready_s < 300, "generous sanity bound"
    record_property("apply_100k_seconds", round(applied_s, 1))
    record_property("recovery_seconds_metric", round(recovery_s, 2))
    record_property("start_to_ready_seconds", round(ready_s, 2))
    record_property("filtered_query_seconds", round(query_s, 3))
    print(
        f"\n100k series: applied in {applied_s:.1f}s; after wiping the local state, recovery took {recovery_s:.2f}s "
        f"(tiendo_aggregate_recovery_duration_seconds), /health 200 after {ready_s:.2f}s; "
        f"a filtered /totals query {query_s:.3f}s"
    )


def _health(worker: Worker) -> int | None:
    try:
        return worker.get("/health", timeout=2)[0]
    except OSError:
        return None
