"""What the alert worker evaluates: plans against the year-to-date figures it follows. Pure, no Kafka.

The alert worker keeps, per series, the year-to-date figures read from ``indicator.totals``
(:class:`SeriesFigures`), and per alert an :class:`~shared.alerting.AlertState`. :class:`Evaluator` turns a plan
and its series (or a series alone, for staleness) into the next alert transition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from shared.alerting import (
    BEHIND_PLAN,
    FEED_STALE,
    FORECAST_SHORTFALL,
    IMPLAUSIBLE,
    NO_REPORT,
    AlertKey,
    AlertState,
    ProgressResult,
    Rule,
    Severity,
    Thresholds,
    Transition,
    alert_labels,
    evaluate_no_report,
    evaluate_progress,
    evaluate_staleness,
    forecast_annotations,
    implausible_annotations,
    no_report_annotations,
    progress_annotations,
    staleness_annotations,
    step,
    thresholds_for,
)
from shared.contracts import View, figures_key
from shared.forecast import Forecast, shortfall
from shared.indicators import get_indicator
from shared.plans import Plan
from shared.provinces import MERGER_DATE, Province, registry
from shared.timeliness import gap_explained_by_holidays
from shared.vntime import VN_TZ, year_bounds

#: Quarters of a plan year in ``indicator.totals``: 1-4, and 5 ("Q4+") for January of the next year.
QUARTERS = 5


def plan_series_key(plan: Plan) -> str:
    """The series a plan is judged on: the unit as it was before the merger year, the current province after.

    From 2025 a merged province's plan covers the whole year, including its constituents' first half.
    """
    if plan.year >= MERGER_DATE.year:
        return figures_key(View.CURRENT, plan.province_code, plan.indicator, plan.year)
    return figures_key(View.UNIT, plan.province_uid, plan.indicator, plan.year)


@dataclass(slots=True)
class SeriesFigures:
    """Year-to-date figures of one series, as last published by the aggregate worker.

    Quarters 1-4 are calendar quarters; quarter 5 ("Q4+") holds readings of the plan year dated in January of
    the next year (the disbursement year runs 13 months). The series' reading is its latest quarter with a dated
    figure: :attr:`ytd` is the year-to-date value valid at :attr:`last_as_of`, always taken together.
    """

    view: str
    unit: str
    province_code: str
    indicator: str
    year: int
    ytd_by_quarter: dict[int, Decimal] = field(default_factory=dict)
    last_as_of: datetime | None = None
    as_of_by_quarter: dict[int, datetime] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return figures_key(self.view, self.unit, self.indicator, self.year)

    @property
    def reading_quarter(self) -> int | None:
        """The quarter whose figure is the series' reading: the latest with a date, else the latest at all."""
        if self.as_of_by_quarter:
            return max(self.as_of_by_quarter)
        return max(self.ytd_by_quarter) if self.ytd_by_quarter else None

    @property
    def ytd(self) -> Decimal:
        """Year-to-date value of the reading (valid at :attr:`last_as_of`); 0 without any figure."""
        quarter = self.reading_quarter
        return Decimal(0) if quarter is None else self.ytd_by_quarter.get(quarter, Decimal(0))

    @property
    def has_figures(self) -> bool:
        """Whether anything at all was published for the series."""
        return bool(self.ytd_by_quarter)

    @classmethod
    def from_total(cls, total: Mapping[str, Any], previous: SeriesFigures | None) -> SeriesFigures:
        """Fold one ``indicator.totals`` value (quarter 1-5) into the series' figures; ValueError if unusable."""
        quarter, year = int(total["quarter"]), int(total["year"])
        if not 1 <= quarter <= QUARTERS:
            raise ValueError(f"quarter {quarter} is not 1-{QUARTERS}")
        figures = previous or cls(total["view"], total["unit"], total["province_code"], total["indicator"], year)
        if figures.key != figures_key(total["view"], total["unit"], total["indicator"], year):
            raise ValueError(f"a total of {total['unit']}|{total['indicator']}|{year} is not of series {figures.key}")
        ytd = Decimal(total["ytd"])
        as_of = datetime.fromisoformat(total["last_as_of"]) if total.get("last_as_of") else None
        if not ytd.is_finite() or (as_of is not None and as_of.utcoffset() is None):
            raise ValueError(f"unusable total of {figures.key} Q{quarter}: ytd {ytd}, last_as_of {as_of}")
        figures.ytd_by_quarter[quarter] = ytd
        if as_of is not None:
            figures.as_of_by_quarter[quarter] = as_of
        else:  # a quarter without events of its own (carried): no reading date
            figures.as_of_by_quarter.pop(quarter, None)
        reading = figures.reading_quarter
        figures.last_as_of = figures.as_of_by_quarter.get(reading) if reading is not None else None
        return figures

    def dated_by(self, at: datetime) -> SeriesFigures | None:
        """The figures as the readings dated by ``at`` show them (a later quarter's reading is not known then);
        None when none is."""
        kept = {q: when for q, when in self.as_of_by_quarter.items() if when <= at}
        if not kept:
            return None
        ytd = {q: self.ytd_by_quarter[q] for q in kept}
        return replace(self, ytd_by_quarter=ytd, as_of_by_quarter=kept, last_as_of=kept[max(kept)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "unit": self.unit,
            "province_code": self.province_code,
            "indicator": self.indicator,
            "year": self.year,
            "ytd": {str(q): format(v, "f") for q, v in self.ytd_by_quarter.items()},
            "last_as_of": self.last_as_of.isoformat() if self.last_as_of else None,
            "as_of": {str(q): at.isoformat() for q, at in self.as_of_by_quarter.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SeriesFigures:
        ytd = {int(q): Decimal(v) for q, v in d["ytd"].items()}
        last = datetime.fromisoformat(d["last_as_of"]) if d["last_as_of"] else None
        if "as_of" in d:
            as_of = {int(q): datetime.fromisoformat(at) for q, at in d["as_of"].items()}
        else:  # stored before per-quarter dates: the last date is the latest quarter's
            as_of = {max(ytd): last} if ytd and last is not None else {}
        return cls(d["view"], d["unit"], d["province_code"], d["indicator"], int(d["year"]), ytd, last, as_of)


def freshest(figures: Iterable[SeriesFigures]) -> list[SeriesFigures]:
    """Per unit and indicator (unit view), the series with the latest reading, whatever its year: a feed's
    timeliness runs across plan years (in January the latest reading is usually the previous year's)."""
    best: dict[tuple[str, str], SeriesFigures] = {}
    for fig in figures:
        if fig.view != View.UNIT or fig.last_as_of is None:
            continue
        seen = best.get((fig.unit, fig.indicator))
        if seen is None or seen.last_as_of is None or (fig.last_as_of, fig.year) > (seen.last_as_of, seen.year):
            best[(fig.unit, fig.indicator)] = fig
    return [best[k] for k in sorted(best)]


@cache
def _units() -> dict[str, Province]:
    reg = registry()
    return {p.uid: p for p in reg.all_units()}


def province_of(uid_or_code: str) -> Province:
    """The unit with that uid, or the current province with that code."""
    units = _units()
    return units.get(uid_or_code) or registry().get(uid_or_code, on=MERGER_DATE)


@dataclass(frozen=True, slots=True)
class Evaluator:
    """The alert rules with their configuration.

    Every plan rule judges the series' reading at its own date (``SeriesFigures.last_as_of``); the evaluation
    time ``at`` only decides what is due (staleness, the first report, the end of the plan period) and stamps
    the transitions. A plan's alerts are closed :meth:`closes_at` its last milestone + the indicator's cadence
    (the last report may still arrive): a firing one resolves then, its last judgement being final.
    """

    thresholds: Thresholds = field(default_factory=Thresholds)
    overrides: Mapping[str, Thresholds] = field(default_factory=dict)
    runbook_url: str = ""

    def thresholds_of(self, indicator: str) -> Thresholds:
        return thresholds_for(indicator, self.overrides, self.thresholds)

    def closes_at(self, plan: Plan) -> datetime:
        """End of a plan's alerting period: its last milestone + the indicator's cadence."""
        return plan.milestones[-1][0] + timedelta(days=get_indicator(plan.indicator).cadence_days)

    def in_force(self, plan: Plan, at: datetime) -> bool:
        """A plan is evaluated from 1 January of its year until :meth:`closes_at`."""
        return year_bounds(plan.year)[0] <= at <= self.closes_at(plan)

    def progress(
        self, plan: Plan, figures: SeriesFigures | None, previous: Severity | None = None
    ) -> ProgressResult | None:
        """The behind-plan rule's judgement of the series' reading at its date (None without a dated reading),
        whatever the alert state: what the worker's progress gauges show."""
        if figures is None or figures.last_as_of is None:
            return None
        return evaluate_progress(
            plan,
            figures.ytd,
            figures.last_as_of,
            self.thresholds_of(plan.indicator),
            get_indicator(plan.indicator).higher_is_better,
            previous,
        )

    def _runbook(self, rule: str) -> str:
        return f"{self.runbook_url}#{rule.lower()}" if self.runbook_url else ""

    def _closed(self, plan: Plan, state: AlertState | None, at: datetime) -> Transition | None:
        """After the plan period: resolve a firing alert (its last judgement stands); else nothing."""
        closed = self.closes_at(plan).astimezone(VN_TZ).date().isoformat()
        return self.retire(state, at, f"the {plan.year} plan's alerting period ended on {closed}; last judgement final")

    def behind_plan(
        self, plan: Plan, figures: SeriesFigures | None, state: AlertState | None, at: datetime,
        *, rank: str | None = None,
    ) -> Transition | None:  # fmt: skip
        """Next transition of the plan's behind-plan alert; None while nothing was reported, nothing is judged
        (too early, nothing expected, an implausible comparison) or nothing changes. ``rank`` (the province's
        place at the reading's date) goes in an annotation, never a label."""
        if at > self.closes_at(plan):
            return self._closed(plan, state, at)
        indicator = get_indicator(plan.indicator)
        previous = state.severity if state is not None and state.status == "firing" else None
        result = self.progress(plan, figures, previous)
        if figures is None or result is None or not result.evaluated:
            return None
        key = plan_alert_key(BEHIND_PLAN, plan)
        annotations = progress_annotations(
            plan,
            result,
            figures.ytd,
            figures.last_as_of or at,
            indicator_name=indicator.name_en,
            higher_is_better=indicator.higher_is_better,
            runbook_url=self._runbook(BEHIND_PLAN),
            evaluated_at=at,
        )
        if rank is not None:
            annotations["rank"] = rank
        labels = alert_labels(key, plan.province_code, plan.province_name)
        return _pending(step(state, result.severity, at, annotations, key=key, labels=labels))

    def forecast_shortfall(
        self, plan: Plan, fc: Forecast | None, state: AlertState | None, at: datetime,
        *, behind: bool = False, rank: str | None = None,
    ) -> Transition | None:  # fmt: skip
        """Next transition of the plan's forecast-shortfall alert, on the forecast from the series' latest reading
        (``fc``, judged at that reading's date): warning while :func:`shared.forecast.shortfall` holds (its margin
        and hysteresis from the thresholds); None while nothing is forecast or nothing changes. An early warning:
        it does not fire while the plan's behind-plan alert fires (``behind``: the miss is already paged); one
        firing before keeps firing (Alertmanager mutes it under the behind-plan alert) until it recovers."""
        if at > self.closes_at(plan):
            return self._closed(plan, state, at)
        firing = state is not None and state.status == "firing"
        if fc is None or (behind and not firing):
            return None
        thresholds = self.thresholds_of(plan.indicator)
        on = shortfall(
            fc,
            plan,
            thresholds.shortfall_margin,
            firing=firing,
            resolve_margin=thresholds.resolve_margin,
        )  # judged from the forecaster's day (shared.forecast.SHORTFALL_FROM_DAY): earlier it is mostly noise
        if not on and not firing:
            return None
        key = plan_alert_key(FORECAST_SHORTFALL, plan)
        annotations = forecast_annotations(
            plan,
            fc,
            indicator_name=get_indicator(plan.indicator).name_en,
            margin=thresholds.shortfall_margin,
            rank=rank,
            runbook_url=self._runbook(FORECAST_SHORTFALL),
            evaluated_at=at,
        )
        labels = alert_labels(key, plan.province_code, plan.province_name)
        return _pending(step(state, "warning" if on else None, at, annotations, key=key, labels=labels))

    def implausible(
        self, plan: Plan, figures: SeriesFigures | None, state: AlertState | None, at: datetime
    ) -> Transition | None:
        """Next transition of the plan's implausible-figure alert: warning while the comparison of the reading
        with the plan is beyond the plausibility factor, resolved once a judgement is plausible again."""
        firing = state is not None and state.status == "firing"
        if at > self.closes_at(plan):
            return self._closed(plan, state, at)
        result = self.progress(plan, figures)
        if figures is None or result is None or not (result.implausible or result.evaluated):
            return None  # nothing judged: the alert stays as it is
        if not result.implausible and not firing:
            return None
        key = plan_alert_key(IMPLAUSIBLE, plan)
        indicator = get_indicator(plan.indicator)
        reading_at = figures.last_as_of or at
        annotations = implausible_annotations(
            plan,
            result,
            figures.ytd,
            reading_at,
            indicator_name=indicator.name_en,
            factor=self.thresholds_of(plan.indicator).implausible_factor,
            runbook_url=self._runbook(IMPLAUSIBLE),
            evaluated_at=at,
        )
        if not result.implausible:
            ratio = "n/a" if result.ratio is None else f"{result.ratio:.3f}"
            name = indicator.name_en[:1].lower() + indicator.name_en[1:]
            annotations["summary"] = (
                f"{plan.province_name}: {name} and the {plan.year} {plan.basis} plan are comparable again "
                f"(ratio {ratio} on the reading of {reading_at.astimezone(VN_TZ).date().isoformat()})"
            )
        labels = alert_labels(key, plan.province_code, plan.province_name)
        severity: Severity | None = "warning" if result.implausible else None
        return _pending(step(state, severity, at, annotations, key=key, labels=labels))

    def no_report(
        self, plan: Plan, figures: SeriesFigures | None, state: AlertState | None, at: datetime
    ) -> Transition | None:
        """Next transition of the no-report alert of a plan's series: warning when nothing at all has arrived
        for it by its first expected report, resolved by the first figure (or when the plan period ends)."""
        firing = state is not None and state.status == "firing"
        indicator = get_indicator(plan.indicator)
        reported = figures is not None and figures.has_figures
        closed = at > self.closes_at(plan)
        severity = None if closed else evaluate_no_report(plan.year, reported, at, indicator.cadence_days)
        start = year_bounds(plan.year)[0].astimezone(VN_TZ).date() - timedelta(days=1)
        if severity is not None and gap_explained_by_holidays(
            start, at.astimezone(VN_TZ).date(), indicator.cadence_days
        ):
            severity = None  # the first report's delay is within the working days the holidays took
        if severity is None and not firing:
            return None
        key = plan_alert_key(NO_REPORT, plan)
        annotations = no_report_annotations(
            plan,
            at,
            indicator_name=indicator.name_en,
            cadence_days=indicator.cadence_days,
            severity=severity,
            runbook_url=self._runbook(NO_REPORT),
        )
        if severity is None:
            annotations["resolution"] = (
                "the first figure arrived" if reported else f"the {plan.year} plan's alerting period ended"
            )
        labels = alert_labels(key, plan.province_code, plan.province_name)
        return _pending(step(state, severity, at, annotations, key=key, labels=labels))

    def staleness(self, figures: SeriesFigures, state: AlertState | None, at: datetime) -> Transition | None:
        """Next transition of a series' stale-feed alert (unit view only; pass the unit's freshest series, see
        :func:`freshest`). A unit that ceased to exist (the 2025 merger) is not stale after its last day."""
        if figures.last_as_of is None or figures.view != View.UNIT:
            return None
        indicator = get_indicator(figures.indicator)
        province = province_of(figures.unit)
        ended = province.valid_to is not None and at.astimezone(VN_TZ).date() >= province.valid_to
        severity = None if ended else evaluate_staleness(figures.last_as_of, at, indicator.cadence_days)
        severity = _holiday_held(severity, figures.last_as_of, at, indicator.cadence_days)
        key = AlertKey(FEED_STALE, figures.unit, figures.indicator)
        annotations = staleness_annotations(
            province.name,
            indicator.name_en,
            figures.last_as_of,
            at,
            cadence_days=indicator.cadence_days,
            severity=severity,
            runbook_url=self._runbook(FEED_STALE),
        )
        labels = alert_labels(key, province.code, province.name)
        return _pending(step(state, severity, at, annotations, key=key, labels=labels))

    def retire(self, state: AlertState | None, at: datetime, reason: str) -> Transition | None:
        """Resolve a firing alert whose subject is gone (plan removed or closed, legacy key), saying why."""
        if state is None or state.status != "firing":
            return None
        return _pending(step(state, None, at, {**state.annotations, "resolution": reason}))


def _holiday_held(severity: Severity | None, last: datetime, at: datetime, cadence_days: int) -> Severity | None:
    """A stale feed's severity once holidays are allowed for: critical needs a gap beyond twice the cadence in
    working days, warning beyond the cadence (a feed silent over Tết or 30/4-1/5 is not late)."""
    last_day, day = last.astimezone(VN_TZ).date(), at.astimezone(VN_TZ).date()
    if severity == "critical" and gap_explained_by_holidays(last_day, day, 2 * cadence_days):
        severity = "warning"
    if severity == "warning" and gap_explained_by_holidays(last_day, day, cadence_days):
        severity = None
    return severity


def plan_alert_key(rule: Rule, plan: Plan) -> AlertKey:
    """The alert of a plan for a rule: per basis and year (the no-report alert is per series and year)."""
    return AlertKey(rule, plan.province_uid, plan.indicator, "" if rule == NO_REPORT else plan.basis, plan.year)


def _pending(transition: Transition) -> Transition:
    """A transition that pages is not delivered yet: clear ``last_sent_at`` so delivery picks it up."""
    if not transition.sends:
        return transition
    return replace(transition, state=replace(transition.state, last_sent_at=None))
