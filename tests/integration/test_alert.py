"""The alert worker end to end: plans and quarterly totals on the real broker, pages through a real Alertmanager.

Each test has its own namespace (topics and consumer groups), its own Alertmanager and webhook recorder (see
``tests/alertmanager.py``: group_wait/group_interval 1 s, repeat_interval 1 h, so a page sent twice is a second
notification) and runs ``tiendo alert`` as a subprocess with the event clock (evaluation at the latest as_of
seen), a 1 s evaluation timer and a 2 s re-send interval. Plans go in with ``tiendo plans load``; totals are
published to ``indicator.totals`` as the aggregate worker publishes them (``total_message``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from services.aggregate.batches import total_message
from shared import kafkaclients
from shared.aggregation import QuarterTotal
from shared.alerting import format_amount
from shared.config import KafkaSettings
from shared.contracts import View
from shared.evaluation import province_of
from shared.plans import load_plan_file
from shared.provinces import registry
from shared.topics import ALERTS, DLQ, PLANS, TOTALS, UPDATES, TopicSpec, ensure_topics
from shared.updates import series_partition
from shared.vntime import parse_as_of
from tests.alertmanager import Alertmanager, WebhookRecorder, running_alertmanager
from tests.conftest import free_port
from tests.integration.kafka_io import publish, read_until
from tests.workers import ROOT, Worker, tiendo

pytestmark = pytest.mark.kafka

LANG_SON, BAC_GIANG = "20", "24"
BN = Decimal(10**9)

# The seed figures: Lạng Sơn's central 2024 disbursement plan (default curve "disbursement") and Bắc Giang's
# 2024 budget revenue against the central estimate and the provincial one (both quarterly-even).
SEED_PLANS = """\
plans:
  - {province: Lạng Sơn, indicator: public_investment_disbursed, year: 2024, basis: central,
     target: 4500, unit: tỷ đồng, source: Kế hoạch vốn đầu tư công 2024}
  - {province: Bắc Giang, indicator: state_budget_revenue, year: 2024, basis: central,
     target: 11600, unit: tỷ đồng, curve: quarterly-even}
  - {province: Bắc Giang, indicator: state_budget_revenue, year: 2024, basis: provincial,
     target: 14356, unit: tỷ đồng, curve: quarterly-even}
"""
LANG_SON_PLAN = "\n".join(SEED_PLANS.splitlines()[:3]) + "\n"


@dataclass
class Pipeline:
    """What a test needs: the namespace's settings, the worker's environment, Alertmanager and its recorder."""

    ns: KafkaSettings
    env: dict[str, str]
    alertmanager: Alertmanager
    webhook: WebhookRecorder
    tmp: Path
    worker: Worker | None = None
    others: list[Worker] = field(default_factory=list)

    def start_worker(self) -> Worker:
        if self.worker is None:
            self.worker = Worker("alert", self.env, self.tmp / "alert.log", free_port())
        return self.worker.start()

    def describe(self) -> str:
        logs = [(w.command, w.tail(2000)) for w in self.others]
        if self.worker is not None:
            logs.append(("alert", self.worker.tail(3000)))
        logs.append(("alertmanager", self.alertmanager.tail(2000)))
        return "\n".join(f"--- {name} log ---\n{text}" for name, text in logs)

    def write(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return path


@pytest.fixture
async def pipeline(kafka_settings: KafkaSettings, namespace: str, tmp_path: Path) -> AsyncIterator[Pipeline]:
    ns = KafkaSettings(bootstrap_servers=kafka_settings.bootstrap_servers, namespace=namespace)
    await ensure_topics(ns, (PLANS, TOTALS, ALERTS))
    home = tmp_path / "alertmanager"
    home.mkdir()
    with running_alertmanager(home) as (manager, webhook):
        env = {
            "TIENDO_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
            "TIENDO_NAMESPACE": namespace,
            "TIENDO_DATA_DIR": str(tmp_path / "state"),
            "TIENDO_CLOCK": "event",
            "TIENDO_EVALUATE_INTERVAL_S": "1",
            "TIENDO_RESEND_INTERVAL_S": "2",
            "TIENDO_ALERTMANAGER_URLS": manager.url,
            # A SIGKILLed worker's partitions come back after its session times out: keep the restart short.
            "TIENDO_SESSION_TIMEOUT_S": "6",
        }
        found = Pipeline(ns, env, manager, webhook, tmp_path)
        try:
            yield found
        finally:
            for worker in (*found.others, found.worker):
                if worker is not None:
                    worker.stop()


async def load_plans(env: dict[str, str], path: Path) -> None:
    result = await tiendo(env, "plans", "load", str(path))
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"


def total(unit: str, indicator: str, quarter: int, ytd_bn: str, as_of: str, *, year: int = 2024) -> tuple[bytes, bytes]:
    """An ``indicator.totals`` record (unit view) with a year-to-date value in bn VND, as the aggregate sends it."""
    province = province_of(unit)
    ytd = Decimal(ytd_bn) * BN
    quarter_total = QuarterTotal(
        unit=unit,
        province_code=province.code,
        current_code=registry().rollup(province.code, on=date(year, 12, 31)).code,
        indicator=indicator,
        year=year,
        quarter=quarter,
        value=ytd,
        ytd=ytd,
        base_unit="VND",
        events=1,
        last_as_of=parse_as_of(as_of),
        updated_at=datetime.now(UTC),
        sources=("test",),
    )
    return total_message(View.UNIT, quarter_total)


def totals_partition(value: bytes) -> int:
    """The partition the aggregate worker publishes a total to: its series' (``shared.updates.series_partition``)."""
    body = orjson.loads(value)
    return series_partition(body["current_code"], body["indicator"], TOTALS.partitions)


async def publish_totals(ns: KafkaSettings, *records: tuple[bytes, bytes]) -> None:
    producer = kafkaclients.producer(ns, "test-totals")
    await producer.start()
    try:
        topic = ns.topic(TOTALS.name)
        await kafkaclients.send_all(producer, [(topic, k, v, totals_partition(v)) for k, v in records])
    finally:
        await producer.stop()


def alerts_of(notifications: list[dict], **labels: str) -> list[tuple[str, dict]]:
    """(notification status, alert) for each alert carrying ``labels``, in arrival order."""
    return [
        (n["status"], a)
        for n in notifications
        for a in n["alerts"]
        if all(a["labels"].get(k) == v for k, v in labels.items())
    ]


def statuses(notifications: list[dict], **labels: str) -> list[str]:
    return [alert["status"] for _, alert in alerts_of(notifications, **labels)]


async def wait_for_notifications(p: Pipeline, count: int, timeout: float = 30, **labels: str) -> list[dict]:
    return await asyncio.to_thread(
        p.webhook.wait_for, lambda ns: len(alerts_of(ns, **labels)) >= count, timeout, p.describe
    )


async def history(p: Pipeline, done, timeout: float = 30) -> list[dict]:
    """The alerts topic's records, decoded, once ``done(records)`` holds."""
    records = await read_until(
        p.ns,
        p.ns.topic(ALERTS.name),
        lambda rs: done([orjson.loads(r.value) for r in rs]),
        timeout=timeout,
        on_timeout=p.describe,
    )
    return [orjson.loads(r.value) for r in records]


def events_of(records: list[dict], province_uid: str) -> list[tuple[str, str, str]]:
    return [
        (r["event"], r["alert"]["status"], r["alert"]["severity"])
        for r in records
        if r["alert"]["key"]["province_uid"] == province_uid
    ]


async def worker_alerts(worker: Worker, rule: str = "TiendoBehindPlan") -> list[dict]:
    """The worker's alert states (GET /alerts) of one rule."""
    status, body = await asyncio.to_thread(worker.get, "/alerts")
    assert status == 200, body
    return [s for s in orjson.loads(body)["alerts"] if s["key"]["rule"] == rule]


async def eventually(check, timeout: float = 30, interval: float = 0.3, describe=str):
    """Poll the coroutine function ``check`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not met in {timeout}s\n{describe()}")
        await asyncio.sleep(interval)


async def test_behind_plan_pages_once_survives_a_restart_and_resolves_once(pipeline: Pipeline) -> None:
    p = pipeline
    plan_file = p.write("plans.yaml", LANG_SON_PLAN)
    await load_plans(p.env, plan_file)
    worker = p.start_worker()
    await asyncio.to_thread(worker.wait_ready)

    # 1,395 bn disbursed of 4,500 bn by 15 September 2024: 31% where the disbursement curve expects 55.9%.
    await publish_totals(p.ns, total(LANG_SON, "public_investment_disbursed", 3, "1395", "2024-09-15"))
    notifications = await wait_for_notifications(p, 1, province=LANG_SON)
    status, alert = alerts_of(notifications, province=LANG_SON)[0]
    assert status == "firing" and alert["status"] == "firing"
    assert alert["labels"] == {
        "alertname": "TiendoBehindPlan",
        "severity": "critical",
        "province": "20",
        "province_name": "Lạng Sơn",
        "indicator": "public_investment_disbursed",
        "plan_basis": "central",
        "plan_year": "2024",
    }
    [plan] = load_plan_file(plan_file)
    at = parse_as_of("2024-09-15")
    expected = plan.target * plan.expected_fraction(at)
    notes = alert["annotations"]
    assert notes["actual"] == "1,395 bn VND"
    assert notes["target"] == "4,500 bn VND"
    assert notes["expected"] == format_amount(expected, "VND") == "2,516.6 bn VND"
    assert notes["ratio"] == f"{Decimal(1395) * BN / expected:.3f}" == "0.554"
    assert notes["summary"].startswith(
        "Lạng Sơn: public investment capital disbursed is 31% of the 2024 central plan on 15 September"
    )
    assert notes["summary"].endswith("— critical")
    assert notes["as_of"] == notes["evaluated_at"] == "2024-09-15T16:59:59.999999Z"
    assert notes["runbook_url"].endswith("#tiendobehindplan")
    assert alert["startsAt"].startswith("2024-09-15T16:59:59")  # end of 15 September in Vietnam
    assert notifications[0]["groupLabels"] == {"alertname": "TiendoBehindPlan", "province": "20"}

    # SIGKILL while firing, restart on the same state: the worker re-sends (Alertmanager gets the alert again)
    # but nobody is paged again, and the alert is not fired a second time on the alerts topic.
    worker.kill()
    worker.start()
    await asyncio.to_thread(worker.wait_ready)
    await eventually(
        lambda: asyncio.to_thread(worker.metric, "tiendo_alert_deliveries_total", {"outcome": "success"}),
        describe=p.describe,
    )
    await asyncio.sleep(3)
    assert statuses(p.webhook.notifications(), province=LANG_SON) == ["firing"], "a restart must not page again"
    [state] = await worker_alerts(worker)
    assert (state["status"], state["severity"]) == ("firing", "critical")

    # Catching up (2,700 bn by 20 September, the curve expects 2,565 bn) resolves it: one resolved notification.
    await publish_totals(p.ns, total(LANG_SON, "public_investment_disbursed", 3, "2700", "2024-09-20"))
    notifications = await wait_for_notifications(p, 2, province=LANG_SON)
    await asyncio.sleep(3)  # nothing else may follow: no repeat, no second resolve
    notifications = p.webhook.notifications()
    assert statuses(notifications, province=LANG_SON) == ["firing", "resolved"]
    assert notifications[-1]["status"] == "resolved"
    _, resolved = alerts_of(notifications, province=LANG_SON)[1]
    assert resolved["labels"]["severity"] == "critical"
    assert resolved["endsAt"].startswith("2024-09-20T16:59:59")
    assert resolved["annotations"]["actual"] == "2,700 bn VND"

    # The alerts topic keeps the history: fired, then resolved, each once (the restart added nothing).
    records = await history(p, lambda rs: len(rs) >= 2)
    assert events_of(records, LANG_SON) == [("fired", "firing", "critical"), ("resolved", "resolved", "critical")]
    assert {r["alert"]["key"]["rule"] for r in records} == {"TiendoBehindPlan"}
    assert records[0]["evaluated_at"].startswith("2024-09-15T23:59:59")
    assert records[1]["alert"]["annotations"]["ratio"] == resolved["annotations"]["ratio"]


async def test_seed_scenario_lang_son_fires_critical_bac_giang_does_not(pipeline: Pipeline) -> None:
    p = pipeline
    await load_plans(p.env, p.write("seed-plans.yaml", SEED_PLANS))
    worker = p.start_worker()
    await asyncio.to_thread(worker.wait_ready)

    # Bắc Giang's first quarter: 4,680 bn of a 14,356 bn provincial estimate is 32.6%, ahead of the 25% a
    # quarterly-even curve expects on 31 March (ratio 1.30; 1.61 against the 11,600 bn central estimate).
    await publish_totals(p.ns, total(BAC_GIANG, "state_budget_revenue", 1, "4680", "2024-03-31"))

    async def bac_giang_judged() -> list[dict]:
        states = [s for s in await worker_alerts(worker) if s["key"]["province_uid"] == BAC_GIANG]
        return states if {s["key"]["basis"] for s in states} == {"central", "provincial"} else []

    states = await eventually(bac_giang_judged, describe=p.describe)
    assert {(s["key"]["rule"], s["status"]) for s in states} == {("TiendoBehindPlan", "inactive")}
    await asyncio.sleep(3)  # two re-send rounds and a few evaluations: still nothing to page
    assert alerts_of(p.webhook.notifications(), province=BAC_GIANG) == [], "Bắc Giang is ahead of plan on 31 March"
    assert [a["labels"]["alertname"] for a in p.alertmanager.alerts()] == ["TiendoNoReport"]  # Lạng Sơn: nothing yet
    for basis, ratio in (("provincial", 4680 / (14356 * 0.25)), ("central", 4680 / (11600 * 0.25))):
        labels = {"province": BAC_GIANG, "indicator": "state_budget_revenue", "plan_basis": basis}
        assert worker.metric("tiendo_alert_progress_ratio", labels) == pytest.approx(ratio, abs=1e-6), basis
        assert worker.metric("tiendo_alert_actual_progress_ratio", labels) == pytest.approx(ratio / 4, abs=1e-6)
        assert worker.metric("tiendo_alert_expected_progress_ratio", labels) == pytest.approx(0.25, abs=1e-6)

    # Lạng Sơn by 15 September: 1,395 bn of 4,500 bn (31%, the curve expects 55.9%): critical.
    await publish_totals(p.ns, total(LANG_SON, "public_investment_disbursed", 3, "1395", "2024-09-15"))
    notifications = await wait_for_notifications(p, 1, province=LANG_SON, alertname="TiendoBehindPlan")
    [(status, alert)] = alerts_of(notifications, province=LANG_SON, alertname="TiendoBehindPlan")
    assert (status, alert["labels"]["severity"]) == ("firing", "critical")
    assert alert["annotations"]["ratio"] == "0.554"
    # Its first figure also resolves the no-report warning it had from 5 February.
    notifications = await wait_for_notifications(p, 2, province=LANG_SON, alertname="TiendoNoReport")
    assert statuses(notifications, province=LANG_SON, alertname="TiendoNoReport") == ["firing", "resolved"]
    records = await history(p, lambda rs: any(r["alert"]["key"]["rule"] == "TiendoBehindPlan" for r in rs))
    behind_records = [r for r in records if r["alert"]["key"]["rule"] == "TiendoBehindPlan"]
    assert events_of(behind_records, LANG_SON) == [("fired", "firing", "critical")]
    # Nothing behind plan is ever fired for Bắc Giang: its 31 March figure is judged at 31 March, also once Lạng
    # Sơn's report has moved the event clock to 15 September (its silence since is TiendoFeedStale's).
    await asyncio.sleep(3)
    seen = len(records)
    records = await history(p, lambda rs: len(rs) >= seen)
    behind = [r for r in records if r["alert"]["key"]["rule"] == "TiendoBehindPlan"]
    assert [r["alert"]["key"]["province_uid"] for r in behind] == [LANG_SON]
    assert statuses(p.webhook.notifications(), province=BAC_GIANG, alertname="TiendoBehindPlan") == []


BAC_NINH_2024, HAI_PHONG = "27", "31"
SAME_DAYS_PLANS = "plans:\n" + "".join(
    f"  - {{province: {name}, indicator: public_investment_disbursed, year: 2024, basis: central,\n"
    f"     target: {target}, unit: tỷ đồng}}\n"
    for name, target in (("Lạng Sơn", 4500), ("Bắc Giang", 6000), ("Hải Phòng", 20000), ("Bắc Ninh", 5000))
)


async def test_event_clock_replay_of_provinces_reporting_on_the_same_days(pipeline: Pipeline) -> None:
    """Monthly reports on the same days: Lạng Sơn at 105% of plan at every report, Bắc Giang at 80%, Hải Phòng at
    60%, Bắc Ninh silent until April. Each day the others report first and the timer evaluates everything at the
    clock they moved before Lạng Sơn reports: it must never be judged on last month's figure. Bắc Ninh's missing
    first report raises TiendoNoReport until its first figure."""
    p = pipeline
    plan_file = p.write("plans.yaml", SAME_DAYS_PLANS)
    await load_plans(p.env, plan_file)
    plans = {plan.province_uid: plan for plan in load_plan_file(plan_file)}
    worker = p.start_worker()
    await asyncio.to_thread(worker.wait_ready)

    def report(unit: str, as_of: str, factor: str) -> tuple[bytes, bytes]:
        plan, at = plans[unit], parse_as_of(as_of)
        ytd = plan.target * plan.expected_fraction(at) * Decimal(factor) / BN
        return total(unit, "public_investment_disbursed", (at.month - 1) // 3 + 1, format(ytd, "f"), as_of)

    month_ends = ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31", "2024-06-30"]
    for as_of in month_ends:
        others = [report(BAC_GIANG, as_of, "0.8"), report(HAI_PHONG, as_of, "0.6")]
        if as_of >= "2024-04-30":
            others.append(report(BAC_NINH_2024, as_of, "1"))
        await publish_totals(p.ns, *others)
        await asyncio.sleep(1.6)  # the 1 s timer judges every plan at the clock the others moved
        await publish_totals(p.ns, report(LANG_SON, as_of, "1.05"))
    await wait_for_notifications(p, 1, province=BAC_GIANG, alertname="TiendoBehindPlan")
    await wait_for_notifications(p, 1, province=HAI_PHONG, alertname="TiendoBehindPlan")
    await wait_for_notifications(p, 2, province=BAC_NINH_2024, alertname="TiendoNoReport")
    await asyncio.sleep(3)  # a few more evaluations and re-send rounds

    notifications = p.webhook.notifications()
    assert alerts_of(notifications, province=LANG_SON) == [], "Lạng Sơn is on plan at every report"
    [(_, bac_giang)] = alerts_of(notifications, province=BAC_GIANG, alertname="TiendoBehindPlan")
    assert bac_giang["labels"]["severity"] == "warning"
    [(_, hai_phong)] = alerts_of(notifications, province=HAI_PHONG, alertname="TiendoBehindPlan")
    assert hai_phong["labels"]["severity"] == "critical"
    no_report = alerts_of(notifications, province=BAC_NINH_2024, alertname="TiendoNoReport")
    assert [a["status"] for _, a in no_report] == ["firing", "resolved"]
    assert no_report[0][1]["labels"] == {
        "alertname": "TiendoNoReport",
        "severity": "warning",
        "province": "27",
        "province_name": "Bắc Ninh",
        "indicator": "public_investment_disbursed",
        "plan_year": "2024",
    }
    assert "first report due by 5 February 2024" in no_report[0][1]["annotations"]["summary"]
    assert alerts_of(notifications, province=BAC_NINH_2024, alertname="TiendoBehindPlan") == []
    records = await history(p, lambda rs: sum(r["alert"]["key"]["rule"] == "TiendoNoReport" for r in rs) >= 2)
    assert not [r for r in records if r["alert"]["key"]["province_uid"] == LANG_SON]
    assert all(r["alert"]["key"]["rule"] != "TiendoImplausibleFigure" for r in records)

    # The worker's own consumer metrics are set: lag per input partition (caught up: 0) and processing latency.
    lag = {"topic": p.ns.topic(TOTALS.name)}
    assert "tiendo_alert_consumer_lag_messages" in (await asyncio.to_thread(worker.get, "/metrics"))[1].decode()
    assert worker.metric("tiendo_alert_consumer_lag_messages", lag) == 0
    assert worker.metric("tiendo_alert_processing_latency_seconds_count") >= len(month_ends)


async def test_a_plan_removed_while_its_alert_fires_resolves_it(pipeline: Pipeline) -> None:
    p = pipeline
    plan_file = p.write("plans.yaml", LANG_SON_PLAN)
    await load_plans(p.env, plan_file)
    [plan] = load_plan_file(plan_file)
    worker = p.start_worker()
    await asyncio.to_thread(worker.wait_ready)
    await publish_totals(p.ns, total(LANG_SON, "public_investment_disbursed", 3, "1395", "2024-09-15"))
    await wait_for_notifications(p, 1, province=LANG_SON, alertname="TiendoBehindPlan")

    producer = kafkaclients.producer(p.ns, "test-plans")
    await producer.start()
    try:
        await kafkaclients.send_all(producer, p.ns.topic(PLANS.name), [(plan.key.encode(), None)])  # tombstone
    finally:
        await producer.stop()
    notifications = await wait_for_notifications(p, 2, province=LANG_SON, alertname="TiendoBehindPlan")
    await asyncio.sleep(3)  # the plan is gone: no re-fire, no repeat
    assert statuses(p.webhook.notifications(), province=LANG_SON) == ["firing", "resolved"]
    _, resolved = alerts_of(notifications, province=LANG_SON)[-1]
    assert resolved["annotations"]["resolution"] == f"the plan {plan.key} was removed"
    assert resolved["annotations"]["actual"] == "1,395 bn VND", "the last judgement is kept"


def seed_line(feed: str, event_id: str) -> bytes:
    """The first send of an event of the committed sample feeds (which hold bad lines too), byte for byte."""
    path = ROOT / "deploy" / "samples" / "feeds-2024" / f"feed.{feed}.jsonl"
    line = next(line for line in path.read_bytes().splitlines() if f'"event_id":"{event_id}"'.encode() in line)
    assert orjson.loads(line)["event_id"] == event_id
    return line


async def test_seed_events_through_ingest_and_aggregate(
    pipeline: Pipeline, kafka_settings: KafkaSettings, unique: str
) -> None:
    """The same scenario from the sample feeds' own events, through ingest and aggregate workers."""
    p = pipeline
    await ensure_topics(p.ns, (UPDATES, DLQ))
    feeds = {name: f"feed.{unique}-{name}" for name in ("bac-giang", "lang-son")}
    await ensure_topics(kafka_settings, [TopicSpec(topic, 1) for topic in feeds.values()])
    await load_plans(p.env, p.write("seed-plans.yaml", SEED_PLANS))
    env = {**p.env, "TIENDO_TOPIC_PATTERN": rf"feed\.{unique}-.*", "TIENDO_METADATA_MAX_AGE_MS": "2000"}
    p.others = [Worker(name, env, p.tmp / f"{name}.log", free_port()) for name in ("ingest", "aggregate")]
    workers = [*(w.start() for w in p.others), p.start_worker()]
    await asyncio.gather(*(asyncio.to_thread(w.wait_ready) for w in workers))
    alert = workers[-1]

    await publish(kafka_settings, feeds["bac-giang"], [seed_line("bac-giang", "bg-2024-q1-ngansach")])

    async def bac_giang_judged() -> list[dict]:
        states = [s for s in await worker_alerts(alert) if s["key"]["province_uid"] == BAC_GIANG]
        return states if len(states) == 2 else []

    states = await eventually(bac_giang_judged, describe=p.describe)
    assert {s["status"] for s in states} == {"inactive"}
    labels = {"province": BAC_GIANG, "indicator": "state_budget_revenue", "plan_basis": "provincial"}
    assert alert.metric("tiendo_alert_progress_ratio", labels) == pytest.approx(4680 / (14356 * 0.25), abs=1e-6)
    await asyncio.sleep(2)
    assert alerts_of(p.webhook.notifications(), province=BAC_GIANG) == []

    await publish(kafka_settings, feeds["lang-son"], [seed_line("lang-son", "LS-20240915-00117")])
    notifications = await wait_for_notifications(p, 1, province=LANG_SON, alertname="TiendoBehindPlan")
    [(status, found)] = alerts_of(notifications, province=LANG_SON, alertname="TiendoBehindPlan")
    assert (status, found["labels"]["severity"], found["labels"]["plan_basis"]) == ("firing", "critical", "central")
    assert (found["annotations"]["actual"], found["annotations"]["ratio"]) == ("1,395 bn VND", "0.554")


async def test_alertmanager_down_during_a_breach_pages_once_when_back(pipeline: Pipeline) -> None:
    p = pipeline
    await load_plans(p.env, p.write("plans.yaml", LANG_SON_PLAN))
    worker = p.start_worker()
    await asyncio.to_thread(worker.wait_ready)
    p.alertmanager.stop()

    await publish_totals(p.ns, total(LANG_SON, "public_investment_disbursed", 3, "1395", "2024-09-15"))
    failures = {"receiver": "alertmanager", "outcome": "failure"}
    await eventually(
        lambda: asyncio.to_thread(lambda: worker.metric("tiendo_alert_deliveries_total", failures) >= 2),
        describe=p.describe,
    )
    # The worker keeps running and keeps the alert firing while it cannot deliver.
    assert worker.proc is not None and worker.proc.poll() is None
    assert (await asyncio.to_thread(worker.get, "/health"))[0] == 200
    [state] = await worker_alerts(worker)
    assert state["status"] == "firing" and state["last_sent_at"] is None
    assert worker.metric("tiendo_alert_deliveries_total", {"receiver": "alertmanager", "outcome": "success"}) == 0
    assert p.webhook.notifications() == []

    await asyncio.to_thread(p.alertmanager.start)
    await wait_for_notifications(p, 1, province=LANG_SON)
    await asyncio.sleep(4)  # two more re-send rounds reach Alertmanager: still one page
    assert statuses(p.webhook.notifications(), province=LANG_SON) == ["firing"]
    assert worker.metric("tiendo_alert_deliveries_total", {"receiver": "alertmanager", "outcome": "success"}) >= 2
    [state] = await worker_alerts(worker)
    assert state["last_sent_at"] is not None


BAD_CSV = """\
province,indicator,year,basis,target,unit,curve,milestones
Lạng Sơn,public_investment_disbursed,2024,central,4500,tỷ đồng,disbursement,
Bắc Giangg,state_budget_revenue,2024,provincial,14356,tỷ đồng,quarterly-even,
Bắc Giang,budget_revenue,2024,provincial,14356,tỷ đồng,quarterly-even,
TP. Hải Phòng,site_clearance_area,2024,provincial,1200,tỷ đồng,,
Bắc Ninh,site_clearance_households,2024,provincial,3500,hộ,,2024-03-31:0.2;2024-09-30:0.5;2024-06-30:0.7;2024-12-31:1
Bắc Ninh,grdp,2024,provincial,165000,tỷ đồng,,2024-06-30:0.5;2024-12-31:1.2
Lạng Sơn,public_investment_disbursed,2024,central,4600,tỷ đồng,disbursement,
"""
BAD_CSV_ERRORS = [
    (3, r"unknown province 'Bắc Giangg'.*Bắc Giang"),
    (4, r"unknown indicator 'budget_revenue'.*state_budget_revenue"),
    (5, r"site_clearance_area.*ha.*tỷ đồng"),
    (6, r"milestone 2024-06-30 does not come after 2024-09-30"),
    (7, r"milestone 2024-12-31: fraction 1\.2 is not between 0 and 1"),
    (8, r"duplicate plan Lạng Sơn \(20\) public_investment_disbursed 2024 central: already on line 2"),
]
BAD_YAML = """\
plans:
  - {province: Lạng Sơn, indicator: public_investment_disbursed, year: 2024, basis: central,
     target: 4500, unit: tỷ đồng}
  - {province: Atlantis, indicator: state_budget_revenue, year: 2024, basis: central,
     target: 100, unit: tỷ đồng}
  - province: Bắc Giang
    indicator: new_jobs
    year: 2024
    basis: provincial
    target: 30000
    unit: tỷ đồng
  - province: Bắc Giang
    indicator: new_enterprises
    year: 2024
    basis: provincial
    target: 1600
    unit: doanh nghiệp
    milestones: {2024-06-30: 0.6, 2024-09-30: 0.4, 2024-12-31: 1.5}
  - {province: Lang Son, indicator: public_investment_disbursed, year: 2024, basis: central,
     target: 4500, unit: tỷ đồng}
"""
BAD_YAML_ERRORS = [
    (4, r"unknown province 'Atlantis'"),
    (6, r"new_jobs.*tỷ đồng"),
    (12, r"milestone 2024-09-30: fraction 0\.4 is not above 0\.6"),
    (12, r"milestone 2024-12-31: fraction 1\.5 is not between 0 and 1"),
    (19, r"duplicate plan Lạng Sơn \(20\) public_investment_disbursed 2024 central: already on line 2"),
]


BAD_FILES = {"bad.csv": (BAD_CSV, BAD_CSV_ERRORS), "bad.yaml": (BAD_YAML, BAD_YAML_ERRORS)}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
async def test_bad_plan_file_is_rejected_whole_with_every_error_on_its_line(
    kafka_settings: KafkaSettings, namespace: str, tmp_path: Path, name: str
) -> None:
    text, errors = BAD_FILES[name]
    env = {"TIENDO_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers, "TIENDO_NAMESPACE": namespace}
    good = tmp_path / "good.yaml"
    good.write_text(SEED_PLANS, encoding="utf-8")
    await load_plans(env, good)
    before = await tiendo(env, "plans", "show", "--json")
    assert before.returncode == 0, before.stderr
    assert len(before.stdout.splitlines()) == 3

    bad = tmp_path / name
    bad.write_text(text, encoding="utf-8")
    result = await tiendo(env, "plans", "load", str(bad))
    assert result.returncode == 1, f"stdout: {result.stdout}\nstderr: {result.stderr}"
    assert "loaded" not in result.stdout
    heading, *lines = result.stderr.strip().splitlines()
    assert heading == f"tiendo: error: {bad}: {len(errors)} problems, nothing loaded"
    located = [re.fullmatch(rf"{re.escape(str(bad))}:(\d+): (.+)", line) for line in lines]
    assert all(located), f"every problem must be on a line of its own, FILE:LINE: message:\n{result.stderr}"
    found = [(int(m.group(1)), m.group(2)) for m in located if m]
    assert len(found) == len(errors), result.stderr
    for (line, message), (want_line, pattern) in zip(found, errors, strict=True):
        assert line == want_line and re.search(pattern, message), (line, message, want_line, pattern)

    after = await tiendo(env, "plans", "show", "--json")
    assert after.stdout == before.stdout, "nothing of a bad file is published"
