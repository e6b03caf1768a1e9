"""Alertmanager HA: three real Alertmanagers in one cluster, the alert worker posting every alert to all three.

Four provinces, each with a 2024 disbursement plan, go through breach → recovery cycles (as in
``test_alert_replicas``): a breach is 22% of the plan (critical), a recovery 100%. Between cycles and inside them
the test kills (SIGKILL) the member that would notify first (position 0) and pauses (SIGSTOP: a network-slow or
partitioned peer) another, then brings them back (a restart on the same ports and storage; SIGCONT).

What Alertmanager's HA design promises (docs/high_availability.md upstream): every member receives every alert
from the worker; a member waits ``position × peer_timeout`` before notifying a group, then notifies only what
the notification log (nflog, gossiped between members) does not show as notified already; a failed member leaves
the positions; a partitioned member "fails open" (it notifies on its own). So: at least once, with duplicates
possible only while a member is cut off, and never more than one notification of a change per member (each
member's own nflog), except that a member resuming from a pause may flush the view it had when it stopped once
before the worker's newer request reaches it. The test asserts that, per province and cycle: every breach paged
and every recovery resolved at the webhook, resolved last; a member repeating a change only in a cycle with a
pause, and at most once; no duplicate at all in the healthy cycles before the faults and after the healing; no
member holding a page at the end (the worker never lets a member apply an older state after a newer one); and
one label set per alert across every notification and every member (the fingerprint Alertmanager deduplicates
by). It prints the figures: breaches, pages, resolved, duplicates, repeats, kills, pauses. CI runs 4 cycles
(about a minute); ``--long`` runs 18.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest

from shared.config import KafkaSettings
from shared.topics import ALERT_STATE, ALERTS, PLANS, TOTALS, ensure_topics
from tests.alertmanager import (
    AlertmanagerCluster,
    Gossip,
    Notification,
    WebhookRecorder,
    recorder_config,
    running_cluster,
)
from tests.conftest import free_port
from tests.integration.test_alert import load_plans, publish_totals, total
from tests.workers import Worker

pytestmark = pytest.mark.kafka

INDICATOR = "public_investment_disbursed"
PROVINCES = {"01": "Hà Nội", "31": "Hải Phòng", "04": "Cao Bằng", "24": "Bắc Giang"}
PLANS_YAML = "plans:\n" + "".join(
    f"  - {{province: {name}, indicator: {INDICATOR}, year: 2024, basis: central, target: 4500, unit: tỷ đồng}}\n"
    for name in PROVINCES.values()
)
BASELINE = "2024-08-31"  # on plan: 2,400 bn of 4,500 (53%)
BREACH_BN, RECOVERY_BN = "1000", "4500"  # 22% of the plan (critical from September on), then all of it
VN = timedelta(hours=7)
SIZE = 3
GOSSIP = Gossip()
#: As in production (10 s, 2 min against 15 s per position): a group wait shorter than one position wait, a group
#: interval longer than the last member's. A member snapshots a group's alerts at each flush, waits its position ×
#: peer_timeout, then compares the snapshot with the notification log (nflog). Flushes stay in step at every member
#: only so: with waits longer than the interval they drift apart, and a snapshot taken before a change is compared
#: after an earlier member notified the change, so the later member sends the previous state again (firing after
#: resolved) and then the current one; with a group wait longer than a position wait, a member whose group
#: outlived the last cycle (so keeps its old timing) notifies a breach before the first member's new group has
#: (both seen with 1 s and 1 s).
GROUP_WAIT_S, GROUP_INTERVAL_S = 0.25, 1.5
#: After each notification, before the next fault or change: every member has decided on its last snapshot of the
#: group. A stale notification whose nflog entry is newer than the next change's makes the members believe the
#: receiver knows the alert fires, and the next breach of the same fingerprint is not paged until repeat_interval
#: (seen with 0.6 s cycles). Real breaches and recoveries are days apart.
QUIET_S = GROUP_INTERVAL_S + (SIZE - 1) * GOSSIP.peer_timeout_s + 0.5
CONFIG = recorder_config("{webhook}", group_wait_s=GROUP_WAIT_S, group_interval_s=GROUP_INTERVAL_S)
#: When a fault is applied: before the breach is published, or before the recovery is.
Moment = Literal["breach", "recovery"]


@dataclass(frozen=True)
class Cycle:
    """One breach → recovery; ``kill``/``pause``: the member at position 0 then (killed members stay down, paused
    ones stay paused, until a cycle that ``heals``: after its recovery is resolved)."""

    kill: Moment | None = None
    pause: Moment | None = None
    heals: bool = False

    @property
    def healthy(self) -> bool:
        return self.kill is None and self.pause is None


CI_CYCLES = [
    Cycle(),  # the cluster deduplicates: one page, one resolved
    Cycle(kill="breach"),  # the first notifier is gone: the next one pages
    Cycle(pause="recovery", heals=True),  # one dead, one paused: the last one resolves; then both come back
    Cycle(),  # healed: deduplicating again
]
LONG_CYCLES = [
    Cycle(),
    *[
        c
        for _ in range(4)
        for c in (
            Cycle(kill="breach"),
            Cycle(pause="recovery", heals=True),
            Cycle(pause="breach", heals=True),
            Cycle(kill="recovery", heals=True),
        )
    ],
    Cycle(),
]


def day(n: int) -> str:
    """2024-09-01 plus ``n`` days: cycle i breaches on day 2i and recovers on day 2i + 1."""
    return (date(2024, 9, 1) + timedelta(days=n)).isoformat()


def reports(ytd_bn: str, as_of: str) -> list[tuple[bytes, bytes]]:
    quarter = (int(as_of[5:7]) - 1) // 3 + 1
    return [total(code, INDICATOR, quarter, ytd_bn, as_of) for code in PROVINCES]


def vn_date(rfc3339: str) -> str:
    """The Vietnam-time date of a timestamp: the ``since`` annotation (the breach reading's day) names a cycle.
    Not ``startsAt``: Alertmanager keeps the earliest start of a fingerprint it still holds, and a resolved alert
    stays held (until ``--alerts.gc-interval``, 30 min), so a re-fire is notified with the first cycle's start."""
    return (datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).astimezone(UTC) + VN).date().isoformat()


@dataclass
class Sent:
    """One alert of one webhook notification: which member sent it, for which province and cycle, and how."""

    member: int
    province: str
    cycle: int
    status: str
    labels: tuple[tuple[str, str], ...]


@dataclass
class HA:
    ns: KafkaSettings
    env: dict[str, str]
    cluster: AlertmanagerCluster
    webhook: WebhookRecorder
    tmp: Path
    cycles: list[Cycle]
    worker: Worker | None = None
    breach_days: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        worker = self.worker.tail(2500) if self.worker is not None else "(not started)"
        return f"--- alert worker log ---\n{worker}\n{self.cluster.tail()}"

    def sent(self, notifications: list[Notification]) -> list[Sent]:
        """Every TiendoBehindPlan alert of the notifications, attributed to its member and cycle."""
        out = []
        for n in notifications:
            for a in n["alerts"]:
                if a["labels"].get("alertname") != "TiendoBehindPlan":
                    continue
                out.append(
                    Sent(
                        member=self.cluster.member_of(n["externalURL"]),
                        province=a["labels"]["province"],
                        cycle=self.breach_days[vn_date(a["annotations"]["since"])],
                        status=a["status"],
                        labels=tuple(sorted(a["labels"].items())),
                    )
                )
        return out

    async def wait_all(self, cycle: int, status: str, timeout: float = 60) -> float:
        """Until every province has a ``status`` notification of ``cycle``; the seconds it took."""
        started = time.monotonic()

        def done(ns: list[Notification]) -> bool:
            seen = {s.province for s in self.sent(ns) if s.cycle == cycle and s.status == status}
            return seen == set(PROVINCES)

        def describe() -> str:
            seen = [(s.member, s.province, s.cycle, s.status) for s in self.sent(self.webhook.notifications())]
            return (
                f"waiting for cycle {cycle} {status}; (member, province, cycle, status) seen: {seen}\n{self.describe()}"
            )

        await asyncio.to_thread(self.webhook.wait_for, done, timeout, describe)
        return time.monotonic() - started


def long_mode(config: pytest.Config) -> bool:
    return bool(config.getoption("--long", default=False)) or os.environ.get("TIENDO_FAULTS_LONG") == "1"


@pytest.fixture
async def ha(
    kafka_settings: KafkaSettings, namespace: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[HA]:
    ns = KafkaSettings(bootstrap_servers=kafka_settings.bootstrap_servers, namespace=namespace)
    await ensure_topics(ns, (PLANS, TOTALS, ALERTS, ALERT_STATE))
    cycles = LONG_CYCLES if long_mode(request.config) else CI_CYCLES
    with running_cluster(tmp_path / "alertmanagers", SIZE, CONFIG, GOSSIP) as (cluster, webhook):
        env = {
            "TIENDO_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
            "TIENDO_NAMESPACE": namespace,
            "TIENDO_DATA_DIR": str(tmp_path / "state"),
            "TIENDO_CLOCK": "event",
            "TIENDO_EVALUATE_INTERVAL_S": "1",
            "TIENDO_RESEND_INTERVAL_S": "2",
            "TIENDO_ALERTMANAGER_URLS": ",".join(cluster.urls),
        }
        found = HA(ns, env, cluster, webhook, tmp_path, cycles)
        found.breach_days = {day(2 * i): i for i in range(len(cycles))}
        try:
            yield found
        finally:
            if found.worker is not None:
                found.worker.stop()
            # Every notification, with its arrival order, for a failure's post-mortem.
            (tmp_path / "notifications.json").write_text(json.dumps(webhook.notifications(), ensure_ascii=False))


async def test_three_alertmanagers_page_every_breach_and_resolve_every_recovery_through_a_kill_and_a_pause(
    ha: HA,
) -> None:
    r = ha
    members = r.cluster.members
    plan_file = r.tmp / "plans.yaml"
    plan_file.write_text(PLANS_YAML, encoding="utf-8")
    await load_plans(r.env, plan_file)
    r.worker = Worker("alert", r.env, r.tmp / "alert.log", free_port()).start()
    await asyncio.to_thread(r.worker.wait_ready)
    started = time.monotonic()
    await publish_totals(r.ns, *reports("2400", BASELINE))
    killed: list[int] = []
    paused: list[int] = []
    kills = pauses = 0
    took: dict[str, list[float]] = {"page": [], "resolved": []}

    def first_notifier() -> int:
        """The running, unpaused member at the lowest position (Alertmanager's own view)."""
        live = [i for i in range(len(members)) if i not in killed and i not in paused]
        return min(live, key=lambda i: members[i].metric("alertmanager_peer_position") or 0)

    async def faults(cycle: Cycle, moment: Moment) -> None:
        nonlocal kills, pauses
        if cycle.kill == moment:
            victim = await asyncio.to_thread(first_notifier)
            await asyncio.to_thread(members[victim].kill)
            killed.append(victim)
            kills += 1
        if cycle.pause == moment:
            victim = await asyncio.to_thread(first_notifier)
            members[victim].pause()
            paused.append(victim)
            pauses += 1

    for i, cycle in enumerate(r.cycles):
        await faults(cycle, "breach")
        await publish_totals(r.ns, *reports(BREACH_BN, day(2 * i)))
        took["page"].append(await r.wait_all(i, "firing"))
        await asyncio.sleep(QUIET_S)
        await faults(cycle, "recovery")
        await publish_totals(r.ns, *reports(RECOVERY_BN, day(2 * i + 1)))
        took["resolved"].append(await r.wait_all(i, "resolved"))
        await asyncio.sleep(QUIET_S)
        if cycle.heals:
            for m in killed:
                await asyncio.to_thread(members[m].start)
            for m in paused:
                members[m].resume()
            killed.clear()
            paused.clear()
            await asyncio.to_thread(r.cluster.wait_joined, members)
            # Until every member has let go of the groups the faults left (a group outlives its resolved alert
            # while the worker re-sends it, and the worker re-sends until every member has accepted it).
            await asyncio.to_thread(r.cluster.wait_quiet, members)

    # Late notifications (a resumed member's, a re-send's) have time to arrive.
    await asyncio.sleep(QUIET_S + 2 * 2)
    sent = r.sent(r.webhook.notifications())
    per_change = Counter((s.province, s.cycle, s.status) for s in sent)
    per_member = Counter((s.member, s.province, s.cycle, s.status) for s in sent)
    changes = [(p, i, status) for p in PROVINCES for i in range(len(r.cycles)) for status in ("firing", "resolved")]
    assert all(per_change[c] >= 1 for c in changes), f"a change never notified: {per_change}"
    assert set(per_change) == set(changes), f"notifications of no change: {set(per_change) - set(changes)}"
    paused_cycles = {i for i, c in enumerate(r.cycles) if c.pause}
    # A paused member resumes with the view it had when it stopped (the firing it held, say) and may flush that view
    # before the worker's newer request reaches it, gossip already telling it that another member notified the
    # change since: it notifies its old state once more, and the others the current state again. Alertmanager's HA
    # design allows this ("fails open" while cut off); nothing else may repeat.
    repeats = {k: n for k, n in per_member.items() if n > 1}
    assert all(n == 2 and k[2] in paused_cycles for k, n in repeats.items()), f"a member repeated: {repeats}"
    duplicates = {c: n - 1 for c, n in per_change.items() if n > 1}
    healthy_before_and_after = {0, len(r.cycles) - 1}
    assert not [c for c in duplicates if c[1] in healthy_before_and_after], f"duplicates while healthy: {duplicates}"
    # Each province's notifications, in arrival order: never one of an earlier cycle after a later one's; in every
    # cycle without a pause, firing before resolved; in every cycle, resolved last (no page left standing).
    for p in PROVINCES:
        order = [(s.cycle, s.status) for s in sent if s.province == p]
        assert [c for c, _ in order] == sorted(c for c, _ in order), f"{p}: {order}"
        for i in range(len(r.cycles)):
            statuses = [status for c, status in order if c == i]
            assert statuses[-1] == "resolved", f"{p}, cycle {i}: {statuses}"
            if i not in paused_cycles:
                assert statuses == sorted(statuses, key=lambda st: st != "firing"), f"{p}, cycle {i}: {statuses}"
    # And no member holds a page now: a stale request applied late would keep one firing until its endsAt.
    now = datetime.now(UTC)
    for m in members:
        standing = [
            a["labels"]["province"]
            for a in await asyncio.to_thread(m.alerts)
            if a["labels"].get("alertname") == "TiendoBehindPlan"
            and datetime.fromisoformat(a["endsAt"].replace("Z", "+00:00")) > now
        ]
        assert not standing, f"member {members.index(m)} still holds firing alerts: {standing}"
    # One label set per alert: in every notification, and at every member now.
    label_sets = {p: {s.labels for s in sent if s.province == p} for p in PROVINCES}
    for m in members:
        for a in await asyncio.to_thread(m.alerts):
            if a["labels"].get("alertname") == "TiendoBehindPlan":
                label_sets[a["labels"]["province"]].add(tuple(sorted(a["labels"].items())))
    assert all(len(s) == 1 for s in label_sets.values()), f"label sets changed: {label_sets}"
    failures = await asyncio.to_thread(
        r.worker.metric, "tiendo_alert_deliveries_total", {"receiver": "alertmanager", "outcome": "failure"}
    )
    assert (failures > 0) == (kills + pauses > 0)

    figures = {
        "cycles": len(r.cycles),
        "breaches": len(PROVINCES) * len(r.cycles),
        "pages": sum(n for (_, _, status), n in per_change.items() if status == "firing"),
        "resolved": sum(n for (_, _, status), n in per_change.items() if status == "resolved"),
        "duplicates": sum(duplicates.values()),
        "member_repeats": len(repeats),
        "kills": kills,
        "pauses": pauses,
        "by_member": dict(sorted(Counter(s.member for s in sent).items())),
        "failed_deliveries": failures,
        "page_s_max": round(max(took["page"]), 1),
        "resolved_s_max": round(max(took["resolved"]), 1),
        "faulty_cycle_duplicates": {
            i: sum(n for (_, c, _), n in duplicates.items() if c == i)
            for i, cy in enumerate(r.cycles)
            if not cy.healthy
        },
        "seconds": round(time.monotonic() - started),
    }
    print("\nalertmanager HA: " + json.dumps(figures))


def test_cycles_fault_each_kind_and_end_healthy() -> None:
    """The scenarios: both begin and end healthy (the dedup checks), kill and pause each member position-0 victim
    at both moments in the long one, and heal everything they break before the end."""
    for cycles in (CI_CYCLES, LONG_CYCLES):
        assert cycles[0].healthy and cycles[-1].healthy
        assert any(c.kill for c in cycles) and any(c.pause for c in cycles)
        broken = 0
        for c in cycles:
            broken += (c.kill is not None) + (c.pause is not None)
            broken = 0 if c.heals else broken
        assert broken == 0
        assert len(cycles) * 2 < 120  # breach and recovery days stay in 2024 after 1 September
    assert {c.kill for c in LONG_CYCLES} >= {"breach", "recovery"}
    assert {c.pause for c in LONG_CYCLES} >= {"breach", "recovery"}
