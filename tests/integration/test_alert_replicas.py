"""Alert worker replicas sharing the provinces, against the real broker and a real Alertmanager.

Eight provinces, two per ``indicator.totals`` partition, each with a 2024 disbursement plan; two breach → recovery
cycles. Replica A is SIGKILLed right after the first recoveries are published and restarted later (its partitions
go to B after its session timeout, come back when it rejoins); B is stopped (SIGTERM: it leaves the group) right
after the second recoveries are published. Every breach must be paged (firing at Alertmanager's API and one
firing notification), every recovery resolved (one resolved notification), nothing lost and nothing notified
twice: the webhook's notifications per province are exactly firing, resolved, firing, resolved (Alertmanager
deduplicates re-posts of the same label set; its repeat interval is 1 h).

Also: the lag gauge of a stalled alert worker (SIGSTOP with totals waiting) shows the backlog.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.config import KafkaSettings
from shared.provinces import registry
from shared.topics import ALERT_STATE, ALERTS, PLANS, TOTALS, ensure_topics
from shared.updates import series_partition
from tests.alertmanager import Alertmanager, WebhookRecorder, running_alertmanager
from tests.conftest import free_port
from tests.integration.kafka_io import read_until
from tests.integration.test_alert import load_plans, publish_totals, total
from tests.workers import Worker

pytestmark = pytest.mark.kafka

INDICATOR = "public_investment_disbursed"
#: Two provinces per partition of indicator.totals (asserted below).
PROVINCES = {"01": "Hà Nội", "31": "Hải Phòng", "04": "Cao Bằng", "24": "Bắc Giang",
             "22": "Quảng Ninh", "46": "Huế", "11": "Điện Biên", "14": "Sơn La"}  # fmt: skip
PLANS_YAML = "plans:\n" + "".join(
    f"  - {{province: {name}, indicator: {INDICATOR}, year: 2024, basis: central, target: 4500, unit: tỷ đồng}}\n"
    for name in PROVINCES.values()
)
# Year-to-date bn VND of a 4,500 bn plan on the disbursement curve: on plan on 31 August; 31% by 15 September
# (critical) then 60% by 20 September (resolved); 44% by 15 October (critical) then 71% by 20 October (resolved).
BASELINE = (3, "2400", "2024-08-31")
CYCLES = [
    ((3, "1395", "2024-09-15"), (3, "2700", "2024-09-20")),
    ((4, "2000", "2024-10-15"), (4, "3200", "2024-10-20")),
]


def partition(code: str) -> int:
    return series_partition(registry().rollup(code, on=date(2024, 12, 31)).code, INDICATOR, TOTALS.partitions)


@dataclass
class Replicas:
    ns: KafkaSettings
    env: dict[str, str]
    alertmanager: Alertmanager
    webhook: WebhookRecorder
    tmp: Path
    workers: dict[str, Worker] = field(default_factory=dict)

    def worker(self, name: str, **env: str) -> Worker:
        if name not in self.workers:
            own = {**self.env, "TIENDO_DATA_DIR": str(self.tmp / f"state-{name}"), **env}
            self.workers[name] = Worker("alert", own, self.tmp / f"alert-{name}.log", free_port())
        return self.workers[name]

    def describe(self) -> str:
        logs = [(f"alert {n}", w.tail(2500)) for n, w in self.workers.items()]
        logs.append(("alertmanager", self.alertmanager.tail()[-1500:]))
        return "\n".join(f"--- {name} log ---\n{text}" for name, text in logs)


@pytest.fixture
async def replicas(kafka_settings: KafkaSettings, namespace: str, tmp_path: Path) -> AsyncIterator[Replicas]:
    ns = KafkaSettings(bootstrap_servers=kafka_settings.bootstrap_servers, namespace=namespace)
    await ensure_topics(ns, (PLANS, TOTALS, ALERTS, ALERT_STATE))
    home = tmp_path / "alertmanager"
    home.mkdir()
    with running_alertmanager(home) as (manager, webhook):
        env = {
            "TIENDO_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
            "TIENDO_NAMESPACE": namespace,
            "TIENDO_CLOCK": "event",
            "TIENDO_EVALUATE_INTERVAL_S": "1",
            "TIENDO_RESEND_INTERVAL_S": "2",
            "TIENDO_ALERTMANAGER_URLS": manager.url,
            "TIENDO_SESSION_TIMEOUT_S": "6",
        }
        found = Replicas(ns, env, manager, webhook, tmp_path)
        try:
            yield found
        finally:
            for worker in found.workers.values():
                if worker.proc is not None and worker.proc.poll() is None:
                    os.kill(worker.proc.pid, signal.SIGCONT)
                worker.stop()


def reports(quarter: int, ytd_bn: str, as_of: str) -> list[tuple[bytes, bytes]]:
    return [total(code, INDICATOR, quarter, ytd_bn, as_of) for code in PROVINCES]


def behind_plan(notifications: list[dict]) -> dict[str, list[str]]:
    """Per province, the statuses of the webhook's TiendoBehindPlan notifications, in arrival order."""
    out: dict[str, list[str]] = {code: [] for code in PROVINCES}
    for n in notifications:
        if n["groupLabels"].get("alertname") == "TiendoBehindPlan":
            out[n["groupLabels"]["province"]].append(n["status"])
    return out


def firing_at_alertmanager(manager: Alertmanager) -> set[str]:
    return {
        a["labels"]["province"]
        for a in manager.alerts()
        if a["labels"]["alertname"] == "TiendoBehindPlan" and a["status"]["state"] == "active"
    }


async def owned(worker: Worker) -> set[int]:
    """The totals partitions a replica reports lag for: those it consumes."""
    _, body = await asyncio.to_thread(worker.get, "/metrics")
    return {
        int(line.split('partition="')[1].split('"')[0])
        for line in body.decode().splitlines()
        if line.startswith("tiendo_alert_consumer_lag_messages{")
    }


async def wait_statuses(r: Replicas, want: list[str], timeout: float = 60) -> dict[str, list[str]]:
    """Until every province's notifications start with ``want``."""
    found = await asyncio.to_thread(
        r.webhook.wait_for,
        lambda ns: all(s[: len(want)] == want for s in behind_plan(ns).values()),
        timeout,
        r.describe,
    )
    return behind_plan(found)


async def test_two_replicas_page_every_breach_and_resolve_every_recovery_through_kills_and_rebalances(
    replicas: Replicas,
) -> None:
    r = replicas
    assert Counter(partition(code) for code in PROVINCES) == dict.fromkeys(range(4), 2)
    plan_file = r.tmp / "plans.yaml"
    plan_file.write_text(PLANS_YAML, encoding="utf-8")
    await load_plans(r.env, plan_file)
    a, b = r.worker("a").start(), r.worker("b").start()
    await asyncio.gather(asyncio.to_thread(a.wait_ready), asyncio.to_thread(b.wait_ready))
    started = time.monotonic()
    await publish_totals(r.ns, *reports(*BASELINE))

    async def split() -> tuple[set[int], set[int]] | None:
        mine, theirs = await owned(a), await owned(b)
        return (mine, theirs) if mine and theirs and not mine & theirs and mine | theirs == {0, 1, 2, 3} else None

    shares = await asyncio.wait_for(_poll(split), 60)
    # Cycle 1: every province breaches; every alert fires at Alertmanager, one page each.
    breach, recovery = CYCLES[0]
    await publish_totals(r.ns, *reports(*breach))
    await wait_statuses(r, ["firing"])
    assert firing_at_alertmanager(r.alertmanager) == set(PROVINCES)

    # The recoveries go out and replica A dies at once (SIGKILL): B takes A's partitions after the session
    # timeout and resolves whatever A had not (judged, written or delivered).
    await publish_totals(r.ns, *reports(*recovery))
    a.kill()
    await wait_statuses(r, ["firing", "resolved"], timeout=90)
    assert await owned(b) == {0, 1, 2, 3}
    assert firing_at_alertmanager(r.alertmanager) == set()

    # A comes back (a join: the partitions are split again); cycle 2 breaches.
    a.start()
    await asyncio.to_thread(a.wait_ready)
    await asyncio.wait_for(_poll(split), 60)
    breach, recovery = CYCLES[1]
    await publish_totals(r.ns, *reports(*breach))
    await wait_statuses(r, ["firing", "resolved", "firing"], timeout=60)
    assert firing_at_alertmanager(r.alertmanager) == set(PROVINCES)

    # The recoveries go out and B leaves (SIGTERM: a rebalance onto A).
    await publish_totals(r.ns, *reports(*recovery))
    b.stop()
    final = await wait_statuses(r, ["firing", "resolved", "firing", "resolved"], timeout=90)
    await asyncio.sleep(4)  # two more re-send rounds: nothing more may be notified
    final = behind_plan(r.webhook.notifications())
    assert final == {code: ["firing", "resolved", "firing", "resolved"] for code in PROVINCES}, "no duplicate page"
    assert firing_at_alertmanager(r.alertmanager) == set()
    assert await owned(a) == {0, 1, 2, 3}
    # Every metric family the worker registers has samples (lag, latency and batch size from the skeleton).
    _, body = await asyncio.to_thread(a.get, "/metrics")
    empty = [f.name for f in text_string_to_metric_families(body.decode()) if not f.samples]
    assert empty == [], f"families without samples: {empty}"

    # The alerts topic: every change at least once (a replica killed after its history record was written and
    # before its state was may record a change twice).
    records = await read_until(
        r.ns, r.ns.topic(ALERTS.name), lambda rs: len(rs) >= 4 * len(PROVINCES), on_timeout=r.describe
    )
    events = Counter(
        (h["alert"]["key"]["province_uid"], h["event"])
        for h in (orjson.loads(rec.value) for rec in records)
        if h["alert"]["key"]["rule"] == "TiendoBehindPlan"
    )
    assert all(events[(code, e)] >= 2 for code in PROVINCES for e in ("fired", "resolved")), events
    extra = sum(events.values()) - 4 * len(PROVINCES)
    print(
        f"\nreplicas: split {sorted(shares[0])}/{sorted(shares[1])}; 1 SIGKILL + restart, 1 leave; "
        f"{2 * len(PROVINCES)} breaches paged, {2 * len(PROVINCES)} recoveries resolved; webhook notifications per "
        f"province {final['01']} (0 duplicates); history records beyond one per change: {extra}; "
        f"{time.monotonic() - started:.0f} s"
    )


async def _poll(check, interval: float = 0.3):
    while not (found := await check()):
        await asyncio.sleep(interval)
    return found


async def test_a_stalled_alert_worker_shows_its_lag(replicas: Replicas) -> None:
    """SIGSTOP with totals waiting: a stopped process answers no scrape (TiendoWorkerDown's case); once it runs
    again its lag gauge shows the backlog while it works it off in small batches, then 0 — the gauge reads the
    broker's end offsets, so TiendoConsumerLagGrowing sees a worker that falls behind."""
    r = replicas
    plan_file = r.tmp / "plans.yaml"
    plan_file.write_text(PLANS_YAML, encoding="utf-8")
    await load_plans(r.env, plan_file)
    worker = r.worker("solo", TIENDO_BATCH_SIZE="1").start()
    await asyncio.to_thread(worker.wait_ready)
    await publish_totals(r.ns, *reports(*BASELINE))
    lag = {"topic": r.ns.topic(TOTALS.name)}
    await asyncio.wait_for(
        _poll(lambda: asyncio.to_thread(lambda: worker.metric("tiendo_alert_totals_total", {"outcome": "applied"}))),
        30,
    )
    assert worker.proc is not None
    os.kill(worker.proc.pid, signal.SIGSTOP)
    try:
        backlog = []
        for day in range(1, 31):  # 60 rounds of every province's report: 480 totals waiting
            backlog += reports(3, str(2400 + day), f"2024-09-{day:02d}")
            backlog += reports(4, str(2500 + day), f"2024-10-{day:02d}")
        await publish_totals(r.ns, *backlog)
    finally:
        os.kill(worker.proc.pid, signal.SIGCONT)
    seen: list[float] = []
    deadline = time.monotonic() + 60
    while not (seen and max(seen) > 0 and seen[-1] == 0):  # the first answer may be the gauge set before SIGSTOP
        assert time.monotonic() < deadline, f"lag not seen, or not back to 0: {seen[-20:]}\n{r.describe()}"
        seen.append(await asyncio.to_thread(worker.metric, "tiendo_alert_consumer_lag_messages", lag))
    print(f"\nstalled alert worker: lag seen after SIGCONT peaked at {max(seen):.0f} of {len(backlog)}, then 0")
