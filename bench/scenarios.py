"""Synthetic plan series for the forecast backtest: provinces that start on pace and slow down, back-loaded and
year-end-rush provinces, and on-pace controls. Pure and deterministic (a seeded ``random.Random`` per series).

Why: a series behind from its first judged reading cannot be warned earlier than that reading, so the lead of an
early-warning rule is only measurable on series that *become* short. The figures the families start from:

* Bắc Giang's Q1 2024 review (seed 001): state budget revenue 4,680 bn VND = 32.6 % of the estimate (so the
  estimate is 14,356 bn VND, the example plan's provincial one), industrial production value 150 trillion VND =
  22.6 % of the plan; "compensation and site clearance remained problematic".
* Hải Phòng's 2024 directive (seed 002): site clearance for industrial parks as the key task; the example plan's
  1,200 ha with milestones 10/30/60/100 % at quarter ends (``deploy/plans/example-2024.yaml``).
* Lạng Sơn (seed 004: 2023 disbursement "has not met requirements", site clearance slow): the sample year's
  disbursement shape (``samples/offices.yaml``: 1.2 % by January, 6 % Q1, 18 % H1, 33.5 % Q3, 52 % November, 71 %
  December) with its December rush.
* The 2025 national disbursement shape and the 2023/2024 closes of 93.12 % / 93.06 % by 31 January
  (``/work/shared/domain.md``; ``shared.curves``); monthly reports dated the 20th-25th (domain.md).

Every series has the same province's previous year (its base shape at full pace, other noise), the "own previous
year's shape" the forecaster may use. A month's increment is the base shape's × the family's pace factor for that
month × log-normal noise (σ 0.15); a report on day 20-25 of each month interpolates within the month, and a last
report falls on the plan year's last milestone day.
"""

from __future__ import annotations

import calendar
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Final

from shared.curves import Curve, fraction_at, named_history_curve, redate
from shared.plans import Plan, curve_milestones
from shared.vntime import VN_TZ

__all__ = ["NOISE", "Family", "Synthetic", "families", "own_shape", "synthetic"]

YEAR: Final = 2024
NOISE: Final = 0.15
Reading = tuple[datetime, Decimal]
#: month (1-12, 13 = January of the next year) → pace factor on the base shape's increment that month
Pace = Callable[[int], float]


def end_of(day: date) -> datetime:
    return datetime.combine(day, time.max, VN_TZ)


@dataclass(frozen=True)
class Family:
    """A kind of series: the plan, the base shape (cumulative share of the target by instant) and the pace."""

    name: str
    source: str
    plan: Plan
    base: Callable[[datetime], float]
    pace: Pace


@dataclass(frozen=True)
class Synthetic:
    """One generated series with its province's previous year (readings and the shape made of them)."""

    family: Family
    seed: int
    readings: list[Reading]
    previous_shape: Curve


def _plan(province: str, uid: str, indicator: str, target: int, unit: str, basis: str, curve: str) -> Plan:  # noqa: PLR0917
    milestones = curve_milestones(curve, YEAR) if curve != "haiphong" else _haiphong()
    return Plan(uid, uid, province, indicator, YEAR, Decimal(target), unit, basis, milestones, curve)  # type: ignore[arg-type]


def _haiphong() -> Curve:
    return tuple(
        (end_of(date(YEAR, m, d)), Decimal(f))
        for m, d, f in ((3, 31, "0.10"), (6, 30, "0.30"), (9, 30, "0.60"), (12, 31, "1"))
    )


def _curve_base(curve: Curve, scale: float = 1.0) -> Callable[[datetime], float]:
    return lambda at: float(fraction_at(curve, YEAR, at)) * scale


_LANG_SON_SAMPLE: Final = (
    (1, 31, "0.012"),
    (3, 31, "0.06"),
    (6, 30, "0.18"),
    (9, 30, "0.335"),
    (11, 30, "0.52"),
    (12, 31, "0.71"),
)


def _lang_son() -> Curve:
    rows = tuple((end_of(date(YEAR, m, d)), Decimal(f)) for m, d, f in _LANG_SON_SAMPLE)
    return (*rows, (end_of(date(YEAR + 1, 1, 31)), Decimal("0.80")))


def _slows(month: int, factor: float) -> Pace:
    return lambda m: 1.0 if m < month else factor


def _rush(factor: float, december: float) -> Pace:
    return lambda m: december if m == 12 else factor


def families() -> list[Family]:
    """The families of the backtest, each named by what it does and where its figures come from."""
    national = redate(named_history_curve("history:2025", 2025), 2025, YEAR)
    out: list[Family] = []
    disb = _plan(
        "Tỉnh A (disbursement)", "90", "public_investment_disbursed", 4500, "tỷ đồng", "central", "disbursement"
    )
    plan_curve = _curve_base(disb.milestones)
    for month, factor in ((7, 0.5), (7, 0.7), (7, 0.85), (9, 0.5), (9, 0.7), (5, 0.75)):
        out.append(
            Family(
                f"disbursement on the plan curve, then {factor:.0%} of it from {calendar.month_abbr[month]}",
                "plan curve 15/35/60/95/100 % (shared.plans); Lạng Sơn target 4,500 bn (example plan)",
                disb,
                plan_curve,
                _slows(month, factor),
            )
        )
    out.append(Family("disbursement on the plan curve all year", "control", disb, plan_curve, _slows(14, 1.0)))
    out.append(
        Family(
            "disbursement on the 2025 national shape, closing at 93 %",
            "domain.md: 2025 national shape; 2023/2024 closes 93.12/93.06 %",
            disb,
            _curve_base(national, 0.93),
            _slows(14, 1.0),
        )
    )
    out.append(
        Family(
            "disbursement on the 2025 national shape, then 60 % of it from Aug",
            "domain.md: 2025 national shape",
            disb,
            _curve_base(national, 0.93),
            _slows(8, 0.6),
        )
    )
    out.append(
        Family(
            "disbursement with Lạng Sơn's December rush, closing at 80 %",
            "samples/offices.yaml Lạng Sơn curve; seed 004",
            disb,
            _curve_base(_lang_son()),
            _slows(14, 1.0),
        )
    )
    out.append(
        Family(
            "disbursement with a bigger December rush (×2), closing near 100 %",
            "samples/offices.yaml Lạng Sơn curve; seed 004",
            disb,
            _curve_base(_lang_son()),
            _rush(1.0, 2.0),
        )
    )
    revenue = _plan(
        "Bắc Giang (revenue)", "24", "state_budget_revenue", 14356, "tỷ đồng", "provincial", "quarterly-even"
    )
    q1_revenue = Decimal("0.326") / Decimal("0.25")
    for month, factor in ((4, 0.6), (4, 0.75), (4, 0.9), (7, 0.6), (7, 1.0)):
        out.append(
            Family(
                f"budget revenue 32.6 % at Q1, then {factor:.0%} of the curve from {calendar.month_abbr[month]}",
                "seed 001: Bắc Giang 4,680 bn = 32.6 % of the estimate by Q1",
                revenue,
                _curve_base(revenue.milestones),
                _q1_then(float(q1_revenue), month, factor),
            )
        )
    industry = _plan(
        "Bắc Giang (industry)",
        "24",
        "industrial_production_value",
        664,
        "nghìn tỷ đồng",
        "provincial",
        "quarterly-even",
    )
    q1_industry = Decimal("0.226") / Decimal("0.25")
    for month, factor in ((4, 0.8), (7, 0.7), (4, 1.1)):
        out.append(
            Family(
                f"industrial production 22.6 % at Q1, then {factor:.0%} of the curve from {calendar.month_abbr[month]}",
                "seed 001: Bắc Giang 150 trillion VND = 22.6 % of the plan by Q1",
                industry,
                _curve_base(industry.milestones),
                _q1_then(float(q1_industry), month, factor),
            )
        )
    clearance = _plan(
        "Hải Phòng (site clearance)",
        "31",
        indicator="site_clearance_area",
        target=1200,
        unit="ha",
        basis="provincial",
        curve="haiphong",
    )
    for month, factor in ((7, 0.4), (7, 0.6), (10, 0.5), (14, 1.0)):
        name = (
            "site clearance on its milestones all year"
            if month == 14
            else f"site clearance on its milestones, then {factor:.0%} from {calendar.month_abbr[month]}"
        )
        out.append(
            Family(
                name,
                "seed 002 (Hải Phòng's key task), seed 001; example plan 1,200 ha 10/30/60/100 %",
                clearance,
                _curve_base(clearance.milestones),
                _slows(month, factor),
            )
        )
    return out


def _q1_then(q1: float, month: int, factor: float) -> Pace:
    return lambda m: q1 if m <= 3 else (1.0 if m < month else factor)


def _month_ends(plan: Plan) -> Iterator[tuple[int, date]]:
    last = plan.milestones[-1][0].astimezone(VN_TZ).date()
    for m in range(1, 14):
        day = date(YEAR + (m - 1) // 12, (m - 1) % 12 + 1, 1)
        end = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        if end > last:
            return
        yield m, end


def _generate(family: Family, pace: Pace, rng: random.Random) -> list[Reading]:
    """Monthly reports (day 20-25, and the last milestone's day) of a series built on the family's base shape."""
    target = float(family.plan.target)
    cumulative = [0.0]
    ends: list[date] = []
    previous_base = 0.0
    for m, end in _month_ends(family.plan):
        base = family.base(end_of(end))
        step = max(0.0, base - previous_base) * pace(m) * math.exp(rng.gauss(0, NOISE))
        cumulative.append(cumulative[-1] + step)
        ends.append(end)
        previous_base = base
    readings: list[Reading] = []
    for i, end in enumerate(ends):
        day = rng.randint(20, 25)
        share = cumulative[i] + (cumulative[i + 1] - cumulative[i]) * day / end.day
        readings.append((end_of(end.replace(day=day)), Decimal(f"{share * target:.2f}")))
    readings.append((end_of(ends[-1]), Decimal(f"{cumulative[-1] * target:.2f}")))
    return readings


def own_shape(readings: list[Reading], plan: Plan, from_year: int) -> Curve:
    """A series' own shape: each reading / the last one, rising, ending at 1 on the plan year's last milestone
    day (re-dated from ``from_year`` to the plan's year)."""
    final = readings[-1][1]
    last_day = plan.milestones[-1][0].astimezone(VN_TZ).date()
    points: list[tuple[datetime, Decimal]] = []
    for when, value in readings[:-1]:
        fraction = (value / final).quantize(Decimal("0.000001"))
        if 0 < fraction < 1 and (not points or fraction > points[-1][1]):
            points.append((when, fraction))
    shape = (*points, (end_of(last_day.replace(year=last_day.year - (plan.year - from_year))), Decimal(1)))
    return redate(shape, from_year, plan.year)


def synthetic(seeds: range) -> list[Synthetic]:
    """Every family's series for each seed, with the previous year (seed + 1000, full pace) as its own shape."""
    out: list[Synthetic] = []
    for index, family in enumerate(families()):
        for seed in seeds:
            series = _generate(family, family.pace, random.Random(index * 10_000 + seed))
            previous = _generate(family, lambda _m: 1.0, random.Random(index * 10_000 + seed + 1000))
            out.append(Synthetic(family, seed, series, own_shape(previous, family.plan, family.plan.year)))
    return out
