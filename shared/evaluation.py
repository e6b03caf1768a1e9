"""What the alert worker evaluates: plans against the year-to-date figures it follows. Pure, no Kafka.

The alert worker keeps, per series, the year-to-date figures read from ``indicator.totals``
(:class:`SeriesFigures`), and per alert an :class:`~shared.alerting.AlertState`. :class:`Evaluator` turns a plan
and its series (or a series alone, for staleness) into the next alert transition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from shared.alerting import (
    BEHIND_PLAN,
    FEED_STALE,
    AlertKey,
    AlertState,
    ProgressResult,
    Severity,
    Thresholds,
    Transition,
    alert_labels,
    evaluate_progress,
    evaluate_staleness,
    progress_annotations,
    staleness_annotations,
    step,
    thresholds_for,
)
from shared.indicators import get_indicator
from shared.plans import Plan
from shared.provinces import MERGER_DATE, Province, registry
from shared.vntime import year_bounds

#: Views of ``indicator.totals`` (see services/aggregate): per unit as it was, or rolled up to current provinces.
UNIT_VIEW, CURRENT_VIEW = "unit", "current"


def figures_key(view: str, unit: str, indicator: str, year: int) -> str:
    return f"{view}/{unit}|{indicator}|{year}"


def plan_series_key(plan: Plan) -> str:
    """The series a plan is judged on: the unit as it was before the merger year, the current province after.

    From 2025 a merged province's plan covers the whole year, including its constituents' first half.
    """
    if plan.year >= MERGER_DATE.year:
        return figures_key(CURRENT_VIEW, plan.province_code, plan.indicator, plan.year)
    return figures_key(UNIT_VIEW, plan.province_uid, plan.indicator, plan.year)


@dataclass(slots=True)
class SeriesFigures:
    """Year-to-date figures of one series, as last published by the aggregate worker."""

    view: str
    unit: str
    province_code: str
    indicator: str
    year: int
    ytd_by_quarter: dict[int, Decimal] = field(default_factory=dict)
    last_as_of: datetime | None = None

    @property
    def key(self) -> str:
        return figures_key(self.view, self.unit, self.indicator, self.year)

    @property
    def ytd(self) -> Decimal:
        """Year-to-date value at the latest quarter with data."""
        return self.ytd_by_quarter[max(self.ytd_by_quarter)] if self.ytd_by_quarter else Decimal(0)

    @classmethod
    def from_total(cls, total: Mapping[str, Any], previous: SeriesFigures | None) -> SeriesFigures:
        """Fold one ``indicator.totals`` value into the series' figures."""
        figures = previous or cls(
            total["view"], total["unit"], total["province_code"], total["indicator"], int(total["year"])
        )
        figures.ytd_by_quarter[int(total["quarter"])] = Decimal(total["ytd"])
        if total.get("last_as_of"):
            as_of = datetime.fromisoformat(total["last_as_of"])
            figures.last_as_of = as_of if figures.last_as_of is None else max(figures.last_as_of, as_of)
        return figures

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "unit": self.unit,
            "province_code": self.province_code,
            "indicator": self.indicator,
            "year": self.year,
            "ytd": {str(q): format(v, "f") for q, v in self.ytd_by_quarter.items()},
            "last_as_of": self.last_as_of.isoformat() if self.last_as_of else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SeriesFigures:
        return cls(
            d["view"],
            d["unit"],
            d["province_code"],
            d["indicator"],
            int(d["year"]),
            {int(q): Decimal(v) for q, v in d["ytd"].items()},
            datetime.fromisoformat(d["last_as_of"]) if d["last_as_of"] else None,
        )


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
    """The alert rules with their configuration."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    overrides: Mapping[str, Thresholds] = field(default_factory=dict)
    runbook_url: str = ""

    def in_force(self, plan: Plan, at: datetime) -> bool:
        """A plan is evaluated from 1 January of its year until its last milestone."""
        return year_bounds(plan.year)[0] <= at <= plan.milestones[-1][0]

    def progress(
        self, plan: Plan, figures: SeriesFigures, at: datetime, previous: Severity | None = None
    ) -> ProgressResult:
        """The behind-plan rule's judgement of a plan's series at ``at`` (ratio, fractions; severity given the
        previous one), whatever the alert state: what the worker's progress gauges show."""
        return evaluate_progress(
            plan,
            figures.ytd,
            at,
            thresholds_for(plan.indicator, self.overrides, self.thresholds),
            get_indicator(plan.indicator).higher_is_better,
            previous,
        )

    def behind_plan(
        self, plan: Plan, figures: SeriesFigures | None, state: AlertState | None, at: datetime
    ) -> Transition | None:
        """Next transition of the plan's behind-plan alert; None while nothing was reported or nothing changes."""
        if figures is None:
            return None
        indicator = get_indicator(plan.indicator)
        previous = state.severity if state is not None and state.status == "firing" else None
        result = self.progress(plan, figures, at, previous)
        if not result.evaluated:
            return None
        key = AlertKey(BEHIND_PLAN, plan.province_uid, plan.indicator, plan.basis)
        annotations = progress_annotations(
            plan,
            result,
            figures.ytd,
            at,
            indicator_name=indicator.name_en,
            higher_is_better=indicator.higher_is_better,
            runbook_url=f"{self.runbook_url}#tiendobehindplan" if self.runbook_url else "",
        )
        labels = alert_labels(key, plan.province_code, plan.province_name)
        return _pending(step(state, result.severity, at, annotations, key=key, labels=labels))

    def staleness(self, figures: SeriesFigures, state: AlertState | None, at: datetime) -> Transition | None:
        """Next transition of a series' stale-feed alert (unit view only)."""
        if figures.last_as_of is None or figures.view != UNIT_VIEW:
            return None
        indicator = get_indicator(figures.indicator)
        severity = evaluate_staleness(figures.last_as_of, at, indicator.cadence_days)
        province = province_of(figures.unit)
        key = AlertKey(FEED_STALE, figures.unit, figures.indicator)
        annotations = staleness_annotations(
            province.name,
            indicator.name_en,
            figures.last_as_of,
            at,
            cadence_days=indicator.cadence_days,
            severity=severity,
            runbook_url=f"{self.runbook_url}#tiendofeedstale" if self.runbook_url else "",
        )
        labels = alert_labels(key, province.code, province.name)
        return _pending(step(state, severity, at, annotations, key=key, labels=labels))


def _pending(transition: Transition) -> Transition:
    """A transition that pages is not delivered yet: clear ``last_sent_at`` so delivery picks it up."""
    if not transition.sends:
        return transition
    return replace(transition, state=replace(transition.state, last_sent_at=None))
