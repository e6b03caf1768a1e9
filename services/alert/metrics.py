"""Prometheus metrics of the alert worker."""

from __future__ import annotations

import contextlib
from collections import Counter as Tally
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.alerting import (
    BEHIND_PLAN,
    FEED_STALE,
    FORECAST_SHORTFALL,
    IMPLAUSIBLE,
    NO_REPORT,
    AlertState,
    ProgressResult,
)
from shared.forecast import Forecast
from shared.metrics import WorkerMetrics

RULES = (BEHIND_PLAN, FEED_STALE, NO_REPORT, IMPLAUSIBLE, FORECAST_SHORTFALL)
BOUNDS = ("point", "low", "high")


class AlertMetrics:
    """``tiendo_alert_*``: alerts firing, evaluations, progress ratios (deliveries live in ``Delivery``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.worker = WorkerMetrics("alert", registry)
        self.firing = Gauge(
            "tiendo_alert_firing",
            "Alerts firing now, by rule and severity.",
            ["alertname", "severity"],
            registry=registry,
        )
        self.evaluations = Counter(
            "tiendo_alert_evaluations_total", "Rule evaluations, by rule.", ["alertname"], registry=registry
        )
        self.transitions = Counter(
            "tiendo_alert_transitions_total",
            "Alert state changes that page: fired, escalated, deescalated, resolved.",
            ["alertname", "event"],
            registry=registry,
        )
        self.ratio = Gauge(
            "tiendo_alert_progress_ratio",
            "Latest reading / progress expected at its date, per province code, indicator, plan basis (1 = on plan).",
            ["province", "indicator", "plan_basis"],
            registry=registry,
        )
        self.expected_fraction = Gauge(
            "tiendo_alert_expected_progress_ratio",
            "Fraction of the yearly target expected on the plan's curve by the date of the latest reading.",
            ["province", "indicator", "plan_basis"],
            registry=registry,
        )
        self.actual_fraction = Gauge(
            "tiendo_alert_actual_progress_ratio",
            "Fraction of the yearly target reached (year-to-date / target).",
            ["province", "indicator", "plan_basis"],
            registry=registry,
        )
        self.projected = Gauge(
            "tiendo_alert_projected_year_end_ratio",
            "Projected year-end figure / the plan's year-end value (1 = on plan), from the latest reading; bound: "
            "point, low or high end of the range.",
            ["province", "indicator", "plan_basis", "bound"],
            registry=registry,
        )
        self.rank = Gauge(
            "tiendo_alert_progress_rank",
            "Rank of the province by progress (percent of the yearly target at its reading's date), 1 = best.",
            ["province", "indicator", "plan_basis"],
            registry=registry,
        )
        self.on_time = Gauge(
            "tiendo_alert_on_time_report_ratio",
            "Share of the plan year's expected reports that arrived by their deadline (holidays allowed for).",
            ["province", "indicator"],
            registry=registry,
        )
        self.totals = Counter(
            "tiendo_alert_totals_total",
            "Totals read: applied to the figures, unused (a view nothing judges), misrouted (a copy in a partition "
            "other than its series': ignored), rejected (unreadable).",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("applied", "unused", "misrouted", "rejected"):
            self.totals.labels(outcome)
        for rule in RULES:
            self.evaluations.labels(rule)
            for severity in ("warning", "critical"):
                self.firing.labels(rule, severity)

    def count_firing(self, states: Iterable[AlertState]) -> None:
        self.set_firing(Tally((s.key.rule, s.severity) for s in states if s.status == "firing"))

    def set_firing(self, tally: Mapping[tuple[str, str | None], int]) -> None:
        """The firing gauges from a count of firing alerts by (rule, severity)."""
        for rule in RULES:
            for severity in ("warning", "critical"):
                self.firing.labels(rule, severity).set(tally.get((rule, severity), 0))

    def observe_progress(self, province: str, indicator: str, basis: str, result: ProgressResult) -> None:
        """A plan's progress gauges from its latest judgement (no ratio while it is implausible)."""
        labels = (province, indicator, basis)
        if result.ratio is not None and not result.implausible:
            self.ratio.labels(*labels).set(float(result.ratio))
        self.actual_fraction.labels(*labels).set(float(result.actual_fraction))
        self.expected_fraction.labels(*labels).set(float(result.expected_fraction))

    def observe_forecast(self, province: str, indicator: str, basis: str, fc: Forecast) -> None:
        """A plan's projected year-end ratio gauges (point, low, high)."""
        expected = fc.year_end.expected
        if expected <= 0:
            return
        for bound, value in zip(BOUNDS, (fc.point, fc.low, fc.high), strict=True):
            self.projected.labels(province, indicator, basis, bound).set(float(value / expected))

    def forget_progress(self, province: str, indicator: str, basis: str) -> None:
        """Drop a plan's gauges (its partition moved to another replica, which shows them now)."""
        for gauge in (self.ratio, self.actual_fraction, self.expected_fraction, self.rank):
            with contextlib.suppress(KeyError):
                gauge.remove(province, indicator, basis)
        for bound in BOUNDS:
            with contextlib.suppress(KeyError):
                self.projected.remove(province, indicator, basis, bound)
        with contextlib.suppress(KeyError):
            self.on_time.remove(province, indicator)
