"""A burst of feed events on a reporting cut-off day: ingest falls behind (its lag gauge rises), catches up (lag 0),
every event is accounted for, and the alert worker judging a province that stays on track never fires or flaps.

CI: 20,000 events; ``--long``: 100,000. All are dated 30 June 2024 (the Q2 cut-off) and published at once while
ingest, aggregate and alert (event clock: evaluation at the latest ``as_of`` seen) run. Lạng Sơn's 2024 new-jobs
plan (10,000 people, quarterly-even: 5,000 expected by 30 June) is already met before the burst (6,000 reported on
29 June) and the burst only adds to it, so its alert must stay silent throughout, whatever order the partial totals
arrive in. As a control, Bắc Giang's plan (5 people per burst event; it reported a tenth of that before the burst,
and the burst brings it about a quarter of what 30 June expects) is far behind: its alert fires once, and only
once.
"""

from __future__ import annotations

import asyncio
import random
import time
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from services.alert.plans import publish_plans
from shared.config import KafkaSettings
from shared.consuming import ALERT_GROUP
from shared.plans import load_plan_file
from shared.topics import ALERTS, TOTALS, UPDATES, TopicSpec
from tests.faults.pipeline import (
    AGGREGATED,
    INDICATORS,
    INGESTED,
    UNITS,
    Message,
    Stack,
    check_accounting,
    committed_all,
    differences,
    feed_body,
    oracle,
    publish,
    read_topic,
    settled_totals,
)
from tests.workers import Worker

pytestmark = pytest.mark.kafka

ON_TRACK, BEHIND = "20", "24"  # Lạng Sơn, Bắc Giang
PLANS = """\
plans:
  - {province: Lạng Sơn, indicator: new_jobs, year: 2024, basis: provincial, target: 10000, unit: người,
     curve: quarterly-even}
  - {province: Bắc Giang, indicator: new_jobs, year: 2024, basis: provincial, target: {behind_target}, unit: người,
     curve: quarterly-even}
"""
LAG = "tiendo_ingest_consumer_lag_messages"
RATIO = "tiendo_alert_progress_ratio"


def event(topic: str, event_id: str, code: str, indicator: int, *, day: str, value: int) -> Message:
    name, unit, factor = INDICATORS[indicator]
    body = feed_body(event_id, code, name, unit, as_of=day, value=value)
    quarter = (int(day[5:7]) - 1) // 3 + 1
    return Message(
        topic, event_id.encode(), orjson.dumps(body), "new", event_id, 0, (code, name, 2024, quarter),
        Decimal(value) * factor,
    )  # fmt: skip


def gauge(worker: Worker, name: str, labels: dict[str, str] | None = None) -> float | None:
    try:
        return worker.metric(name, labels)
    except OSError:
        return None


async def test_burst_on_a_cutoff_day_drains_and_no_alert_flaps(
    kafka_settings: KafkaSettings, unique: str, tmp_path: Path, long_mode: bool
) -> None:
    n = 100_000 if long_mode else 20_000
    rng = random.Random(n)
    stack = Stack(kafka_settings.bootstrap_servers, unique, tmp_path)
    feed = stack.feed("burst")
    await stack.create_topics([TopicSpec(feed, 2)])
    plan_file = tmp_path / "plans.yaml"
    plan_file.write_text(PLANS.replace("{behind_target}", str(5 * n)), encoding="utf-8")
    await publish_plans(stack.ns, load_plan_file(plan_file))
    new_jobs = next(i for i, (name, _, _) in enumerate(INDICATORS) if name == "new_jobs")
    before = event(feed, "before-burst", ON_TRACK, new_jobs, day="2024-06-29", value=6000)
    # The control's own report before the burst: far behind, yet a plausible figure (1/25 of what 30 June expects).
    control = event(feed, "control-before-burst", BEHIND, new_jobs, day="2024-06-29", value=n // 10)
    burst = [
        event(
            feed, f"b{i}", rng.choice(UNITS), rng.randrange(len(INDICATORS)), day="2024-06-30", value=rng.randint(1, 50)
        )
        for i in range(n)
    ]
    expected = oracle([before, control, *burst])

    ingest, aggregate, alert = stack.ingest(), stack.aggregate(), stack.alert()
    try:
        for worker in (ingest, aggregate, alert):
            worker.start()
        for worker in (ingest, aggregate, alert):
            await asyncio.to_thread(worker.wait_ready, 180)
        origins = await publish(stack.plain, [before, control])
        on_track = {"province": ON_TRACK, "indicator": "new_jobs", "plan_basis": "provincial"}
        deadline = time.monotonic() + 120
        while not (ratio_before := await asyncio.to_thread(gauge, alert, RATIO, on_track)):
            assert time.monotonic() < deadline, f"Lạng Sơn never judged before the burst\n{stack.logs()}"
            await asyncio.sleep(0.5)

        # The burst, watched: ingest's lag (summed over partitions) and Lạng Sơn's progress ratio.
        lags: list[float] = []
        ratios: list[float] = []
        started = time.monotonic()
        sending = asyncio.create_task(publish(stack.plain, burst))
        deadline = time.monotonic() + 300
        while True:
            lag, done = await asyncio.gather(
                asyncio.to_thread(gauge, ingest, LAG), asyncio.to_thread(gauge, ingest, INGESTED)
            )
            ratio = await asyncio.to_thread(gauge, alert, RATIO, on_track)
            lags.append(lag or 0.0)
            if ratio:
                ratios.append(ratio)
            if sending.done() and done == n + 2 and lag == 0:
                break
            assert ingest.proc is not None and ingest.proc.poll() is None, ingest.tail()
            assert time.monotonic() < deadline, f"burst not drained: {done} processed, lag {lag}\n{stack.logs()}"
            await asyncio.sleep(0.1)
        drained_s = time.monotonic() - started
        origins += await sending
        assert max(lags) > 0, "ingest's lag never showed the burst"
        assert lags[-1] == 0
        assert ingest.metric(INGESTED, {"outcome": "accepted"}) == n + 2

        await committed_all(stack.ns, stack.aggregate_group, [stack.ns.topic(UPDATES.name)], 180, stack.logs)
        got = await settled_totals(stack, aggregate, expected, 60)
        assert not differences(got, expected), differences(got, expected)
        assert aggregate.metric(AGGREGATED, {"outcome": "applied"}) == n + 2
        accounting = await check_accounting(stack, [before, control, *burst], origins)
        # The alert worker has read every total, and evaluated again since (its timer runs every second).
        alert_group = f"{stack.ns.namespace}{ALERT_GROUP}"
        await committed_all(stack.ns, alert_group, [stack.ns.topic(TOTALS.name)], 180, stack.logs)
        await asyncio.sleep(3)
        ratios.append(await asyncio.to_thread(alert.metric, RATIO, on_track))
        ytd = expected[(ON_TRACK, "new_jobs", 2024, 2)][1]
        assert ratios[-1] == pytest.approx(float(ytd / 5000)), "the final judgement uses the final figures"
        assert min(ratios) >= 1 and ratio_before >= 1, "on track before, during and after the burst"

        history = [orjson.loads(r.value) for r in await read_topic(stack.ns, stack.ns.topic(ALERTS.name))]
        events = [(h["event"], h["alert"]["key"]["province_uid"], h["alert"]["key"]["rule"]) for h in history]
        assert not [e for e in events if e[1] == ON_TRACK], f"Lạng Sơn is on track: {events}"
        assert events == [("fired", BEHIND, "TiendoBehindPlan")], "the control fires once and stays firing"
        status, body = await asyncio.to_thread(alert.get, "/alerts")
        states = {(s["key"]["province_uid"], s["key"]["rule"]): s["status"] for s in orjson.loads(body)["alerts"]}
        assert status == 200 and states.get((ON_TRACK, "TiendoBehindPlan"), "inactive") == "inactive", states
        print(
            f"\nburst of {n} events: ingest lag peaked at {max(lags):.0f} messages, drained in {drained_s:.1f}s "
            f"({len(lags)} samples); {accounting}; Lạng Sơn's ratio {ratio_before:.3f} before, "
            f"min {min(ratios):.3f}, final {ratios[-1]:.3f} ({len(ratios)} samples), never alerted; "
            f"control alert fired once"
        )
    finally:
        stack.stop()
