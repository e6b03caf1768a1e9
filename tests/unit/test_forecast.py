"""shared/forecast.py and shared/curves.py: the pace-on-shape projection, its range and the shortfall rule."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.curves import (
    NATIONAL_2025_FINAL,
    fraction_at,
    history_curve,
    named_history_curve,
    national_disbursement_2025,
    redate,
)
from shared.forecast import forecast, project, shortfall
from shared.plans import CURVES, Plan, curve_milestones
from shared.vntime import VN_TZ


def end_of(day: date) -> datetime:
    return datetime.combine(day, time.max, VN_TZ)


def make_plan(curve: str = "disbursement", year: int = 2025, target: Decimal = Decimal(1000)) -> Plan:
    return Plan(
        "20",
        "20",
        "Lạng Sơn",
        "public_investment_disbursed",
        year,
        target,
        "VND",
        "central",
        curve_milestones(curve, year),
        curve,
    )


def on_curve(plan: Plan, days: list[date]) -> list[tuple[datetime, Decimal]]:
    return [(end_of(d), plan.target * plan.expected_fraction(end_of(d))) for d in days]


DAYS = st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 2, 28))
VALUES = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)
READINGS = st.lists(st.tuples(DAYS, VALUES), max_size=12)
PREVIOUS = st.sampled_from([None, named_history_curve("history:2025", 2025)])
CURVE_NAMES = st.sampled_from(sorted(CURVES))


def national() -> list[tuple[datetime, Decimal]]:
    return [(end_of(d), v) for d, v in national_disbursement_2025().items()]


def test_national_data_and_history_curve() -> None:
    data = national_disbursement_2025()
    assert data[date(2025, 6, 30)] == Decimal("32.06")
    assert len(data) == 7 and data[date(2025, 12, 31)] == Decimal("83.7")
    curve = named_history_curve("history:2025", 2025)
    assert curve[-1] == (end_of(date(2026, 1, 31)), Decimal(1))
    assert curve[3] == (
        end_of(date(2025, 6, 30)),
        (Decimal("32.06") / (NATIONAL_2025_FINAL * 100)).quantize(Decimal("0.000001")),
    )
    # usable as a plan's milestones
    Plan("00", "00", "x", "public_investment_disbursed", 2025, Decimal(1), "VND", "central", curve)
    assert redate(curve, 2025, 2024)[0][0] == end_of(date(2024, 1, 31))
    with pytest.raises(KeyError):
        named_history_curve("history:1999", 2025)


def test_history_curve_rules() -> None:
    shares = {date(2024, 3, 31): Decimal(10), date(2024, 4, 30): Decimal(10), date(2024, 6, 30): Decimal(40)}
    curve = history_curve(shares, 2024, Decimal(80))
    assert [f for _, f in curve] == [Decimal("0.125"), Decimal("0.5"), Decimal(1)]
    with pytest.raises(ValueError, match="above the final"):
        history_curve(shares, 2024, Decimal(30))
    with pytest.raises(ValueError, match="outside"):
        history_curve({date(2025, 2, 1): Decimal(1)}, 2024, Decimal(2))
    assert history_curve({}, 2024, Decimal(1)) == ((end_of(date(2025, 1, 31)), Decimal(1)),)


def test_national_2025_on_the_plan_curve() -> None:
    plan = make_plan(target=Decimal(100))
    h1 = forecast(plan, national(), at=end_of(date(2025, 7, 5)), recent_weight=Decimal(0))
    assert h1 is not None and h1.as_of == end_of(date(2025, 6, 30))
    assert h1.next_milestone.at == end_of(date(2025, 9, 30))
    assert round(h1.point, 1) == Decimal("91.6")  # 32.06 / 0.35
    assert h1.low < h1.point == h1.high
    assert h1.method == "cumulative pace on the plan curve"
    assert not shortfall(h1, plan)
    assert shortfall(h1, plan, Decimal("0.05"))


def test_recent_pace_on_the_national_2025_series() -> None:
    plan = make_plan(target=Decimal(100))
    h1 = forecast(plan, national(), at=end_of(date(2025, 7, 5)), recent_weight=Decimal(1), recent_days=61)
    assert h1 is not None
    # 30 April (15.56 %) to 30 June (32.06 %): 16.5 points where the curve expects 35 − 21.67 = 13.33
    april = plan.expected_fraction(end_of(date(2025, 4, 30))) * 100
    assert h1.recent_pace is not None and abs(h1.recent_pace - Decimal("16.5") / (35 - april)) < Decimal("1e-20")
    assert h1.point == Decimal("32.06") + h1.recent_pace * 65  # the rest of the curve at the recent pace
    assert h1.pace is not None and h1.recent_pace > h1.pace
    assert "last-61-days pace (recent weight 1)" in h1.method


def test_a_slowdown_is_named_before_the_behind_plan_ratio_falls() -> None:
    """On pace to H1, then 70 % of the curve's pace: on 31 July the cumulative ratio is still 0.94 (the behind-plan
    rule is quiet) but the recent pace is 0.7 and the year-end point 81 %: the shortfall alert fires."""
    plan = make_plan(target=Decimal(100))
    series = on_curve(plan, [date(2025, m, 28) for m in range(1, 7)] + [date(2025, 6, 30)])
    july = end_of(date(2025, 7, 31))
    series.append((july, 35 + (plan.expected_fraction(july) * 100 - 35) * Decimal("0.7")))
    made = forecast(plan, series, recent_weight=Decimal(1), recent_days=31)
    assert made is not None and made.pace is not None and made.recent_pace is not None
    assert Decimal("0.94") < made.pace < Decimal("0.95")
    assert abs(made.recent_pace - Decimal("0.7")) < Decimal("1e-20")
    assert Decimal(80) < made.point < Decimal(81)
    assert shortfall(made, plan)
    cumulative = forecast(plan, series, recent_weight=Decimal(0))
    assert cumulative is not None and not shortfall(cumulative, plan)
    assert made.low <= made.point <= made.high and made.high >= cumulative.point


def test_bad_weights_and_windows() -> None:
    plan = make_plan()
    reading = [(end_of(date(2025, 3, 31)), Decimal(10))]
    with pytest.raises(ValueError, match="recent_weight"):
        forecast(plan, reading, recent_weight=Decimal("1.5"))
    with pytest.raises(ValueError, match="history_weight"):
        forecast(plan, reading, history_weight=Decimal(-1))
    with pytest.raises(ValueError, match="recent_days"):
        project(plan, reading, end_of(date(2025, 12, 31)), recent_days=0)


def test_previous_shape_blends_and_widens() -> None:
    plan = make_plan(target=Decimal(100))
    shape = named_history_curve("history:2025", 2025)
    q1 = forecast(plan, national()[:2], previous_shape=shape, recent_weight=Decimal(0), history_weight=Decimal("0.5"))
    assert q1 is not None and "previous year's shape" in q1.method
    on_plan = Decimal("9.53") / (Decimal(100) * plan.expected_fraction(end_of(date(2025, 3, 31)))) * 100
    on_shape = Decimal("9.53") / fraction_at(shape, 2025, end_of(date(2025, 3, 31)))
    assert abs(q1.point - (on_plan + on_shape) / 2) < Decimal("1e-20")
    assert q1.low <= min(on_plan, on_shape) and q1.high >= max(on_plan, on_shape)
    assert "disagreement" in q1.range_method


def test_shortfall_hysteresis_and_early_days() -> None:
    plan = make_plan(target=Decimal(100))
    start = end_of(date(2025, 4, 30))
    expected = plan.expected_fraction(start) * 100
    at_87 = forecast(plan, [(start, expected * Decimal("0.87"))])  # 87 % projected
    at_93 = forecast(plan, [(start, expected * Decimal("0.93"))])  # 93 %
    assert shortfall(at_87, plan)
    assert not shortfall(at_93, plan)
    assert shortfall(at_93, plan, firing=True)  # clears only at 95 %
    # judged from day 91 (SHORTFALL_FROM_DAY) unless told otherwise: before it the state is held
    march = forecast(plan, [(end_of(date(2025, 3, 31)), Decimal("13.05"))])
    assert not shortfall(march, plan) and shortfall(march, plan, firing=True)
    assert shortfall(march, plan, min_elapsed_days=20)
    early = forecast(plan, [(end_of(date(2025, 1, 5)), Decimal(0))])
    assert early is not None and not shortfall(early, plan, min_elapsed_days=20)
    assert shortfall(early, plan, firing=True, min_elapsed_days=20)
    assert shortfall(None, plan, firing=True) and not shortfall(None, plan)


def test_no_forecast_without_usable_readings() -> None:
    plan = make_plan()
    assert forecast(plan, []) is None
    assert forecast(plan, [(end_of(date(2024, 12, 31)), Decimal(5))]) is None
    assert forecast(plan, [(end_of(date(2025, 5, 1)), Decimal(5))], at=end_of(date(2025, 4, 1))) is None
    assert project(plan, [], end_of(date(2025, 12, 31))) is None


def test_after_the_plan_year_the_reading_is_final() -> None:
    plan = make_plan("linear")
    result = forecast(plan, [(end_of(date(2025, 6, 30)), Decimal(300)), (end_of(date(2026, 1, 10)), Decimal(870))])
    assert result is not None and result.point == result.low == result.high == Decimal(870)
    assert result.method == "final reading"


def test_january_of_the_next_year_is_still_the_disbursement_year() -> None:
    plan = make_plan()
    result = forecast(plan, on_curve(plan, [date(2025, 12, 31), date(2026, 1, 15)]))
    assert result is not None and result.at == end_of(date(2026, 1, 31)) and result.point == plan.target


@settings(max_examples=200, deadline=None)
@given(CURVE_NAMES, st.lists(DAYS, min_size=1, max_size=10), PREVIOUS)
def test_exact_on_a_series_that_follows_its_curve(curve: str, days: list[date], previous: object) -> None:
    plan = make_plan(curve)
    result = forecast(plan, on_curve(plan, days), previous_shape=previous)  # type: ignore[arg-type]
    assert result is not None
    final = plan.target * plan.milestones[-1][1]
    if previous is None or result.method == "final reading":
        assert result.point == final
        assert result.low == result.high == final
        assert result.next_milestone.point == result.next_milestone.expected
    else:
        assert result.low <= final <= result.high


@settings(max_examples=300, deadline=None)
@given(CURVE_NAMES, READINGS, PREVIOUS, st.one_of(st.none(), DAYS))
def test_never_raises_and_range_contains_point(
    curve: str, readings: list[tuple[date, Decimal]], previous: object, at: date | None
) -> None:
    plan = make_plan(curve)
    series = [(end_of(d), v) for d, v in readings]
    result = forecast(plan, series, previous_shape=previous, at=None if at is None else end_of(at))  # type: ignore[arg-type]
    if result is None:
        return
    for projection in (result.year_end, result.next_milestone):
        assert projection.low <= projection.point <= projection.high
    assert result.next_milestone.at <= result.year_end.at
    shortfall(result, plan)


WEIGHTS = st.sampled_from([Decimal(0), Decimal("0.5"), Decimal(1)])


def latest_raised(readings: list[tuple[datetime, Decimal]], extra: Decimal) -> list[tuple[datetime, Decimal]]:
    last = max(at for at, _ in readings)
    return [(at, v + extra if at == last else v) for at, v in readings]


@settings(max_examples=300, deadline=None)
@given(CURVE_NAMES, READINGS, PREVIOUS, WEIGHTS, VALUES, st.integers(min_value=1, max_value=120))
def test_monotone_in_the_latest_reading_and_in_the_whole_series(  # noqa: PLR0917 (hypothesis' arguments)
    curve: str,
    readings: list[tuple[date, Decimal]],
    previous: object,
    weight: Decimal,
    extra: Decimal,
    days: int,
) -> None:
    """Raising the latest reading, lifting every reading by the same amount or scaling the series up never lowers
    the point (the pace is a blend of cumulative and recent paces, each monotone in these)."""
    plan = make_plan(curve)
    series = [(end_of(d), v) for d, v in readings if end_of(d) > end_of(date(2024, 12, 31))]
    if not series:
        return
    options = {"previous_shape": previous, "recent_weight": weight, "recent_days": days}
    base = forecast(plan, series, **options)  # type: ignore[arg-type]
    for changed in (
        latest_raised(series, extra),
        [(at, v + extra) for at, v in series],
        [(at, v * 2) for at, v in series],
    ):
        other = forecast(plan, changed, **options)  # type: ignore[arg-type]
        assert (base is None) == (other is None)
        if base is not None and other is not None:
            assert other.point >= base.point
            assert other.next_milestone.point >= base.next_milestone.point


@settings(max_examples=300, deadline=None)
@given(CURVE_NAMES, READINGS, PREVIOUS, st.lists(VALUES, min_size=12, max_size=12))
def test_cumulative_pace_is_monotone_in_every_reading(
    curve: str, readings: list[tuple[date, Decimal]], previous: object, extra: list[Decimal]
) -> None:
    """With recent_weight 0 a higher reading anywhere never lowers the point. (With a recent pace a higher
    earlier reading and the same latest one is a slower recent pace: a lower point is the point of it.)"""
    plan = make_plan(curve)
    lower = [(end_of(d), v) for d, v in readings]
    higher = [(at, v + e) for (at, v), e in zip(lower, extra, strict=False)]
    low = forecast(plan, lower, previous_shape=previous, recent_weight=Decimal(0))  # type: ignore[arg-type]
    high = forecast(plan, higher, previous_shape=previous, recent_weight=Decimal(0))  # type: ignore[arg-type]
    assert (low is None) == (high is None)
    if low is not None and high is not None:
        assert high.point >= low.point
        assert high.next_milestone.point >= low.next_milestone.point


def test_day_one_reading() -> None:
    plan = make_plan()
    result = forecast(plan, [(datetime(2025, 1, 1, 0, 0, 1, tzinfo=VN_TZ), Decimal(1))])
    assert result is not None and result.point > 0
    assert result.as_of - datetime(2025, 1, 1, tzinfo=VN_TZ) < timedelta(days=1)
