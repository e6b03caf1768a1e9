"""Vietnamese public holidays and working days. Pure (the calendar is data of the ``holidays`` library).

The days off of the Labour Code (2019, art. 112) as the ``holidays`` library (``holidays.VN``) computes them:
1 January; Tết — the lunar new year's eve and the 1st-4th days of the 1st lunar month (since 2013), with the
days that fall on a weekend given back on the adjacent working days (2024: 8-14 February; 2025: 27 January -
1 February; 2026: 16-20 February, as the government announced); Giỗ Tổ Hùng Vương (10th day of the 3rd lunar
month); 30 April and 1 May; 2 September with a second day (since 2021) on 1 September when the 2nd is a Tuesday,
Wednesday, Friday or Saturday and on 3 September when it is a Sunday, Monday or Thursday, the library's reading
of the yearly decisions; from 2026, 24 November (Ngày Văn hóa Việt Nam); the government's announced bridge days
(e.g. 2 May 2025). The lunar dates are of the Vietnamese calendar, computed at UTC+7 (the library's
``VIETNAMESE_CALENDAR``, 1901-2100): Tết 1985 was 21 January (China: 20 February), Tết 2007 17 February (China:
18 February), Tết 2030 is 2 February (China: 3 February).

Working days are Monday to Friday less these days; the Saturdays worked in exchange for a bridge day are not
counted as working days (reports are not expected on a Saturday). The calendar covers 1901-2100: outside it no
day is a holiday.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from functools import cache
from types import MappingProxyType
from typing import Final

import holidays as _holidays
from holidays.calendars.chinese import VIETNAMESE_CALENDAR, _ChineseLunisolar

__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "holidays",
    "hung_kings_day",
    "is_holiday",
    "is_working_day",
    "next_working_day",
    "tet",
    "working_days_between",
]

#: Years the calendar knows (the library's range); outside them no day is a holiday.
FIRST_YEAR: Final = 1901
LAST_YEAR: Final = 2100
_SATURDAY: Final = 5


@cache
def _lunar() -> _ChineseLunisolar:
    return _ChineseLunisolar(VIETNAMESE_CALENDAR)


def _lunar_day(year: int, found: tuple[date | None, bool]) -> date:
    day, _ = found
    if day is None:
        raise ValueError(f"lunar holidays are known for {FIRST_YEAR}-{LAST_YEAR}, not {year}")
    return day


def tet(year: int) -> date:
    """The 1st day of the 1st lunar month of ``year`` (Tết Nguyên Đán) on the Vietnamese (UTC+7) calendar."""
    return _lunar_day(year, _lunar().lunar_new_year_date(year))


def hung_kings_day(year: int) -> date:
    """The 10th day of the 3rd lunar month of ``year`` (Giỗ Tổ Hùng Vương)."""
    return _lunar_day(year, _lunar().hung_kings_date(year))


@cache
def holidays(year: int) -> Mapping[date, str]:
    """Every public holiday and day off of ``year``: day → English name (read only; empty outside 1901-2100)."""
    calendar = _holidays.country_holidays("VN", years=year, language="en_US")
    return MappingProxyType({day: str(name) for day, name in sorted(calendar.items())})


def is_holiday(day: date) -> bool:
    """Whether ``day`` is a public holiday or day off."""
    return day in holidays(day.year)


def is_working_day(day: date) -> bool:
    """Monday to Friday and not a holiday."""
    return day.weekday() < _SATURDAY and not is_holiday(day)


def next_working_day(day: date) -> date:
    """``day`` if it is a working day, else the first working day after it."""
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def working_days_between(a: date, b: date) -> int:
    """Working days after ``a`` up to and including ``b`` (negative when ``b`` is before ``a``)."""
    if b < a:
        return -working_days_between(b, a)
    return sum(1 for offset in range(1, (b - a).days + 1) if is_working_day(a + timedelta(days=offset)))
