"""The alert worker: plans and quarterly totals in, pages to Alertmanager (and the alerts topic) out.

Thin Faust layer over ``shared.evaluation``/``shared.alerting``: tables hold plans, the year-to-date figures
and the alert states (changelogged, so a restart neither re-pages nor forgets); evaluation runs when totals
or plans change and on a timer; delivery runs in its own task, retrying until receivers accept.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import orjson
from prometheus_client import CollectorRegistry

from services.alert.delivery import Delivery
from services.alert.metrics import AlertMetrics
from services.alert.settings import AlertSettings
from shared.alerting import (
    BEHIND_PLAN,
    FEED_STALE,
    IMPLAUSIBLE,
    NO_REPORT,
    AlertKey,
    AlertState,
    Transition,
    mark_sent,
    to_alertmanager,
)
from shared.evaluation import Evaluator, SeriesFigures, figures_key, freshest, plan_alert_key, plan_series_key
from shared.faustapp import Outputs, make_app, small_table
from shared.jsoncodec import dumps_kept
from shared.logs import get_logger
from shared.metrics import add_http_endpoints
from shared.plans import Plan
from shared.topics import ALERTS, PLANS, TOTALS

log = get_logger("tiendo.alert")


def create_app(settings: AlertSettings, registry: CollectorRegistry | None = None) -> faust.App:  # noqa: PLR0915
    """Build the alert Faust app."""
    registry = registry or CollectorRegistry()
    metrics = AlertMetrics(registry)
    delivery = Delivery(settings.alertmanager_urls, settings.webhook_url, registry)
    app = make_app("alert", settings)
    totals_topic = app.topic(settings.topic(TOTALS.name))
    plans_topic = app.topic(settings.topic(PLANS.name))

    # Small state written from agents and timers alike: one partition, in memory, rebuilt from its changelog.
    plans, figures, alerts = (small_table(app, name) for name in ("plans", "figures", "alerts"))
    outputs = Outputs(settings, "tiendo-alert-out", (ALERTS,))
    evaluator = Evaluator(
        settings.thresholds.to_thresholds(),
        {k: v.to_thresholds() for k, v in settings.threshold_overrides.items()},
        settings.runbook_url,
    )
    wake = asyncio.Event()
    superseded: dict[str, dict[str, Any]] = {}  # old-severity alerts to resolve, delivered with the next round
    valid_for = timedelta(seconds=max(300.0, 5 * settings.resend_interval_s))

    latest_as_of: datetime | None = None  # event mode: the latest as_of of any series, once the table is recovered

    def recovered() -> bool:
        return app.tables.recovery.completed.is_set()

    def now() -> datetime | None:
        """Evaluation time: the wall clock, or in event mode the latest as_of of any series (None while no series
        has one: the event clock never falls back to the wall clock, which would jump years ahead and back)."""
        nonlocal latest_as_of
        if settings.clock == "wall":
            return datetime.now(UTC)
        if not recovered():
            return None
        if latest_as_of is None:  # read the table once, after its recovery; then follow the totals
            latest_as_of = max((f.last_as_of for f in all_figures() if f.last_as_of is not None), default=None)
        return latest_as_of

    def advance_clock(seen: Iterable[SeriesFigures]) -> None:
        nonlocal latest_as_of
        if latest_as_of is not None:
            latest_as_of = max([latest_as_of, *(f.last_as_of for f in seen if f.last_as_of is not None)])

    def all_figures() -> list[SeriesFigures]:
        return [SeriesFigures.from_dict(orjson.loads(v)) for v in figures.values()]

    def load_state(alert_id: str) -> AlertState | None:
        raw = alerts.get(alert_id.encode())
        return None if raw is None else AlertState.from_dict(orjson.loads(raw))

    async def record(transition: Transition | None, at: datetime) -> None:
        if transition is None:
            return
        state = transition.state
        alerts[state.key.id.encode()] = dumps_kept(state.to_dict())
        metrics.evaluations.labels(state.key.rule).inc()
        if not transition.sends:
            return
        metrics.transitions.labels(state.key.rule, transition.event).inc()
        if transition.superseded is not None:
            superseded[f"{state.key.id}|{transition.superseded.severity}"] = to_alertmanager(transition.superseded)
        history = {"event": transition.event, "evaluated_at": at.isoformat(), "alert": state.to_dict()}
        producer = await outputs.producer()
        # Acknowledged before going on: the state is already in the table, so a record lost in the producer's buffer
        # (a SIGKILL right after) would never be written again — seen once in a loaded test run.
        await (await producer.send(settings.topic(ALERTS.name), orjson.dumps(history), key=state.key.id.encode()))
        log.info("alert", change=transition.event, alert=state.key.id, severity=state.severity)
        wake.set()

    async def evaluate_plan(plan: Plan, at: datetime) -> None:
        raw_figures = figures.get(plan_series_key(plan).encode())
        found = None if raw_figures is None else SeriesFigures.from_dict(orjson.loads(raw_figures))
        rules = (
            (BEHIND_PLAN, evaluator.behind_plan),
            (IMPLAUSIBLE, evaluator.implausible),
            (NO_REPORT, evaluator.no_report),
        )
        for rule, judge in rules:
            try:
                transition = judge(plan, found, load_state(plan_alert_key(rule, plan).id), at)
            except Exception:  # one plan's bad data must not stop the others
                log.exception("evaluation_failed", plan=plan.key, rule=rule)
                continue
            await record(transition, at)
        # From the judgement itself, not the alert's annotations: those of an alert that never fired are empty,
        # and those of a resolved one stay as they were when it resolved.
        result = evaluator.progress(plan, found) if evaluator.in_force(plan, at) else None
        if result is not None:
            labels = (plan.province_code, plan.indicator, plan.basis)
            if result.ratio is not None and not result.implausible:
                metrics.ratio.labels(*labels).set(float(result.ratio))
            metrics.actual_fraction.labels(*labels).set(float(result.actual_fraction))
            metrics.expected_fraction.labels(*labels).set(float(result.expected_fraction))

    async def retire_plan(plan: Plan, at: datetime) -> None:
        """A plan removed (tombstone): resolve its alerts; the no-report alert too unless another basis remains."""
        rules = [BEHIND_PLAN, IMPLAUSIBLE]
        others = (Plan.from_dict(orjson.loads(v)) for v in plans.values())
        if not any(plan_series_key(o) == plan_series_key(plan) for o in others):
            rules.append(NO_REPORT)
        for rule in rules:
            state = load_state(plan_alert_key(rule, plan).id)
            await record(evaluator.retire(state, at, f"the plan {plan.key} was removed"), at)

    async def evaluate(series: set[str] | None = None) -> None:
        """Evaluate plans of the given series (all of them, staleness and legacy alerts, when None)."""
        at = now()
        if at is None or not recovered():  # a half-recovered table would look like missing reports
            return
        in_table = [Plan.from_dict(orjson.loads(raw)) for raw in list(plans.values())]
        # Oldest plan year first: in January the new year's gauges are the ones left standing.
        for plan in sorted(in_table, key=lambda p: (p.year, p.key)):
            if series is None or plan_series_key(plan) in series:
                await evaluate_plan(plan, at)
        if series is None:
            for fig in freshest(all_figures()):
                state = load_state(AlertKey(FEED_STALE, fig.unit, fig.indicator).id)
                try:
                    transition = evaluator.staleness(fig, state, at)
                except Exception:  # one series' bad data must not stop the others
                    log.exception("evaluation_failed", series=fig.key)
                    continue
                await record(transition, at)
            for raw in list(alerts.values()):
                state = AlertState.from_dict(orjson.loads(raw))
                if state.key.rule == BEHIND_PLAN and not state.key.year:  # stored before plan years were keyed
                    await record(evaluator.retire(state, at, "superseded by the alert of its plan year"), at)
        metrics.count_firing(AlertState.from_dict(orjson.loads(v)) for v in alerts.values())

    def observe(events: list[Any]) -> None:
        """Consumer lag and processing latency (broker receipt → outputs acknowledged) of a processed batch."""
        done = time.time()
        positions = {}
        for event in events:
            message = event.message
            positions[message.tp] = max(positions.get(message.tp, 0), message.offset + 1)
            if message.timestamp:
                metrics.worker.latency.observe(max(0.0, done - message.timestamp))
        if app.consumer is not None:
            with contextlib.suppress(Exception):  # metrics must never stop the stream
                metrics.worker.record_lag(app.consumer.highwater, positions)

    @app.agent(plans_topic)
    async def follow_plans(stream: faust.StreamT) -> None:
        async for event in stream.events():
            key = event.message.key
            if event.message.value is None:
                removed = plans.pop(key, None)
                at = now()
                if removed is not None and at is not None:
                    await retire_plan(Plan.from_dict(orjson.loads(removed)), at)
                observe([event])
                continue
            try:
                plan = Plan.from_dict(orjson.loads(event.message.value))
            except (ValueError, KeyError, TypeError):
                log.exception("bad_plan", key=key)
                continue
            plans[key] = event.message.value
            await evaluate({plan_series_key(plan)})
            observe([event])

    @app.agent(totals_topic)
    async def follow_totals(stream: faust.StreamT) -> None:
        async for events in stream.take_events(settings.batch_size, within=settings.batch_wait_s):
            changed: dict[str, SeriesFigures] = {}
            for event in events:
                if event.message.value is None:
                    continue
                try:
                    total = orjson.loads(event.message.value)
                    key = figures_key(total["view"], total["unit"], total["indicator"], int(total["year"]))
                    previous = changed.get(key)
                    if previous is None and (raw := figures.get(key.encode())) is not None:
                        previous = SeriesFigures.from_dict(orjson.loads(raw))
                    changed[key] = SeriesFigures.from_total(total, previous)
                except (ValueError, KeyError, TypeError, ArithmeticError):  # one bad total must not stop the stream
                    log.exception("bad_total", key=event.message.key)
            for key, fig in changed.items():
                figures[key.encode()] = dumps_kept(fig.to_dict())
            advance_clock(changed.values())
            await evaluate(set(changed))
            metrics.worker.batch_size.observe(len(events))
            observe(events)

    @app.timer(interval=settings.evaluate_interval_s)
    async def evaluate_all() -> None:
        await evaluate(None)

    @app.task
    async def deliver() -> None:
        """Send alerts whose delivery is due; retry failures each round; re-send firing alerts periodically."""
        await app.tables.recovery.completed.wait()
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=min(10.0, settings.resend_interval_s))
                wake.clear()
                await deliver_due()
        finally:
            await delivery.close()
            await outputs.stop()

    async def deliver_due() -> None:
        wall = datetime.now(UTC)
        resend = timedelta(seconds=settings.resend_interval_s)
        due = []
        for raw in list(alerts.values()):
            state = AlertState.from_dict(orjson.loads(raw))
            firing_due = state.status == "firing" and (
                state.last_sent_at is None or wall - state.last_sent_at >= resend
            )
            if firing_due or (state.status == "resolved" and state.last_sent_at is None):
                due.append(state)
        extra = dict(superseded)
        if not due and not extra:
            return
        body = [to_alertmanager(s, now=wall, valid_for=valid_for) for s in due] + list(extra.values())
        if await delivery.send(body):
            for state in due:
                alerts[state.key.id.encode()] = dumps_kept(mark_sent(state, wall).to_dict())
            for key in extra:
                superseded.pop(key, None)

    @app.page("/alerts")
    async def list_alerts(web: Any, request: Any) -> Any:
        states = [orjson.loads(v) for v in alerts.values()]
        return web.json({"alerts": sorted(states, key=lambda s: (s["status"] != "firing", s["key"]["rule"]))})

    add_http_endpoints(app, registry, recovers_tables=True)
    return app
