"""Alert rules and alert lifecycle for the alert worker: pure functions, no Kafka and no clock of their own.

Rules
    *Behind plan* (``TiendoBehindPlan``): ratio = actual year-to-date / expected value at the reading's date,
    where the expected value is target x the plan's expected cumulative fraction at the instant the reading is
    valid for (its ``as_of``), never at the evaluation time: a reading cannot move between two reports, so
    judging it against a later date would page a province that is on plan at every report. ``warning`` below
    ``Thresholds.warning`` (0.9), ``critical`` below ``Thresholds.critical`` (0.75). For a lower-is-better
    indicator the ratio is inverted (expected / actual) so the same thresholds mean "as far off plan".
    Nothing is judged for a reading dated in the first ``min_elapsed_days`` of the plan year or while no
    progress is expected yet (expected fraction 0): the result is then ``evaluated=False`` and carries the
    previous severity.

    *Implausible figure* (``TiendoImplausibleFigure``): when the ratio (or its inverse) is beyond
    ``Thresholds.implausible_factor`` (200) with a non-zero actual, the plan row or the reading is most likely
    misread by ~1000x (``14,356`` read as ``14.356``): the result is ``implausible`` and not evaluated, so the
    behind-plan alert neither fires nor moves on it; the implausible-figure alert (warning) fires instead.

    Hysteresis: escalation is immediate, recovery needs a margin. A firing alert resolves only once the ratio
    reaches ``warning + resolve_margin`` (0.95); a critical alert de-escalates to warning only once the ratio
    reaches ``critical + resolve_margin`` (0.80). In between the previous severity is held.

    *Stale feed* (``TiendoFeedStale``): no update for longer than the indicator's cadence is a warning, for
    longer than twice the cadence critical. A series that never reported has no age and raises nothing here:

    *No report yet* (``TiendoNoReport``): a plan whose series has no reading at all once its first report is
    due (1 January of the plan year + the indicator's cadence) is a warning, resolved by the first figure.
    The stale and no-report rules do not page for a gap that public holidays explain
    (:func:`shared.timeliness.gap_explained_by_holidays`: a report silent over Tết is not late).

    *Forecast shortfall* (``TiendoForecastShortfall``, warning): the year-end projection of the series' reading
    (:func:`shared.forecast.forecast`, judged at the reading's date) below the plan's year-end value by more than
    ``Thresholds.shortfall_margin`` (10 points of the target); once firing it resolves only ``resolve_margin``
    above that (:func:`shared.forecast.shortfall`). It names the miss months before the behind-plan rule can.

Lifecycle
    :func:`step` moves an :class:`AlertState` on with each evaluation: ``fired`` (send), ``escalated`` or
    ``deescalated`` (send the new severity and resolve the old one, whose labels differ), ``repeat`` (re-send
    while firing, see :func:`needs_resend`), ``resolved`` (send once with ``endsAt``) or ``unchanged``. The
    same severity evaluated again never re-fires. :func:`to_alertmanager` renders a state for Alertmanager's
    API v2 (``POST /api/v2/alerts``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, Literal

from shared.forecast import Forecast
from shared.plans import Plan
from shared.vntime import MONTH_NAMES, VN_TZ, iso, parse_iso, year_bounds

__all__ = [
    "BEHIND_PLAN",
    "FEED_STALE",
    "FORECAST_SHORTFALL",
    "IMPLAUSIBLE",
    "NO_REPORT",
    "AlertKey",
    "AlertState",
    "Event",
    "ProgressResult",
    "Rule",
    "Severity",
    "Status",
    "Thresholds",
    "Transition",
    "alert_labels",
    "evaluate_no_report",
    "evaluate_progress",
    "evaluate_staleness",
    "first_report_due",
    "forecast_annotations",
    "format_amount",
    "implausible_annotations",
    "mark_sent",
    "needs_resend",
    "no_report_annotations",
    "progress_annotations",
    "staleness_annotations",
    "step",
    "thresholds_for",
    "to_alertmanager",
]

Severity = Literal["warning", "critical"]
Rule = Literal[
    "TiendoBehindPlan", "TiendoFeedStale", "TiendoNoReport", "TiendoImplausibleFigure", "TiendoForecastShortfall"
]
Status = Literal["inactive", "firing", "resolved"]
Event = Literal["fired", "escalated", "deescalated", "resolved", "unchanged", "repeat"]

BEHIND_PLAN: Final[Rule] = "TiendoBehindPlan"
FEED_STALE: Final[Rule] = "TiendoFeedStale"
NO_REPORT: Final[Rule] = "TiendoNoReport"
IMPLAUSIBLE: Final[Rule] = "TiendoImplausibleFigure"
FORECAST_SHORTFALL: Final[Rule] = "TiendoForecastShortfall"
_RANK: Final[Mapping[Severity | None, int]] = {None: 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Thresholds:
    """Ratio levels of the behind-plan rule (ratio 1 = exactly on plan)."""

    warning: Decimal = Decimal("0.9")
    critical: Decimal = Decimal("0.75")
    resolve_margin: Decimal = Decimal("0.05")
    min_elapsed_days: int = 20
    implausible_factor: Decimal = Decimal(200)
    """A ratio above this, or below its inverse with a non-zero actual, is a misread figure, not progress."""
    shortfall_margin: Decimal = Decimal("0.10")
    """The forecast-shortfall rule: the year-end projection below plan by more than this share of the target."""

    def __post_init__(self) -> None:
        for name in ("warning", "critical", "resolve_margin", "implausible_factor", "shortfall_margin"):
            object.__setattr__(self, name, Decimal(str(getattr(self, name))))
        if not Decimal(0) < self.critical < self.warning:
            raise ValueError(f"thresholds need 0 < critical < warning, got {self.critical} and {self.warning}")
        if self.resolve_margin < 0 or self.min_elapsed_days < 0:
            raise ValueError("resolve_margin and min_elapsed_days must not be negative")
        if not self.resolve_margin <= self.shortfall_margin < 1:
            raise ValueError(f"shortfall_margin must be in [resolve_margin, 1), got {self.shortfall_margin}")
        if not self.implausible_factor > max(Decimal(1), 1 / self.critical):
            raise ValueError(f"implausible_factor must be above 1/critical, got {self.implausible_factor}")


def thresholds_for(
    indicator: str, overrides: Mapping[str, Thresholds], default: Thresholds | None = None
) -> Thresholds:
    """The thresholds for an indicator: its override, else ``default`` (the built-in levels if None)."""
    return overrides.get(indicator) or default or Thresholds()


@dataclass(frozen=True)
class ProgressResult:
    """Outcome of the behind-plan rule for one plan at one instant.

    ``ratio`` is the performance ratio compared with the thresholds (>= 1 is on or ahead of plan; inverted for
    lower-is-better indicators); ``actual_fraction`` is actual / yearly target; ``at`` the instant judged (the
    reading's date). ``implausible``: the ratio is beyond the plausibility factor (then ``evaluated`` is False).
    """

    ratio: Decimal | None
    actual_fraction: Decimal
    expected_fraction: Decimal
    expected_value: Decimal
    severity: Severity | None
    evaluated: bool
    reason: str
    at: datetime | None = None
    implausible: bool = False


def _raw_severity(ratio: Decimal, thresholds: Thresholds) -> Severity | None:
    if ratio < thresholds.critical:
        return "critical"
    if ratio < thresholds.warning:
        return "warning"
    return None


def _with_hysteresis(ratio: Decimal, thresholds: Thresholds, previous: Severity | None) -> Severity | None:
    raw = _raw_severity(ratio, thresholds)
    if previous is None or _RANK[raw] >= _RANK[previous]:
        return raw
    if previous == "critical" and ratio < thresholds.critical + thresholds.resolve_margin:
        return "critical"
    if ratio < thresholds.warning + thresholds.resolve_margin:
        return "warning"
    return None


def evaluate_progress(  # noqa: PLR0917 (the rule's published signature)
    plan: Plan,
    actual_ytd: Decimal,
    at: datetime,
    thresholds: Thresholds,
    higher_is_better: bool,
    previous: Severity | None,
) -> ProgressResult:
    """Judge a year-to-date reading (base unit) valid at ``at`` (its ``as_of``) against the plan at ``at``."""
    start, _ = year_bounds(plan.year)
    fraction = plan.expected_fraction(at)
    expected = plan.target * fraction
    actual_fraction = actual_ytd / plan.target
    elapsed = at - start

    def unjudged(reason: str, ratio: Decimal | None = None, *, implausible: bool = False) -> ProgressResult:
        return ProgressResult(
            ratio, actual_fraction, fraction, expected, previous, False, reason, at, implausible=implausible
        )

    if elapsed < timedelta(days=thresholds.min_elapsed_days):
        days = max(elapsed.days, 0)
        return unjudged(f"{days} day(s) of {plan.year} elapsed; judged from day {thresholds.min_elapsed_days}")
    if fraction == 0:
        return unjudged("no progress expected yet")
    if higher_is_better:
        ratio = actual_ytd / expected
    elif actual_ytd > 0:
        ratio = expected / actual_ytd
    else:
        return ProgressResult(None, actual_fraction, fraction, expected, None, True, "nothing used yet", at)
    factor = thresholds.implausible_factor
    if actual_ytd > 0 and not 1 / factor <= ratio <= factor:
        return unjudged(f"implausible: ratio {ratio:.4g} is beyond the factor {factor}", ratio, implausible=True)
    severity = _with_hysteresis(ratio, thresholds, previous)
    if severity is None:
        reason = "on track"
    elif severity == _raw_severity(ratio, thresholds):
        reason = "behind plan"
    else:
        reason = f"recovering: {severity} held until the ratio recovers by {thresholds.resolve_margin}"
    return ProgressResult(ratio, actual_fraction, fraction, expected, severity, True, reason, at)


def evaluate_staleness(last_update: datetime | None, at: datetime, cadence_days: int) -> Severity | None:
    """Severity of a silent feed: warning after ``cadence_days`` without update, critical after twice that."""
    if last_update is None:
        return None
    age = at - last_update
    if age > timedelta(days=2 * cadence_days):
        return "critical"
    if age > timedelta(days=cadence_days):
        return "warning"
    return None


def first_report_due(plan_year: int, cadence_days: int) -> datetime:
    """When a series' first report is due: 1 January of the plan year (Vietnam) + the indicator's cadence."""
    return year_bounds(plan_year)[0] + timedelta(days=cadence_days)


def evaluate_no_report(plan_year: int, has_reading: bool, at: datetime, cadence_days: int) -> Severity | None:
    """Severity of a plan whose series has no reading at all: warning once its first report is overdue."""
    if has_reading or at <= first_report_due(plan_year, cadence_days):
        return None
    return "warning"


@dataclass(frozen=True)
class AlertKey:
    """Identity of one alert: rule, province unit, indicator, plan basis (``""`` for staleness and no-report)
    and plan year (0 for staleness, which follows a feed across years; also alerts stored before plan years
    were part of the key)."""

    rule: Rule
    province_uid: str
    indicator: str
    basis: str = ""
    year: int = 0

    @property
    def id(self) -> str:
        """Key of the alert's state in the worker's table."""
        base = f"{self.rule}|{self.province_uid}|{self.indicator}|{self.basis}"
        return f"{base}|{self.year}" if self.year else base


@dataclass(frozen=True)
class AlertState:
    """Where one alert stands; ``severity`` is kept after resolving (the resolve message carries it)."""

    key: AlertKey
    status: Status = "inactive"
    severity: Severity | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    last_sent_at: datetime | None = None
    updated_at: datetime | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for the worker's table."""
        return {
            "key": {
                "rule": self.key.rule,
                "province_uid": self.key.province_uid,
                "indicator": self.key.indicator,
                "basis": self.key.basis,
                "year": self.key.year,
            },
            "status": self.status,
            "severity": self.severity,
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at),
            "last_sent_at": iso(self.last_sent_at),
            "updated_at": iso(self.updated_at),
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertState:
        """Inverse of :meth:`to_dict`."""
        return cls(
            key=AlertKey(**data["key"]),
            status=data["status"],
            severity=data["severity"],
            starts_at=parse_iso(data["starts_at"]),
            ends_at=parse_iso(data["ends_at"]),
            last_sent_at=parse_iso(data["last_sent_at"]),
            updated_at=parse_iso(data["updated_at"]),
            labels=dict(data["labels"]),
            annotations=dict(data["annotations"]),
        )


@dataclass(frozen=True)
class Transition:
    """The state after one evaluation and what happened.

    ``superseded`` is set on escalation/de-escalation: the old severity's alert, resolved, to be sent along so
    Alertmanager drops the old label set at once.
    """

    state: AlertState
    event: Event
    superseded: AlertState | None = None

    @property
    def sends(self) -> bool:
        """Whether this transition is to be sent to Alertmanager."""
        return self.event != "unchanged"


def step(
    state: AlertState | None,
    new_severity: Severity | None,
    at: datetime,
    annotations: Mapping[str, str],
    *,
    key: AlertKey | None = None,
    labels: Mapping[str, str] | None = None,
    repeat_interval: timedelta | None = None,
) -> Transition:
    """Move an alert on with a new evaluation at ``at``.

    ``key`` is needed when there is no state yet; ``labels`` (default: kept) are the alert's stable labels
    without alertname and severity. With ``repeat_interval``, a firing alert due for re-sending gives
    ``repeat``.
    """
    if state is None:
        if key is None:
            raise TypeError("step() needs the alert key when there is no state yet")
        state = AlertState(key)
    elif key is not None and key != state.key:
        raise ValueError(f"key {key.id} does not match the state's {state.key.id}")
    kept_labels = state.labels if labels is None else dict(labels)
    updated = replace(state, updated_at=at, labels=kept_labels)
    firing = state.status == "firing"

    if new_severity is None:
        if not firing:
            return Transition(updated, "unchanged")
        return Transition(replace(updated, status="resolved", ends_at=at, annotations=dict(annotations)), "resolved")
    if not firing:
        fired = replace(
            updated,
            status="firing",
            severity=new_severity,
            starts_at=at,
            ends_at=None,
            last_sent_at=None,
            annotations=dict(annotations),
        )
        return Transition(fired, "fired")
    current = replace(updated, annotations=dict(annotations))
    if new_severity == state.severity:
        due = repeat_interval is not None and needs_resend(state, at, repeat_interval)
        return Transition(current, "repeat" if due else "unchanged")
    event: Event = "escalated" if _RANK[new_severity] > _RANK[state.severity] else "deescalated"
    superseded = replace(state, status="resolved", ends_at=at, updated_at=at, labels=kept_labels)
    return Transition(replace(current, severity=new_severity, last_sent_at=None), event, superseded)


def needs_resend(state: AlertState, now: datetime, interval: timedelta) -> bool:
    """Whether to (re-)send: firing and never sent or sent ``interval`` ago, or resolved and not yet sent."""
    if state.status == "firing":
        return state.last_sent_at is None or now - state.last_sent_at >= interval
    if state.status == "resolved":
        return state.last_sent_at is None or (state.ends_at is not None and state.last_sent_at < state.ends_at)
    return False


def mark_sent(state: AlertState, at: datetime) -> AlertState:
    """The state once Alertmanager accepted it at ``at``."""
    return replace(state, last_sent_at=at)


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_alertmanager(
    state: AlertState,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    generator_url: str = "",
    *,
    now: datetime | None = None,
    valid_for: timedelta | None = None,
) -> dict[str, Any]:
    """One alert of an Alertmanager API v2 ``postableAlerts`` body; labels/annotations default to the state's.

    A resolved alert carries its ``endsAt``. A firing alert carries ``endsAt = now + valid_for`` when both are
    given: without it Alertmanager resolves the alert by itself after its ``resolve_timeout`` (5 minutes by
    default), so either pass ``valid_for`` well above the re-send interval or re-send more often than that.
    """
    if state.status == "inactive" or state.severity is None or state.starts_at is None:
        raise ValueError(f"alert {state.key.id} has never fired: nothing to send")
    body: dict[str, Any] = {
        "labels": {
            **(state.labels if labels is None else labels),
            "alertname": state.key.rule,
            "severity": state.severity,
        },
        "annotations": {
            **(state.annotations if annotations is None else annotations),
            "since": _rfc3339(state.starts_at),
        },
        "startsAt": _rfc3339(state.starts_at),
    }
    if state.status == "resolved" and state.ends_at is not None:
        body["endsAt"] = _rfc3339(state.ends_at)
    elif now is not None and valid_for is not None:
        body["endsAt"] = _rfc3339(now + valid_for)
    if generator_url:
        body["generatorURL"] = generator_url
    return body


def alert_labels(key: AlertKey, province_code: str, province_name: str) -> dict[str, str]:
    """The stable labels of an alert (alertname and severity are added by :func:`to_alertmanager`)."""
    labels = {"province": province_code, "province_name": province_name, "indicator": key.indicator}
    if key.basis:
        labels["plan_basis"] = key.basis
    if key.year:
        labels["plan_year"] = str(key.year)
    return labels


def _percent(fraction: Decimal) -> int:
    return int((fraction * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _day(at: datetime, year: int | None = None) -> str:
    """``31 December``; with the year when it is not ``year`` (``20 January 2025`` for a 2024 plan)."""
    local = at.astimezone(VN_TZ)
    day = f"{local.day} {MONTH_NAMES[local.month - 1]}"
    return day if local.year == year else f"{day} {local.year}"


def _grouped(value: Decimal, places: int) -> str:
    text = f"{value:,.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_amount(value: Decimal, base_unit: str, *, places: int | None = None) -> str:
    """A base-unit amount as people read it: ``1,395 bn VND``, ``624.26 mn USD``, ``12.5 ha``, ``8,900``;
    ``places`` overrides the decimals shown (trailing zeros are dropped)."""
    if base_unit == "VND" and abs(value) >= 10**9:
        return f"{_grouped(value / 10**9, 1 if places is None else places)} bn VND"
    if base_unit == "USD" and abs(value) >= 10**9:
        return f"{_grouped(value / 10**9, 2 if places is None else places)} bn USD"
    if base_unit == "USD" and abs(value) >= 10**6:
        return f"{_grouped(value / 10**6, 2 if places is None else places)} mn USD"
    if base_unit == "count":
        return _grouped(value, 0 if places is None else places)
    return f"{_grouped(value, 2 if places is None else places)} {base_unit}"


def progress_annotations(
    plan: Plan,
    result: ProgressResult,
    actual_ytd: Decimal,
    at: datetime,
    *,
    indicator_name: str,
    higher_is_better: bool = True,
    runbook_url: str = "",
    evaluated_at: datetime | None = None,
) -> dict[str, str]:
    """Annotations of a behind-plan alert on a reading valid at ``at`` (its date, which the summary names);
    ``evaluated_at`` (when the worker judged it) goes in its own annotation. ``since`` is added when sent."""
    actual, expected = _percent(result.actual_fraction), _percent(result.expected_fraction)
    gap = actual - expected
    position = ("behind" if gap < 0 else "ahead of") if higher_is_better else ("above" if gap > 0 else "below")
    status = result.severity or "on track"
    name = _lower_first(indicator_name)
    summary = (
        f"{plan.province_name}: {name} is {actual}% of the {plan.year} {plan.basis} plan on {_day(at, plan.year)}, "
        f"{abs(gap)} points {position} the expected {expected}% — {status}"
    )
    ratio = "n/a" if result.ratio is None else f"{result.ratio:.3f}"
    curve = f"the {plan.curve} curve" if plan.curve else "the plan's milestones"
    description = (
        f"{plan.province_name} ({plan.province_code}) {plan.indicator}: year-to-date "
        f"{format_amount(actual_ytd, plan.base_unit)} reported as of {_day(at)} against the {plan.basis} "
        f"{plan.year} target of {format_amount(plan.target, plan.base_unit)}"
        + (f" ({plan.source})" if plan.source else "")
        + f"; {format_amount(result.expected_value, plan.base_unit)} expected by that date on {curve}; "
        f"ratio {ratio}. Judged on the reading's date: until the next report this judgement stands "
        "(a silent feed is TiendoFeedStale's)."
    )
    notes = {
        "summary": summary,
        "description": description,
        "actual": format_amount(actual_ytd, plan.base_unit),
        "expected": format_amount(result.expected_value, plan.base_unit),
        "target": format_amount(plan.target, plan.base_unit),
        "ratio": ratio,
        "as_of": _rfc3339(at),
        "runbook_url": runbook_url,
    }
    if evaluated_at is not None:
        notes["evaluated_at"] = _rfc3339(evaluated_at)
    return notes


def forecast_annotations(
    plan: Plan,
    fc: Forecast,
    *,
    indicator_name: str,
    margin: Decimal,
    rank: str | None = None,
    runbook_url: str = "",
    evaluated_at: datetime | None = None,
) -> dict[str, str]:
    """Annotations of a forecast-shortfall alert: the year-end projection as a share of the plan, with its range
    (``78 % ± 6``), from the reading of ``fc.as_of``; ``rank`` (``32nd of 34; national average 46.3 %``) if known."""
    ratio = fc.ratio_to_target or Decimal(0)
    expected = fc.year_end.expected
    low = fc.low / expected if expected > 0 else ratio
    high = fc.high / expected if expected > 0 else ratio
    spread = _percent((high - low) / 2)
    share = f"{_percent(ratio)} %" + (f" ± {spread}" if spread else "")
    end = _day(fc.at, plan.year)
    name = _lower_first(indicator_name)
    summary = (
        f"{plan.province_name}: on current pace {plan.province_name} reaches {share} of its {plan.year} "
        f"{plan.basis} plan by {end}"
    )
    pace = "n/a" if fc.pace is None else f"{fc.pace:.2f}"
    description = (
        f"On current pace {plan.province_name} reaches {share} of its {plan.year} {plan.basis} plan by {end} "
        f"({name}: {format_amount(fc.point, plan.base_unit)} projected, range {format_amount(fc.low, plan.base_unit)}"
        f" to {format_amount(fc.high, plan.base_unit)}, against {format_amount(expected, plan.base_unit)}), "
        f"from {format_amount(fc.actual, plan.base_unit)} reported as of {_day(fc.as_of)} (pace {pace} of the plan "
        f"curve). Warning while the projection is more than {_percent(margin)} points short of the plan; "
        f"method: {fc.method}; range from {fc.range_method}."
    )
    notes = {
        "summary": summary,
        "description": description,
        "projected": format_amount(fc.point, plan.base_unit),
        "projected_low": format_amount(fc.low, plan.base_unit),
        "projected_high": format_amount(fc.high, plan.base_unit),
        "projected_ratio": f"{ratio:.3f}",
        "target": format_amount(plan.target, plan.base_unit),
        "as_of": _rfc3339(fc.as_of),
        "runbook_url": runbook_url,
    }
    if rank is not None:
        notes["rank"] = rank
    if evaluated_at is not None:
        notes["evaluated_at"] = _rfc3339(evaluated_at)
    return notes


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _times(ratio: Decimal) -> str:
    """How far a ratio is from 1, as people say it: ``1,304x`` or ``1/998``."""
    if ratio >= 1:
        return f"{ratio:,.0f}x"
    return f"1/{1 / ratio:,.0f}"


def implausible_annotations(
    plan: Plan,
    result: ProgressResult,
    actual_ytd: Decimal,
    at: datetime,
    *,
    indicator_name: str,
    factor: Decimal,
    runbook_url: str = "",
    evaluated_at: datetime | None = None,
) -> dict[str, str]:
    """Annotations of an implausible-figure alert: the plan target, the reading, its date and the factor."""
    name = _lower_first(indicator_name)
    # Three decimals: the notation of a misread figure shows (14.356 bn VND, not 14.4).
    reading = format_amount(actual_ytd, plan.base_unit, places=3)
    target = format_amount(plan.target, plan.base_unit, places=3)
    expected = format_amount(result.expected_value, plan.base_unit)
    times = "n/a" if result.ratio is None else _times(result.ratio)
    notes = {
        "summary": (
            f"{plan.province_name}: {name} reading of {reading} on {_day(at)} is {times} what the {plan.year} "
            f"{plan.basis} plan (target {target}) expects — a misread unit or notation?"
        ),
        "description": (
            f"{plan.province_name} ({plan.province_code}) {plan.indicator}: the year-to-date reading {reading} as "
            f"of {_day(at)} against {expected} expected by then on the {plan.basis} {plan.year} plan, whose target "
            f"is {target}" + (f" ({plan.source})" if plan.source else "") + f": {times}, beyond the plausibility "
            f'factor {factor:f}. A figure misread by ~1000x ("14,356" tỷ đồng read as 14.356) is the usual '
            "cause: check the unit and notation of the plan row (tiendo plans show; fix the file, tiendo plans "
            "load) or of the feed event (tiendo totals, the feed's events; a correction with a higher revision). "
            "The behind-plan rule does not judge this comparison until it is plausible again."
        ),
        "actual": reading,
        "expected": expected,
        "target": target,
        "ratio": "n/a" if result.ratio is None else f"{result.ratio:.4g}",
        "factor": f"{factor:f}",
        "as_of": _rfc3339(at),
        "runbook_url": runbook_url,
    }
    if evaluated_at is not None:
        notes["evaluated_at"] = _rfc3339(evaluated_at)
    return notes


def no_report_annotations(
    plan: Plan,
    at: datetime,
    *,
    indicator_name: str,
    cadence_days: int,
    severity: Severity | None,
    runbook_url: str = "",
) -> dict[str, str]:
    """Annotations of a no-report alert (a plan whose series has no reading yet)."""
    name = _lower_first(indicator_name)
    due = first_report_due(plan.year, cadence_days)
    status = severity or "reported"
    return {
        "summary": (
            f"{plan.province_name}: no {name} figure for {plan.year} yet (first report due by {_day(due)}) — {status}"
        ),
        "description": (
            f"{plan.province_name} ({plan.province_code}) has a {plan.year} plan for {plan.indicator} "
            f"(target {format_amount(plan.target, plan.base_unit)}) but no figure of that year has arrived: the "
            f"first was due {cadence_days} days into the year ({_rfc3339(due)}). Nothing can be judged against "
            "the plan until one arrives."
        ),
        "due": _rfc3339(due),
        "as_of": _rfc3339(at),
        "runbook_url": runbook_url,
    }


def staleness_annotations(
    province_name: str,
    indicator_name: str,
    last_update: datetime,
    at: datetime,
    *,
    cadence_days: int,
    severity: Severity | None,
    runbook_url: str = "",
) -> dict[str, str]:
    """Annotations of a stale-feed alert."""
    days = (at - last_update).days
    name = _lower_first(indicator_name)
    last = _day(last_update)
    return {
        "summary": (
            f"{province_name}: no {name} update for {days} days (last {last}; "
            f"expected every {cadence_days} days) — {severity or 'fresh'}"
        ),
        "description": (
            f"The feed for {name} in {province_name} has been silent since {_rfc3339(last_update)}: "
            f"warning after {cadence_days} days, critical after {2 * cadence_days}."
        ),
        "last_update": _rfc3339(last_update),
        "as_of": _rfc3339(at),
        "runbook_url": runbook_url,
    }
