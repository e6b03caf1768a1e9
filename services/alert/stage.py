"""The alert stage: quarterly totals folded into year-to-date figures, plans judged on them, alert states kept per
owned partition, in memory, mirrored to the compacted ``tiendo-alert-state`` changelog.

Partitioned by province: ``indicator.totals`` partition p holds every total of the (current province, indicator)
pairs that ``shared.updates.series_partition`` maps to p, so the replica owning p owns their figures, the plans
judged on them and their alerts; their state lives in changelog partition p (keys ``f|<series>`` and
``a|<alert id>``). Every change — a totals batch, a plan change, a timer round, a delivery — is worked out on
:class:`Changes` and applied to memory only once the alerts history records (first) and then the changed states
are acknowledged: a change that is not acknowledged leaves memory as it was, and is done again (the batch read
again, the plan record or timer round tried again).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from services.alert.delivery import Delivery
from services.alert.metrics import AlertMetrics
from services.alert.national import NationalFollower
from services.alert.plans import PlansFollower
from services.alert.settings import AlertSettings
from shared.alerting import (
    BEHIND_PLAN,
    FEED_STALE,
    FORECAST_SHORTFALL,
    IMPLAUSIBLE,
    NO_REPORT,
    AlertKey,
    AlertState,
    Rule,
    Transition,
    mark_sent,
    needs_resend,
    to_alertmanager,
)
from shared.batchworker import Committed
from shared.contracts import View, figures_key
from shared.evaluation import Evaluator, SeriesFigures, freshest, plan_alert_key, plan_series_key, province_of
from shared.faustapp import Outputs
from shared.forecast import Forecast, forecast
from shared.jsoncodec import dumps_kept
from shared.kafkaclients import send_all
from shared.logs import get_logger
from shared.national import previous_series_key, previous_shape, rank_note, rankings, timeliness
from shared.plans import Plan
from shared.provinces import MERGER_DATE, registry
from shared.ranking import Ranking
from shared.reading import iter_to_end
from shared.updates import series_partition

log = get_logger("tiendo.alert")

FIGURES, ALERT = b"f|", b"a|"
PLAN_RULES = ((IMPLAUSIBLE, "implausible"), (NO_REPORT, "no_report"))


@cache
def plan_current_code(province_uid: str, year: int) -> str:
    """The current (post-merger) province a plan's series rolls up into: what its totals are partitioned by."""
    unit = province_of(province_uid)
    return registry().rollup(unit.code, on=unit.valid_from or date(year, 1, 1)).code


def plan_partition(plan: Plan, partitions: int) -> int:
    """The totals (and changelog) partition of a plan's series: the one its figures and alerts live in."""
    return _partition(plan.province_uid, plan.year, plan.indicator, partitions)


@cache
def _partition(province_uid: str, year: int, indicator: str, partitions: int) -> int:
    return series_partition(plan_current_code(province_uid, year), indicator, partitions)


def judged(view: str, year: int) -> bool:
    """Whether any rule reads a series: the unit view (staleness, plans before the merger year), the current view
    from the merger year (later plans). The current view of earlier years is read by nothing: not kept."""
    return view == View.UNIT or year >= MERGER_DATE.year


def _copy(figures: SeriesFigures | None) -> SeriesFigures | None:
    """A copy that ``SeriesFigures.from_total`` may change in place."""
    if figures is None:
        return None
    quarters, dates = dict(figures.ytd_by_quarter), dict(figures.as_of_by_quarter)
    return replace(figures, ytd_by_quarter=quarters, as_of_by_quarter=dates)


@dataclass
class Partition:
    """The state of one owned partition."""

    figures: dict[str, SeriesFigures] = field(default_factory=dict)
    alerts: dict[str, AlertState] = field(default_factory=dict)


@dataclass
class Changes:
    """What one change does, before it is acknowledged: (partition, key) → new figures / alert state."""

    figures: dict[tuple[int, str], SeriesFigures] = field(default_factory=dict)
    alerts: dict[tuple[int, str], AlertState] = field(default_factory=dict)
    history: list[tuple[bytes, bytes]] = field(default_factory=list)
    superseded: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    logged: list[dict[str, Any]] = field(default_factory=list)  # logged once written


@dataclass(frozen=True, slots=True)
class Topics:
    alerts: str
    state: str
    plans: str
    totals: str


class AlertStage:
    """Totals batches → alert transitions; plans followed by :class:`PlansFollower`; timer and delivery rounds."""

    def __init__(
        self, settings: AlertSettings, evaluator: Evaluator, metrics: AlertMetrics, outputs: Outputs, topics: Topics,
        *, partitions: int,
    ) -> None:  # fmt: skip
        self.settings, self.evaluator, self.metrics, self.outputs, self.topics = (
            settings, evaluator, metrics, outputs, topics,
        )  # fmt: skip
        self.partitions = partitions
        self.lock = asyncio.Lock()  # the batch worker's: one change at a time, none during a rebalance
        self.parts: dict[int, Partition] = {}
        self.plans = PlansFollower(settings, topics.plans)
        self.national = NationalFollower(settings, topics.totals, event_clock=settings.clock == "event")
        self.superseded: dict[tuple[int, str], dict[str, Any]] = {}  # old severities to resolve with the next round
        self.wake = asyncio.Event()  # delivery: something to send
        self.wake_plans = asyncio.Event()  # the plans are loaded: follow them
        self.clock: datetime | None = None  # event clock: latest as_of of the figures owned (never goes back)
        self._firing: Counter[tuple[str, str | None]] = Counter()
        self.valid_for = timedelta(seconds=settings.valid_for_s)
        # Per plan, what was worked out from the national view (forecast, ranking, previous shape, timeliness) and
        # the versions it was worked out from: a timer round over unchanged series works nothing out again.
        self._memos: dict[tuple[str, str], tuple[tuple[Any, ...], Any]] = {}

    # --- Stage ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Every plan, read to the end of the plans topic before joining (a half-read set looks like missing plans)."""
        loaded = await self.plans.load()
        self.wake_plans.set()
        log.info("plans_loaded", plans=loaded)
        series = await self.national.load()
        log.info("national_view_loaded", series=series)

    async def on_assigned(self, partitions: set[int]) -> None:
        """Read the partitions' changelog to its end, then judge their plans at once (a gained alert that is due is
        delivered by the next round)."""
        found = {p: Partition() for p in partitions}
        records = 0
        async for record in iter_to_end(self.settings, self.topics.state, partitions=partitions):
            records += 1
            self._restore(found[record.partition], record.key or b"", record.value)
        for p, part in found.items():
            if (old := self.parts.get(p)) is not None:  # a recovery tried again
                self._tally(old.alerts.values(), -1)
            self.parts[p] = part
            self._tally(part.alerts.values(), +1)
            self._advance(part.figures.values())
        log.info(
            "partitions_recovered",
            partitions=sorted(partitions),
            changelog_records=records,
            figures=sum(len(part.figures) for part in found.values()),
            alerts=sum(len(part.alerts) for part in found.values()),
        )
        await self._round(partitions)
        self.wake.set()

    async def on_revoked(self, partitions: set[int]) -> None:
        """Forget the partitions: their new owner judges and delivers their alerts from now on."""
        for p in partitions:
            part = self.parts.pop(p, None)
            if part is not None:
                self._tally(part.alerts.values(), -1)
        for key in [k for k in self.superseded if k[0] in partitions]:
            del self.superseded[key]
        for plan in self.plans.values():
            if plan_partition(plan, self.partitions) in partitions:
                self.metrics.forget_progress(plan.province_code, plan.indicator, plan.basis)
        self.metrics.set_firing(self._firing)

    def close(self) -> None:
        """Nothing to release (the plans follower stops with its task)."""

    async def process(self, records: list[ConsumerRecord], producer: AIOKafkaProducer) -> Committed:
        """Fold the batch's totals into the figures, judge the changed series' plans, write everything; the totals
        are counted once the batch is committed."""
        changes = Changes()
        outcomes: Counter[str] = Counter()

        def committed() -> None:
            for outcome, n in outcomes.items():
                self.metrics.totals.labels(outcome).inc(n)

        for record in records:
            if record.value is None or record.partition not in self.parts:
                continue
            try:
                total = orjson.loads(record.value)
                view, unit, indicator, year = total["view"], total["unit"], total["indicator"], int(total["year"])
                if series_partition(total["current_code"], indicator, self.partitions) != record.partition:
                    log.warning("total_misrouted", key=record.key, partition=record.partition)  # a stale copy
                    outcomes["misrouted"] += 1
                    continue
                if not judged(view, year):
                    outcomes["unused"] += 1
                    continue
                key = figures_key(view, unit, indicator, year)
                where = (record.partition, key)
                previous = changes.figures.get(where) or _copy(self.parts[record.partition].figures.get(key))
                changes.figures[where] = SeriesFigures.from_total(total, previous)
                outcomes["applied"] += 1
            except (ValueError, KeyError, TypeError, ArithmeticError):  # one bad total must not stop the stream
                log.exception("bad_total", key=record.key, partition=record.partition)
                outcomes["rejected"] += 1
        if not changes.figures:
            return committed
        at = self.now(changes.figures.values())
        if at is not None:
            self._judge_series(set(changes.figures), at, changes)
        await self._write(changes, producer)
        return committed

    # --- the other changes: plans, timer, delivery (each under the lock) ----------------------------------------

    async def follow_plans(self) -> None:
        """Follow the plans topic after :meth:`start` read it: each change judged if its series is owned."""
        async for key, value in self.plans.follow():
            while True:
                try:
                    async with self.lock:
                        await self._plan_changed(key, value)
                    break
                except Exception as exc:  # not acknowledged: the same change again
                    log.error("plan_change_failed", key=key, error=repr(exc), retry_in_s=1.0)
                    await asyncio.sleep(1.0)

    async def _plan_changed(self, key: bytes, value: bytes | None) -> None:
        changes, at = Changes(), self.now()
        if value is None:
            removed = self.plans.get(key)
            if removed is not None and at is not None and self._owns(removed):
                self._retire(removed, at, changes)
        else:
            try:
                plan = Plan.from_dict(orjson.loads(value))
            except (ValueError, KeyError, TypeError):
                log.exception("bad_plan", key=key)
                return
            if at is not None and self._owns(plan):
                self._judge_plan(plan, plan_partition(plan, self.partitions), at, changes)
        await self._write(changes, await self.outputs.producer())
        self.plans.apply(key, value)  # after the writes: tried again, a removal still finds its plan

    async def evaluate_all(self) -> None:
        """The timer: every owned plan, and staleness, at the current clock."""
        try:
            async with self.lock:
                await self._round(set(self.parts))
        except Exception as exc:  # not acknowledged: nothing changed, the next round judges again
            log.error("evaluation_round_failed", error=repr(exc))

    async def _round(self, partitions: set[int]) -> None:
        at = self.now()
        if at is None or not partitions:
            return
        changes = Changes()
        for plan in self.plans.ordered():
            if (p := plan_partition(plan, self.partitions)) in partitions and p in self.parts:
                self._judge_plan(plan, p, at, changes)
        for p in sorted(partitions & self.parts.keys()):
            for fig in freshest(self.parts[p].figures.values()):
                key = AlertKey(FEED_STALE, fig.unit, fig.indicator).id
                state = self._alert(p, key, changes)
                try:
                    transition = self.evaluator.staleness(fig, state, at)
                except Exception:  # one series' bad data must not stop the others
                    log.exception("evaluation_failed", series=fig.key)
                    continue
                if transition is not None and (state is not None or transition.sends):  # no state for fresh feeds
                    self._record(p, transition, at, changes)
        await self._write(changes, await self.outputs.producer())

    async def deliver_due(self, delivery: Delivery) -> None:
        """Send the owned alerts whose delivery is due (firing: never sent, or sent a re-send interval ago; resolved:
        not delivered yet); mark them sent once every receiver accepted them, if still owned and unchanged."""
        wall = datetime.now(UTC)
        resend = timedelta(seconds=self.settings.resend_interval_s)
        async with self.lock:
            due = [
                (p, state)
                for p, part in self.parts.items()
                for state in part.alerts.values()
                if needs_resend(state, wall, resend)
            ]
            extra = dict(self.superseded)
        if not due and not extra:
            return
        body = [to_alertmanager(s, now=wall, valid_for=self.valid_for) for _, s in due] + list(extra.values())
        if not await delivery.send(body):
            return
        async with self.lock:
            changes = Changes()
            for p, state in due:
                part = self.parts.get(p)
                if part is not None and part.alerts.get(state.key.id) == state:  # not moved, not changed meanwhile
                    changes.alerts[(p, state.key.id)] = mark_sent(state, wall)
            await self._write(changes, await self.outputs.producer())
            for key, sent in extra.items():
                if self.superseded.get(key) is sent:
                    del self.superseded[key]

    def owned_alerts(self) -> list[AlertState]:
        return [s for part in self.parts.values() for s in part.alerts.values()]

    # --- judging --------------------------------------------------------------------------------------------------

    def now(self, seen: Iterable[SeriesFigures] = ()) -> datetime | None:
        """Evaluation time: the wall clock, or the event clock advanced by the figures ``seen`` (None while no owned
        series has a date: the event clock never falls back to the wall clock)."""
        if self.settings.clock == "wall":
            return datetime.now(UTC)
        return max((self.clock, *(f.last_as_of for f in seen)), key=lambda t: t or datetime.min.replace(tzinfo=UTC))

    def national_now(self) -> datetime | None:
        """Default day of /forecast and /ranking: the wall clock, or the latest reading the national view holds
        (the same on every replica, whatever partitions it owns)."""
        if self.settings.clock == "wall":
            return datetime.now(UTC)
        return self.national.view.latest_as_of

    def _advance(self, seen: Iterable[SeriesFigures]) -> None:
        if self.settings.clock == "event":
            self.clock = self.now(seen)

    def _owns(self, plan: Plan) -> bool:
        return plan_partition(plan, self.partitions) in self.parts

    def _figures(self, p: int, key: str, changes: Changes) -> SeriesFigures | None:
        return changes.figures.get((p, key)) or self.parts[p].figures.get(key)

    def _alert(self, p: int, alert_id: str, changes: Changes) -> AlertState | None:
        return changes.alerts.get((p, alert_id)) or self.parts[p].alerts.get(alert_id)

    def _judge_series(self, series: set[tuple[int, str]], at: datetime, changes: Changes) -> None:
        for p, key in sorted(series):
            for plan in self.plans.judged_on(key):  # oldest plan year first: in January the new year's gauges stay
                if plan_partition(plan, self.partitions) == p:
                    self._judge_plan(plan, p, at, changes, forecasting=False)

    def _judge_plan(self, plan: Plan, p: int, at: datetime, changes: Changes, *, forecasting: bool = True) -> None:
        """Every plan rule on the plan's series. The forecast (shortfall alert, projection and on-time gauges) only
        with ``forecasting``: not for each totals batch but in the next timer round (a few ms of CPU per series,
        worked out once however many totals a round brings; an early warning can wait for a round)."""
        found = self._figures(p, plan_series_key(plan), changes)
        rank = self._rank(plan, found)
        fc = self._forecast(plan, found) if forecasting else None

        def judge(rule: Rule, run: Any) -> None:
            try:
                transition = run(self._alert(p, plan_alert_key(rule, plan).id, changes))
            except Exception:  # one plan's bad data must not stop the others
                log.exception("evaluation_failed", plan=plan.key, rule=rule)
                return
            self._record(p, transition, at, changes)

        judge(BEHIND_PLAN, lambda state: self.evaluator.behind_plan(plan, found, state, at, rank=rank))
        for rule, name in PLAN_RULES:
            judge(rule, lambda state, name=name: getattr(self.evaluator, name)(plan, found, state, at))
        if forecasting:
            behind = self._alert(p, plan_alert_key(BEHIND_PLAN, plan).id, changes)
            paged = behind is not None and behind.status == "firing"
            judge(
                FORECAST_SHORTFALL,
                lambda state: self.evaluator.forecast_shortfall(plan, fc, state, at, behind=paged, rank=rank),
            )
        # From the judgement itself, not the alert's annotations: those of an alert that never fired are empty,
        # and those of a resolved one stay as they were when it resolved.
        if not self.evaluator.in_force(plan, at):
            return
        result = self.evaluator.progress(plan, found)
        if result is not None:
            self.metrics.observe_progress(plan.province_code, plan.indicator, plan.basis, result)
        if fc is not None:
            self.metrics.observe_forecast(plan.province_code, plan.indicator, plan.basis, fc)
        if forecasting and found is not None and found.last_as_of is not None:
            view, reading = self.national.view, found.last_as_of
            on_time = self._memo(
                "timeliness", plan, (view.series_version(plan_series_key(plan)), reading),
                lambda: timeliness(plan, view, reading),
            )  # fmt: skip
            if on_time is not None and on_time.rate is not None:
                self.metrics.on_time.labels(plan.province_code, plan.indicator).set(float(on_time.rate))

    def _rank(self, plan: Plan, found: SeriesFigures | None) -> str | None:
        """The plan's rank note at its series' reading date (the rank gauge too)."""
        if found is None or found.last_as_of is None:
            return None
        at, view = found.last_as_of, self.national.view
        group = (plan.indicator, plan.year, plan.basis)

        def ranked() -> Ranking | None:
            same = [o for o in self.plans.ordered() if (o.indicator, o.year, o.basis) == group]
            return rankings(same, view, at).get(group)

        ranking: Ranking | None = self._memo("ranking", plan, (view.version, self.plans.version, at), ranked)
        if ranking is not None and (row := ranking.row(plan.province_code)) is not None:
            self.metrics.rank.labels(plan.province_code, plan.indicator, plan.basis).set(row.rank)
        return rank_note(ranking, plan.province_code)

    def _forecast(self, plan: Plan, found: SeriesFigures | None) -> Forecast | None:
        """The plan's forecast at its series' reading date: its readings from the national view up to then, with the
        owned figures' own quarter readings (the national view may not have caught up yet)."""
        if found is None or found.last_as_of is None:
            return None
        at, view = found.last_as_of, self.national.view
        previous = view.series_version(previous_series_key(plan))
        shape = self._memo("shape", plan, (previous,), lambda: previous_shape(plan, view))
        readings = dict(view.readings(plan_series_key(plan), at))
        for quarter, when in found.as_of_by_quarter.items():
            readings[when] = found.ytd_by_quarter[quarter]
        key = (previous, self.plans.version, tuple(sorted(readings.items())))
        try:
            fc: Forecast | None = self._memo(
                "forecast", plan, key, lambda: forecast(plan, list(readings.items()), previous_shape=shape, at=at)
            )
        except (ValueError, ArithmeticError):
            log.exception("forecast_failed", plan=plan.key)
            return None
        return fc

    def _memo(self, name: str, plan: Plan, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """``compute()`` for a plan, again only once ``key`` (what it depends on) changed."""
        found = self._memos.get((name, plan.key))
        if found is not None and found[0] == key:
            return found[1]
        value = compute()
        self._memos[(name, plan.key)] = (key, value)
        return value

    def _retire(self, plan: Plan, at: datetime, changes: Changes) -> None:
        """A plan removed (tombstone): resolve its alerts; the no-report alert too unless another basis remains."""
        p = plan_partition(plan, self.partitions)
        rules = [BEHIND_PLAN, IMPLAUSIBLE, FORECAST_SHORTFALL]
        others = (o for k, o in self.plans.items() if k != plan.key.encode())
        if not any(plan_series_key(o) == plan_series_key(plan) for o in others):
            rules.append(NO_REPORT)
        for rule in rules:
            state = self._alert(p, plan_alert_key(rule, plan).id, changes)
            self._record(p, self.evaluator.retire(state, at, f"the plan {plan.key} was removed"), at, changes)

    def _record(self, p: int, transition: Transition | None, at: datetime, changes: Changes) -> None:
        if transition is None:
            return
        state = transition.state
        changes.alerts[(p, state.key.id)] = state
        self.metrics.evaluations.labels(state.key.rule).inc()
        if not transition.sends:
            return
        self.metrics.transitions.labels(state.key.rule, transition.event).inc()
        if transition.superseded is not None:
            old = transition.superseded
            changes.superseded[(p, f"{state.key.id}|{old.severity}")] = to_alertmanager(old)
        history = {"event": transition.event, "evaluated_at": at.isoformat(), "alert": state.to_dict()}
        changes.history.append((state.key.id.encode(), orjson.dumps(history)))
        changes.logged.append(
            {"change": transition.event, "alert": state.key.id, "severity": state.severity, "partition": p}
        )

    # --- writing and restoring ----------------------------------------------------------------------------------

    async def _write(self, changes: Changes, producer: AIOKafkaProducer) -> None:
        """The history records, then the changed states to their changelog partitions, each acknowledged; then
        memory. History first: a crash in between judges again and records again (at least once), never loses one."""
        if changes.history:
            await send_all(producer, self.topics.alerts, changes.history)
        states = [
            (self.topics.state, FIGURES + key.encode(), dumps_kept(fig.to_dict()), p)
            for (p, key), fig in changes.figures.items()
        ]
        for (p, alert_id), state in changes.alerts.items():
            before = self.parts[p].alerts.get(alert_id)
            if before is None or replace(before, updated_at=None) != replace(state, updated_at=None):
                states.append((self.topics.state, ALERT + alert_id.encode(), dumps_kept(state.to_dict()), p))
        await send_all(producer, states)  # (only the evaluation time changed: memory only, not worth a write)
        for (p, key), fig in changes.figures.items():
            self.parts[p].figures[key] = fig
        for (p, alert_id), state in changes.alerts.items():
            alerts = self.parts[p].alerts
            self._tally([alerts[alert_id]] if alert_id in alerts else [], -1)
            alerts[alert_id] = state
            self._tally([state], +1)
        self._advance(changes.figures.values())
        self.superseded.update(changes.superseded)
        self.metrics.set_firing(self._firing)
        for entry in changes.logged:
            log.info("alert", **entry)
        if changes.history or changes.superseded:
            self.wake.set()

    def _restore(self, part: Partition, key: bytes, value: bytes | None) -> None:
        name = key[2:].decode()
        try:
            if key.startswith(FIGURES):
                if value is None:
                    part.figures.pop(name, None)
                else:
                    part.figures[name] = SeriesFigures.from_dict(orjson.loads(value))
            elif key.startswith(ALERT):
                if value is None:
                    part.alerts.pop(name, None)
                else:
                    part.alerts[name] = AlertState.from_dict(orjson.loads(value))
        except (ValueError, KeyError, TypeError):
            log.exception("bad_state_record", key=key)

    def _tally(self, states: Iterable[AlertState], sign: int) -> None:
        for state in states:
            if state.status == "firing":
                self._firing[(state.key.rule, state.severity)] += sign


async def deliver_forever(stage: AlertStage, delivery: Delivery, resend_interval_s: float) -> None:
    """The delivery task: a round when woken (a transition, a gained partition) or every few seconds."""
    try:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stage.wake.wait(), timeout=min(10.0, resend_interval_s))
            stage.wake.clear()
            try:
                await stage.deliver_due(delivery)
            except Exception as exc:  # a state write not acknowledged: sent again next round
                log.error("delivery_round_failed", error=repr(exc))
    finally:
        await delivery.close()
