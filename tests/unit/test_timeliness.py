"""shared/holidays.py and shared/timeliness.py: the Vietnamese calendar, working days, on-time reporting."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.holidays import (
    holidays,
    hung_kings_day,
    is_holiday,
    is_working_day,
    next_working_day,
    tet,
    working_days_between,
)
from shared.timeliness import Cadence, gap_explained_by_holidays, on_time_rate

TET = {
    2020: date(2020, 1, 25),
    2021: date(2021, 2, 12),
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    # Vietnam (UTC+7) differs from China (UTC+8) here: the new moon of 2 February 2030 is at 23:07 in Hanoi,
    # 00:07 on 3 February in Beijing; likewise 1985 (China 20 February) and 2007 (China 18 February).
    2030: date(2030, 2, 2),
    1985: date(1985, 1, 21),
    2007: date(2007, 2, 17),
}


@pytest.mark.parametrize(("year", "day"), sorted(TET.items()))
def test_tet_on_the_vietnamese_calendar(year: int, day: date) -> None:
    assert tet(year) == day
    assert is_holiday(day) and is_holiday(day - timedelta(days=1))  # giao thừa


def test_tet_holidays_as_announced() -> None:
    off_2024 = [d for d in holidays(2024) if d.month == 2]
    assert off_2024 == [date(2024, 2, d) for d in range(8, 15)]
    assert [d for d in holidays(2025) if d.month in (1, 2) and d != date(2025, 1, 1)] == [
        date(2025, 1, 27),
        date(2025, 1, 28),
        date(2025, 1, 29),
        date(2025, 1, 30),
        date(2025, 1, 31),
        date(2025, 2, 1),
    ]
    assert all(is_holiday(date(2026, 2, d)) for d in range(16, 21))


def test_solar_holidays_and_hung_kings() -> None:
    for year in (2024, 2025, 2026):
        assert {date(year, 1, 1), date(year, 4, 30), date(year, 5, 1), date(year, 9, 2)} <= set(holidays(year))
    assert is_holiday(date(2024, 9, 3)) and is_holiday(date(2025, 9, 1))  # the second National Day
    assert hung_kings_day(2024) == date(2024, 4, 18) and hung_kings_day(2025) == date(2025, 4, 7)
    assert is_holiday(date(2025, 4, 7)) and is_holiday(date(2025, 5, 2))  # the 2025 bridge day
    assert hung_kings_day(2026) == date(2026, 4, 26) and is_holiday(date(2026, 4, 27))  # Sunday, given Monday
    with pytest.raises(ValueError, match="1901-2100"):
        tet(2200)


def test_working_days() -> None:
    assert working_days_between(date(2025, 1, 24), date(2025, 2, 7)) == 5  # the Tết week is lost
    assert working_days_between(date(2025, 3, 7), date(2025, 3, 14)) == 5
    assert working_days_between(date(2025, 3, 14), date(2025, 3, 7)) == -5
    assert working_days_between(date(2025, 3, 7), date(2025, 3, 7)) == 0
    assert next_working_day(date(2025, 1, 27)) == date(2025, 2, 3)
    assert not is_working_day(date(2025, 3, 8)) and is_working_day(date(2025, 3, 10))


@settings(max_examples=200, deadline=None)
@given(st.dates(date(2000, 1, 1), date(2099, 12, 31)), st.integers(0, 60), st.integers(0, 60))
def test_working_days_add_up(a: date, x: int, y: int) -> None:
    b, c = a + timedelta(days=x), a + timedelta(days=x + y)
    assert working_days_between(a, c) == working_days_between(a, b) + working_days_between(b, c)
    assert 0 <= working_days_between(a, b) <= x


FRIDAYS_2025 = [date(2025, 1, 3) + timedelta(weeks=i) for i in range(52)]


def on_the_day(days: list[date]) -> list[tuple[date, date]]:
    """Reports that arrived on the day they are valid for."""
    return [(d, d) for d in days]


def test_weekly_on_time_with_tet_extension() -> None:
    cadence = Cadence.weekly()
    assert cadence.deadline(date(2025, 1, 31)) == date(2025, 2, 7)  # five working days lost to Tết
    assert cadence.deadline(date(2025, 3, 14)) == date(2025, 3, 14)
    reports = [*on_the_day([d for d in FRIDAYS_2025 if d != date(2025, 1, 31)]), (date(2025, 1, 31), date(2025, 2, 6))]
    result = on_time_rate(reports, cadence, date(2025, 1, 1), date(2025, 12, 31))
    assert (result.expected, result.on_time, result.late, result.missing) == (52, 52, 0, 0)
    assert result.rate == 1


def test_late_and_missing() -> None:
    cadence = Cadence.weekly()
    three_days_late = [(d, d + timedelta(days=3)) for d in FRIDAYS_2025[8:20]]  # Friday's figures on Mondays
    result = on_time_rate(three_days_late, cadence, date(2025, 2, 24), date(2025, 5, 31))
    assert (result.on_time, result.late) == (2, 10)  # Giỗ Tổ (7 April) and 30/4–1/5 moved two deadlines
    assert result.expected == result.on_time + result.late + result.missing
    monthly = on_time_rate(
        on_the_day([date(2025, m, 24) for m in range(1, 13) if m != 6] + [date(2025, 3, 20)]),
        Cadence.monthly(25),
        date(2025, 1, 1),
        date(2025, 12, 31),
    )
    assert (monthly.expected, monthly.on_time, monthly.late, monthly.missing) == (12, 11, 0, 1)
    assert next(p for p in monthly.periods if p.due == date(2025, 6, 25)).status == "missing"
    late = on_time_rate(
        [(date(2025, 7, 25), date(2025, 7, 29))], Cadence.monthly(25), date(2025, 7, 1), date(2025, 7, 31)
    )
    assert late.late == 1 and late.rate == 0
    assert on_time_rate([], Cadence.monthly(), date(2025, 1, 1), date(2025, 1, 10)).rate is None


def test_a_report_counts_for_the_period_it_is_valid_for() -> None:
    """A province reporting its figures of the 15th, on the 15th, with reports due on the month's last day: every
    month is on time (filed by arrival, a midpoint window once gave it 0)."""
    mid_month = on_the_day([date(2024, m, 15) for m in range(1, 13)])
    result = on_time_rate(mid_month, Cadence.monthly(31), date(2024, 1, 1), date(2024, 12, 31))
    assert (result.expected, result.on_time, result.rate) == (12, 12, 1)
    # March's figures arriving on 2 April are March's report, late; April's own report still counts for April.
    moved = [r for r in mid_month if r[0].month != 3] + [(date(2024, 3, 31), date(2024, 4, 2))]
    result = on_time_rate(moved, Cadence.monthly(31), date(2024, 1, 1), date(2024, 12, 31))
    assert (result.on_time, result.late, result.missing) == (11, 1, 0)
    # Not arrived yet by ``end``: missing, not late.
    result = on_time_rate(moved, Cadence.monthly(31), date(2024, 1, 1), date(2024, 4, 1))
    assert (result.on_time, result.late, result.missing) == (2, 0, 1)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.dates(date(2024, 12, 1), date(2026, 1, 31)), st.integers(0, 40)), max_size=80),
    st.sampled_from([Cadence.weekly(), Cadence.monthly(25), Cadence.monthly(31, slack_days=2), Cadence.weekly(0)]),
)
def test_counts_add_up(reports: list[tuple[date, int]], cadence: Cadence) -> None:
    pairs = [(valid, valid + timedelta(days=delay)) for valid, delay in reports]
    result = on_time_rate(pairs, cadence, date(2025, 1, 1), date(2025, 12, 31))
    assert result.expected == result.on_time + result.late + result.missing == len(result.periods)
    assert all(p.report is None or p.report <= date(2025, 12, 31) for p in result.periods)
    on_the_day_too = on_time_rate(
        [*pairs, *((valid, valid) for valid, _ in pairs)], cadence, date(2025, 1, 1), date(2025, 12, 31)
    )
    assert on_the_day_too.late == 0 and on_the_day_too.on_time >= result.on_time  # the earliest arrival counts
    every = on_time_rate(
        on_the_day([date(2025, 1, 1) + timedelta(days=i) for i in range(365)]),
        cadence,
        date(2025, 1, 1),
        date(2025, 12, 31),
    )
    assert every.rate == 1


def test_gap_explained_by_holidays() -> None:
    assert gap_explained_by_holidays(date(2025, 1, 24), date(2025, 2, 4), 7)  # 11 days, Tết in between
    assert not gap_explained_by_holidays(date(2025, 3, 7), date(2025, 3, 18), 7)
    assert gap_explained_by_holidays(date(2025, 3, 7), date(2025, 3, 14), 7)
    assert gap_explained_by_holidays(date(2024, 12, 25), date(2025, 2, 3), 31)  # New Year and Tết
    assert not gap_explained_by_holidays(date(2025, 3, 25), date(2025, 5, 5), 31)
