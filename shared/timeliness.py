"""Reporting timeliness, as DHIS2 reports it: the share of expected periods whose report arrived on time. Pure.

A :class:`Cadence` gives each period a due day: monthly on a cut-off day (the 25th), or weekly on a weekday
(Friday). The deadline is the due day extended by the working days lost to holidays: for every holiday on a
weekday among the ``prep_days`` (7) days ending on the due day, one working day more (a report due on the Friday
of a Tết week may arrive by the Friday after; one due on a holiday by the first working day after it), then
``slack_days`` calendar days of grace.

A report is known by two days: the day it is valid for (its reading's date) and the day it arrived. It is the
report of the period it is valid for: the one whose due day is the first on or after that date (a figure of
15 March is March's report when reports are due on the 31st, whenever it arrives), as an analyst files a report
by its date rather than by its post mark. A period takes the earliest-arriving of its reports and is

* ``on_time`` — that report arrived by the deadline;
* ``late`` — it arrived after the deadline;
* ``missing`` — no report valid for the period arrived (as far as ``end`` shows).

Only periods whose deadline is within ``[start, end]`` are expected; rate = on time / expected.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Final, Literal

from shared.holidays import is_holiday, is_working_day, working_days_between

__all__ = ["Cadence", "PeriodResult", "Report", "TimelinessResult", "gap_explained_by_holidays", "on_time_rate"]

Status = Literal["on_time", "late", "missing"]
Report = tuple[date, date]  # (the day it is valid for, the day it arrived)
_SATURDAY: Final = 5
_FRIDAY: Final = 4


@dataclass(frozen=True)
class Cadence:
    """When reports are due: ``kind`` monthly (``day`` = cut-off day of the month, 1-31, the month's last day if
    shorter) or weekly (``day`` = weekday, 0 Monday … 4 Friday … 6 Sunday)."""

    kind: Literal["monthly", "weekly"]
    day: int
    slack_days: int = 0
    prep_days: int = 7

    def __post_init__(self) -> None:
        limit = 31 if self.kind == "monthly" else 6
        low = 1 if self.kind == "monthly" else 0
        if self.kind not in ("monthly", "weekly") or not low <= self.day <= limit:
            raise ValueError(f"invalid cadence {self.kind} on day {self.day}")
        if self.slack_days < 0 or self.prep_days < 0:
            raise ValueError("slack_days and prep_days must not be negative")

    @classmethod
    def monthly(cls, cut_off_day: int = 25, slack_days: int = 0) -> Cadence:
        return cls("monthly", cut_off_day, slack_days)

    @classmethod
    def weekly(cls, weekday: int = _FRIDAY, slack_days: int = 0) -> Cadence:
        return cls("weekly", weekday, slack_days)

    def due_days(self, start: date, end: date) -> list[date]:
        """Due days from the last one before ``start`` to the first one after ``end``."""
        if self.kind == "weekly":
            first = start - timedelta(days=(start.weekday() - self.day) % 7 or 7)
            count = (end - first).days // 7 + 2
            return [first + timedelta(weeks=i) for i in range(count)]
        days = []
        year, month = (start.year, start.month - 1) if start.month > 1 else (start.year - 1, 12)
        while True:
            day = _month_day(year, month, self.day)
            days.append(day)
            if day > end:
                return days
            year, month = (year, month + 1) if month < 12 else (year + 1, 1)

    def deadline(self, due: date) -> date:
        """The due day moved on by one working day per holiday lost on a weekday of the ``prep_days`` days ending
        on it, then by ``slack_days``."""
        lost = sum(
            1
            for offset in range(self.prep_days)
            if (day := due - timedelta(days=offset)).weekday() < _SATURDAY and is_holiday(day)
        )
        deadline = due
        for _ in range(lost):
            deadline += timedelta(days=1)
            while not is_working_day(deadline):
                deadline += timedelta(days=1)
        return deadline + timedelta(days=self.slack_days)


def _month_day(year: int, month: int, day: int) -> date:
    following = date(year + month // 12, month % 12 + 1, 1)
    return min(date(year, month, 1) + timedelta(days=day - 1), following - timedelta(days=1))


@dataclass(frozen=True)
class PeriodResult:
    """One expected period: its due day, deadline, status and the arrival day of the report that counted (None if
    missing)."""

    due: date
    deadline: date
    status: Status
    report: date | None


@dataclass(frozen=True)
class TimelinessResult:
    """Expected periods and how they went; ``rate`` = on_time / expected (None if nothing was expected)."""

    expected: int
    on_time: int
    late: int
    missing: int
    rate: Decimal | None
    periods: tuple[PeriodResult, ...]


def on_time_rate(reports: Iterable[Report], cadence: Cadence, start: date, end: date) -> TimelinessResult:
    """The on-time reporting rate of one province and indicator over ``[start, end]`` from its reports
    ``(valid_for, arrived)`` (see the module docstring); reports arrived after ``end`` are not known yet."""
    dues = cadence.due_days(start, end)
    first_arrival: dict[int, date] = {}
    for valid_for, arrived in reports:
        k = bisect_left(dues, valid_for)  # the first due day on or after the report's date
        if arrived <= end and 0 < k < len(dues):
            first_arrival[k] = min(first_arrival.get(k, arrived), arrived)
    periods: list[PeriodResult] = []
    for k, due in enumerate(dues):
        deadline = cadence.deadline(due)
        if k == 0 or due < start or deadline > end:
            continue
        report = first_arrival.get(k)
        status: Status = "missing" if report is None else "on_time" if report <= deadline else "late"
        periods.append(PeriodResult(due, deadline, status, report))
    counts = {status: sum(1 for p in periods if p.status == status) for status in ("on_time", "late", "missing")}
    rate = Decimal(counts["on_time"]) / len(periods) if periods else None
    return TimelinessResult(len(periods), counts["on_time"], counts["late"], counts["missing"], rate, tuple(periods))


def gap_explained_by_holidays(last_report: date, at: date, cadence_days: int) -> bool:
    """Whether the gap since the last report is within the cadence once only working days count: the working days
    after ``last_report`` up to ``at`` are no more than the weekdays a holiday-free cadence would have given. A
    gap within ``cadence_days`` calendar days is always within it; for the stale and missing-report rules (a gap
    that Tết explains is no page)."""
    weekdays = sum(1 for offset in range(1, cadence_days + 1) if (last_report + timedelta(days=offset)).weekday() < 5)
    return working_days_between(last_report, at) <= weekdays
