"""Where a plan series is heading: the projected figure at the next milestone and at the end of the plan year. Pure.

Method (a pace-on-shape projection, as a forecaster reads a cumulative series):

* **Shape.** A shape says which part of the year's amount is usually reached by a day. The plan's own curve is one
  (``Plan.expected_fraction``); the previous year's observed shape (``previous_shape``, a
  :data:`shared.curves.Curve`, e.g. :func:`shared.curves.history_curve` of last year's readings, re-dated day for
  day to the plan year) is another.
* **Point.** From the latest reading A(t), each shape s projects A(t) × s(T) / s(t) to a horizon T (the series keeps
  the pace it has on that shape). On the plan curve this is the behind-plan ratio × the plan's expected value at T,
  so a series exactly on its curve projects exactly its target. With a previous shape the point is the weighted
  mean of the two projections (``history_weight``, 0.5 by default): both are linear in A(t), so a higher latest
  reading never gives a lower point.
* **Range.** The envelope of (a) each shape's own projection (how much the shapes disagree) and (b) the projections
  the series' earlier readings of the last ``window_days`` (91) gave to the same horizon (how much its pace has
  moved); readings of the first 20 days of the year are too early to count. The point is always inside;
  ``range_method`` says what widened it.
* **After the plan year** (the reading is at or after the last milestone) the reading is final: point = low =
  high = the reading.

:func:`shortfall` is the early-warning rule on a forecast: the year-end point below the plan's year-end value by a
margin (10 points of the target), with hysteresis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from shared.curves import Curve, fraction_at
from shared.plans import Plan
from shared.vntime import year_bounds

__all__ = ["DEFAULT_HISTORY_WEIGHT", "Forecast", "Projection", "forecast", "project", "shortfall"]

DEFAULT_HISTORY_WEIGHT: Final = Decimal("0.5")
DEFAULT_WINDOW_DAYS: Final = 91
#: Readings of the first days of the plan year say little about its pace (the behind-plan rule's 20 days).
MIN_ELAPSED_DAYS: Final = 20

Reading = tuple[datetime, Decimal]
_Shape = Callable[[datetime], Decimal]


@dataclass(frozen=True)
class Projection:
    """A projected year-to-date figure (the plan's base unit) at instant ``at``, with its range.

    ``expected`` is the plan's value at ``at`` (target × expected fraction); ``ratio_to_target`` = point /
    expected (None when nothing is expected then).
    """

    at: datetime
    point: Decimal
    low: Decimal
    high: Decimal
    expected: Decimal
    ratio_to_target: Decimal | None


@dataclass(frozen=True)
class Forecast:
    """A plan series' forecast from its reading of ``as_of`` (``actual``, year to date).

    ``pace`` is actual / the plan's expected value at ``as_of`` (the behind-plan ratio); ``method`` names the
    shapes behind the point, ``range_method`` what the range is made of. ``at``, ``point``, ``low``, ``high`` and
    ``ratio_to_target`` are the year-end projection's.
    """

    as_of: datetime
    actual: Decimal
    pace: Decimal | None
    next_milestone: Projection
    year_end: Projection
    method: str
    range_method: str

    @property
    def at(self) -> datetime:
        return self.year_end.at

    @property
    def point(self) -> Decimal:
        return self.year_end.point

    @property
    def low(self) -> Decimal:
        return self.year_end.low

    @property
    def high(self) -> Decimal:
        return self.year_end.high

    @property
    def ratio_to_target(self) -> Decimal | None:
        return self.year_end.ratio_to_target


def _usable(plan: Plan, readings: Sequence[Reading], at: datetime | None) -> list[Reading]:
    """Readings inside the plan year (after 1 January 00:00) up to ``at``, by date; the later of a date wins."""
    start, _ = year_bounds(plan.year)
    by_date: dict[datetime, Decimal] = {}
    for when, value in readings:
        if start < when and (at is None or when <= at):
            by_date[when] = value
    return sorted(by_date.items())


def _expected(plan: Plan, at: datetime) -> Decimal:
    return plan.target * plan.expected_fraction(at)


def _projection_from(
    plan: Plan, reading: Reading, horizon: datetime, previous: _Shape | None, weight: Decimal
) -> tuple[Decimal, list[Decimal]] | None:
    """The point projected from one reading to ``horizon`` and each shape's own projection; None if the plan
    curve expects nothing at the reading."""
    when, value = reading
    expected_then = _expected(plan, when)
    if expected_then <= 0:
        return None
    on_plan = value / expected_then * _expected(plan, horizon)
    if previous is None or previous(when) <= 0:
        return on_plan, [on_plan]
    on_previous = value * previous(horizon) / previous(when)
    return (1 - weight) * on_plan + weight * on_previous, [on_plan, on_previous]


def _project(
    plan: Plan,
    usable: list[Reading],
    horizon: datetime,
    *,
    previous: _Shape | None,
    weight: Decimal,
    window_days: int,
) -> tuple[Projection, str] | None:
    if not usable:
        return None
    latest = usable[-1]
    end = plan.milestones[-1][0]
    expected = _expected(plan, horizon)

    def projection(point: Decimal, low: Decimal, high: Decimal) -> Projection:
        ratio = point / expected if expected > 0 else None
        return Projection(horizon, point, low, high, expected, ratio)

    if latest[0] >= end:
        return projection(latest[1], latest[1], latest[1]), "none: the plan year is over, the reading is final"
    found = _projection_from(plan, latest, horizon, previous, weight)
    if found is None:
        return None
    point, candidates = found
    start, _ = year_bounds(plan.year)
    window_start = latest[0] - timedelta(days=window_days)
    earlier = 0
    for reading in usable[:-1]:
        if reading[0] < window_start or reading[0] - start < timedelta(days=MIN_ELAPSED_DAYS):
            continue
        again = _projection_from(plan, reading, horizon, previous, weight)
        if again is not None:
            candidates.append(again[0])
            earlier += 1
    parts = []
    if len(candidates) - earlier > 1:
        parts.append("the shapes' disagreement (plan curve, previous year)")
    if earlier:
        parts.append(f"the pace of {earlier} earlier reading(s) of the last {window_days} days")
    described = " and ".join(parts) if parts else "none: one shape and no earlier reading to compare"
    return projection(point, min([point, *candidates]), max([point, *candidates])), described


def _previous_shape(plan: Plan, previous_shape: Curve | None) -> _Shape | None:
    if not previous_shape:
        return None
    return lambda at: fraction_at(previous_shape, plan.year, at)


def project(
    plan: Plan,
    readings: Sequence[Reading],
    horizon: datetime,
    *,
    previous_shape: Curve | None = None,
    at: datetime | None = None,
    history_weight: Decimal = DEFAULT_HISTORY_WEIGHT,
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> Projection | None:
    """The series' projected year-to-date figure at ``horizon`` from its readings up to ``at`` (default: all);
    None without a reading the plan curve expects something at. See the module docstring for the method."""
    found = _project(
        plan,
        _usable(plan, readings, at),
        horizon,
        previous=_previous_shape(plan, previous_shape),
        weight=history_weight,
        window_days=window_days,
    )
    return None if found is None else found[0]


def forecast(
    plan: Plan,
    readings: Sequence[Reading],
    *,
    previous_shape: Curve | None = None,
    at: datetime | None = None,
    history_weight: Decimal = DEFAULT_HISTORY_WEIGHT,
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> Forecast | None:
    """The forecast of a plan series (readings: (as_of, year-to-date value in the plan's base unit), any order)
    as of ``at`` (default: its latest reading): projections at the first milestone after ``at`` and at the plan
    year's end (its last milestone). None without a usable reading (none in the plan year up to ``at``, or only
    where the plan expects nothing yet)."""
    if not Decimal(0) <= history_weight <= 1:
        raise ValueError(f"history_weight must be between 0 and 1, got {history_weight}")
    usable = _usable(plan, readings, at)
    if not usable:
        return None
    now = at or usable[-1][0]
    end = plan.milestones[-1][0]
    following = next((when for when, _ in plan.milestones if when > now), end)
    shape = _previous_shape(plan, previous_shape)
    year_end = _project(plan, usable, end, previous=shape, weight=history_weight, window_days=window_days)
    next_milestone = _project(plan, usable, following, previous=shape, weight=history_weight, window_days=window_days)
    if year_end is None or next_milestone is None:
        return None
    as_of, actual = usable[-1]
    expected_now = _expected(plan, as_of)
    if as_of >= end:
        method = "final reading"
    elif shape is not None and shape(as_of) > 0:
        method = f"pace on the plan curve and the previous year's shape (weight {history_weight})"
    else:
        method = "pace on the plan curve"
    return Forecast(
        as_of=as_of,
        actual=actual,
        pace=actual / expected_now if expected_now > 0 else None,
        next_milestone=next_milestone[0],
        year_end=year_end[0],
        method=method,
        range_method=year_end[1],
    )


def shortfall(
    forecast: Forecast | None,
    plan: Plan,
    margin: Decimal = Decimal("0.10"),
    *,
    firing: bool = False,
    resolve_margin: Decimal = Decimal("0.05"),
    min_elapsed_days: int = MIN_ELAPSED_DAYS,
) -> bool:
    """Whether the shortfall alert is (still) on: the year-end point below the plan's year-end value by more than
    ``margin`` (a fraction of it: 0.10 = 10 points of the target). Once firing it clears only at ``margin -
    resolve_margin`` below (hysteresis, like the behind-plan rule's 0.95). Without a forecast, on a reading of the
    first ``min_elapsed_days`` of the year, or when nothing is expected at the year end, the state is held."""
    if forecast is None or forecast.ratio_to_target is None:
        return firing
    if forecast.as_of - year_bounds(plan.year)[0] < timedelta(days=min_elapsed_days):
        return firing
    threshold = 1 - margin + (resolve_margin if firing else 0)
    return forecast.ratio_to_target < threshold
