"""Where a plan series is heading: the projected figure at the next milestone and at the end of the plan year. Pure.

Method (a pace-on-shape projection, as a forecaster reads a cumulative series):

* **Shape.** A shape says which part of the year's amount is usually reached by a day. The plan's own curve is one
  (``Plan.expected_fraction``); the previous year's observed shape (``previous_shape``, a
  :data:`shared.curves.Curve`: the province's own series of last year through :func:`shared.curves.history_curve`,
  or the 2025 national shape, re-dated day for day to the plan year) is another.
* **Pace.** On a shape s, the series' pace is a blend of its *cumulative* pace A(t) / s(t) (everything so far) and
  its *recent* pace (A(t) − A(t₀)) / (s(t) − s(t₀)) over the last ``recent_days`` (t₀: the last reading at least
  that old, else 1 January with 0), floored at 0; ``recent_weight`` is the recent pace's share. A province that
  started on pace and slowed down keeps a high cumulative ratio for months; its recent increments show the
  slowdown at once. With ``recent_weight`` 0 the pace is the cumulative one, the behind-plan rule's ratio.
* **Point.** Each shape projects A(t) + pace × (s(T) − s(t)) to a horizon T: what is there plus the shape's
  remaining part at the series' pace. The point is the mean of the plan curve's and the previous shape's
  projections, weighted ``history_weight`` on the previous shape. Properties: a series exactly on its plan
  curve projects exactly its target (with a previous shape, the target is inside the range); the point never
  falls when the latest reading rises or the whole series is lifted or scaled up. A higher *earlier* reading with
  the same latest one means a slower recent pace and may lower the point: that is the information the recent
  pace adds (with ``recent_weight`` 0 the point is monotone in every reading).
* **Range.** The envelope of the point and of (a) each shape's projection on its cumulative pace and on its recent
  pace alone (how much the shapes and the paces disagree) and (b) the points the series' earlier readings of the
  last ``window_days`` (91) gave to the same horizon; readings of the first 20 days of the year are too early to
  count. ``range_method`` says what widened it.
* **After the plan year** (the reading is at or after the last milestone) the reading is final: point = low =
  high = the reading.

The defaults were chosen on a tuning set of synthetic series by a criterion fixed beforehand and checked on held-out
series (``bench/backtest.py --tune``; bench/RESULTS.md): ``recent_weight`` 1 (the point runs on the recent pace; the
cumulative pace stays in the range), ``recent_days`` 63, ``history_weight`` 1 (where the province's previous year
exists its shape carries the point; the plan curve's projection stays in the range), the shortfall judged from
day 91.

:func:`shortfall` is the early-warning rule on a forecast: the year-end point below the plan's year-end value by a
margin (10 points of the target), with hysteresis, from day :data:`SHORTFALL_FROM_DAY` of the plan year.
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

__all__ = [
    "DEFAULT_HISTORY_WEIGHT",
    "DEFAULT_RECENT_DAYS",
    "DEFAULT_RECENT_WEIGHT",
    "MIN_ELAPSED_DAYS",
    "SHORTFALL_FROM_DAY",
    "Forecast",
    "Projection",
    "forecast",
    "project",
    "shortfall",
]

#: The previous shape's share of the point, the recent pace's share of the pace and how far back it looks, and the
#: day of the year the shortfall rule judges from: chosen by ``bench/backtest.py --tune`` (bench/RESULTS.md).
DEFAULT_HISTORY_WEIGHT: Final = Decimal(1)
DEFAULT_RECENT_WEIGHT: Final = Decimal(1)
DEFAULT_RECENT_DAYS: Final = 63
SHORTFALL_FROM_DAY: Final = 91
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

    ``pace`` is actual / the plan's expected value at ``as_of`` (the behind-plan ratio); ``recent_pace`` the
    increments of the last ``recent_days`` / the plan curve's over the same days (None when the curve expects
    nothing more over them); ``method`` names the shapes and paces behind the point, ``range_method`` what the
    range is made of. ``at``, ``point``, ``low``, ``high`` and ``ratio_to_target`` are the year-end projection's.
    """

    as_of: datetime
    actual: Decimal
    pace: Decimal | None
    next_milestone: Projection
    year_end: Projection
    method: str
    range_method: str
    recent_pace: Decimal | None = None

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


@dataclass(frozen=True)
class _Settings:
    previous: _Shape | None
    history_weight: Decimal
    recent_weight: Decimal
    recent_days: int
    window_days: int


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


def _anchor(plan: Plan, upto: Sequence[Reading], days: int) -> Reading:
    """The recent pace's starting reading: the last of ``upto[:-1]`` at least ``days`` before the latest, else
    1 January 00:00 with nothing."""
    limit = upto[-1][0] - timedelta(days=days)
    for reading in reversed(upto[:-1]):
        if reading[0] <= limit:
            return reading
    return year_bounds(plan.year)[0], Decimal(0)


def _paces(shape: _Shape, upto: Sequence[Reading], anchor: Reading) -> tuple[Decimal, Decimal | None] | None:
    """The cumulative and recent pace of the series on ``shape`` at its latest reading (None: the shape expects
    nothing then; recent None: nothing more since the anchor)."""
    when, value = upto[-1]
    now = shape(when)
    if now <= 0:
        return None
    gained = now - shape(anchor[0])
    recent = max(Decimal(0), (value - anchor[1]) / gained) if gained > 0 else None
    return value / now, recent


def _on_shape(shape: _Shape, value: Decimal, when: datetime, horizon: datetime, pace: Decimal) -> Decimal:
    """What is there plus the shape's part from ``when`` to ``horizon`` at ``pace`` (exact on pace 1)."""
    return pace * shape(horizon) + (value - pace * shape(when))


def _projections(
    plan: Plan, upto: Sequence[Reading], horizon: datetime, settings: _Settings
) -> tuple[Decimal, list[Decimal]] | None:
    """The point projected from the latest of ``upto`` to ``horizon``, and every shape's projection on its
    blended, cumulative and recent pace alone; None if the plan curve expects nothing at the reading."""
    when, value = upto[-1]
    anchor = _anchor(plan, upto, settings.recent_days)
    shapes: list[_Shape] = [lambda at: _expected(plan, at)]
    if settings.previous is not None and settings.previous(when) > 0:
        shapes.append(settings.previous)
    points: list[Decimal] = []
    candidates: list[Decimal] = []
    for shape in shapes:
        found = _paces(shape, upto, anchor)
        if found is None:
            if not points:
                return None
            continue
        cumulative, recent = found
        pace = cumulative
        if recent is not None and settings.recent_weight > 0:
            pace = (1 - settings.recent_weight) * cumulative + settings.recent_weight * recent
            candidates.append(_on_shape(shape, value, when, horizon, recent))
            candidates.append(_on_shape(shape, value, when, horizon, cumulative))
        points.append(_on_shape(shape, value, when, horizon, pace))
    if len(points) == 1:
        point = points[0]
    else:
        point = (1 - settings.history_weight) * points[0] + settings.history_weight * points[1]
    return point, [*points, *candidates]


def _project(
    plan: Plan, usable: list[Reading], horizon: datetime, settings: _Settings
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
    found = _projections(plan, usable, horizon, settings)
    if found is None:
        return None
    point, candidates = found
    start, _ = year_bounds(plan.year)
    window_start = latest[0] - timedelta(days=settings.window_days)
    earlier = 0
    for i, reading in enumerate(usable[:-1]):
        if reading[0] < window_start or reading[0] - start < timedelta(days=MIN_ELAPSED_DAYS):
            continue
        again = _projections(plan, usable[: i + 1], horizon, settings)
        if again is not None:
            candidates.append(again[0])
            earlier += 1
    parts = []
    if len(candidates) - earlier > 1:
        parts.append("the shapes' and paces' disagreement")
    if earlier:
        parts.append(f"the points of {earlier} earlier reading(s) of the last {settings.window_days} days")
    described = " and ".join(parts) if parts else "none: one shape, one pace and no earlier reading to compare"
    return projection(point, min([point, *candidates]), max([point, *candidates])), described


def _previous_shape(plan: Plan, previous_shape: Curve | None) -> _Shape | None:
    if not previous_shape:
        return None
    return lambda at: fraction_at(previous_shape, plan.year, at)


def _settings(
    plan: Plan,
    *,
    previous_shape: Curve | None,
    history_weight: Decimal,
    recent_weight: Decimal,
    recent_days: int,
    window_days: int,
) -> _Settings:
    for name, weight in (("history_weight", history_weight), ("recent_weight", recent_weight)):
        if not Decimal(0) <= weight <= 1:
            raise ValueError(f"{name} must be between 0 and 1, got {weight}")
    if recent_days < 1 or window_days < 0:
        raise ValueError(f"recent_days must be positive and window_days not negative, got {recent_days}, {window_days}")
    return _Settings(_previous_shape(plan, previous_shape), history_weight, recent_weight, recent_days, window_days)


def project(
    plan: Plan,
    readings: Sequence[Reading],
    horizon: datetime,
    *,
    previous_shape: Curve | None = None,
    at: datetime | None = None,
    history_weight: Decimal = DEFAULT_HISTORY_WEIGHT,
    window_days: int = DEFAULT_WINDOW_DAYS,
    recent_weight: Decimal = DEFAULT_RECENT_WEIGHT,
    recent_days: int = DEFAULT_RECENT_DAYS,
) -> Projection | None:
    """The series' projected year-to-date figure at ``horizon`` from its readings up to ``at`` (default: all);
    None without a reading the plan curve expects something at. See the module docstring for the method."""
    settings = _settings(
        plan,
        previous_shape=previous_shape,
        history_weight=history_weight,
        recent_weight=recent_weight,
        recent_days=recent_days,
        window_days=window_days,
    )
    found = _project(plan, _usable(plan, readings, at), horizon, settings)
    return None if found is None else found[0]


def forecast(
    plan: Plan,
    readings: Sequence[Reading],
    *,
    previous_shape: Curve | None = None,
    at: datetime | None = None,
    history_weight: Decimal = DEFAULT_HISTORY_WEIGHT,
    window_days: int = DEFAULT_WINDOW_DAYS,
    recent_weight: Decimal = DEFAULT_RECENT_WEIGHT,
    recent_days: int = DEFAULT_RECENT_DAYS,
) -> Forecast | None:
    """The forecast of a plan series (readings: (as_of, year-to-date value in the plan's base unit), any order)
    as of ``at`` (default: its latest reading): projections at the first milestone after ``at`` and at the plan
    year's end (its last milestone). None without a usable reading (none in the plan year up to ``at``, or only
    where the plan expects nothing yet). ValueError for a weight outside [0, 1] or a non-positive ``recent_days``."""
    settings = _settings(
        plan,
        previous_shape=previous_shape,
        history_weight=history_weight,
        recent_weight=recent_weight,
        recent_days=recent_days,
        window_days=window_days,
    )
    usable = _usable(plan, readings, at)
    if not usable:
        return None
    now = at or usable[-1][0]
    end = plan.milestones[-1][0]
    following = next((when for when, _ in plan.milestones if when > now), end)
    year_end = _project(plan, usable, end, settings)
    next_milestone = _project(plan, usable, following, settings)
    if year_end is None or next_milestone is None:
        return None
    as_of, actual = usable[-1]
    expected_now = _expected(plan, as_of)
    paces = _paces(lambda at: _expected(plan, at), usable, _anchor(plan, usable, recent_days))
    recent = None if paces is None else paces[1]
    return Forecast(
        as_of=as_of,
        actual=actual,
        pace=actual / expected_now if expected_now > 0 else None,
        next_milestone=next_milestone[0],
        year_end=year_end[0],
        method=_method(settings, as_of, end),
        range_method=year_end[1],
        recent_pace=recent,
    )


def _method(settings: _Settings, as_of: datetime, end: datetime) -> str:
    if as_of >= end:
        return "final reading"
    pace = "cumulative pace"
    if settings.recent_weight > 0:
        pace = f"cumulative and last-{settings.recent_days}-days pace (recent weight {settings.recent_weight})"
    if settings.previous is not None and settings.previous(as_of) > 0:
        return f"{pace} on the plan curve and the previous year's shape (weight {settings.history_weight})"
    return f"{pace} on the plan curve"


def shortfall(
    forecast: Forecast | None,
    plan: Plan,
    margin: Decimal = Decimal("0.10"),
    *,
    firing: bool = False,
    resolve_margin: Decimal = Decimal("0.05"),
    min_elapsed_days: int = SHORTFALL_FROM_DAY,
) -> bool:
    """Whether the shortfall alert is (still) on: the year-end point below the plan's year-end value by more than
    ``margin`` (a fraction of it: 0.10 = 10 points of the target). Once firing it clears only at ``margin -
    resolve_margin`` below (hysteresis, like the behind-plan rule's 0.95). Without a forecast, on a reading of the
    first ``min_elapsed_days`` of the year (91: a quarter's pace, before which a projection is mostly noise), or
    when nothing is expected at the year end, the state is held."""
    if forecast is None or forecast.ratio_to_target is None:
        return firing
    if forecast.as_of - year_bounds(plan.year)[0] < timedelta(days=min_elapsed_days):
        return firing
    threshold = 1 - margin + (resolve_margin if firing else 0)
    return forecast.ratio_to_target < threshold
