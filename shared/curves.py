"""Cumulative progress curves built from history, usable where plans use named curves. Pure.

A curve is a plan's milestone tuple: ``(end of a day in Vietnam, cumulative fraction)`` with strictly increasing
days and fractions, read like :meth:`shared.plans.Plan.expected_fraction` (linear from 0 at 1 January 00:00 in
Vietnam, flat after the last milestone). A *history curve* is the shape of a past year: the shares of the plan
reached on report days, divided by the share reached at the end of that plan year, so it ends at 1 on
31 January of the next year (the disbursement plan year runs 13 months).

The 2025 national disbursement shape ships as data (``shared/data/national-disbursement-2025.tsv``). Its close on
31 January 2026 is not in the reports: :data:`NATIONAL_2025_FINAL` assumes the mean close of 2023 and 2024
(93.12 % and 93.06 % by 31 January of the next year).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Final

from shared.plans import HISTORY_PREFIX, Milestone, fraction_at
from shared.vntime import VN_TZ

__all__ = [
    "HISTORY_CURVES",
    "HISTORY_PREFIX",
    "NATIONAL_2025_FINAL",
    "NATIONAL_FINALS",
    "Curve",
    "fraction_at",
    "history_curve",
    "named_history_curve",
    "national_disbursement_2025",
    "redate",
]

Curve = tuple[Milestone, ...]

#: The history curves that ship (their data is in ``shared/data``).
HISTORY_CURVES: Final = (f"{HISTORY_PREFIX}2025",)
#: Observed national closes of the disbursement plan year (share of the plan by 31 January of the next year).
NATIONAL_FINALS: Final[Mapping[int, Decimal]] = {2023: Decimal("0.9312"), 2024: Decimal("0.9306")}
#: Assumed close of 2025 (31 January 2026, not reported in the data): the mean of 2023 and 2024.
NATIONAL_2025_FINAL: Final = (NATIONAL_FINALS[2023] + NATIONAL_FINALS[2024]) / 2
_PLACES: Final = Decimal("0.000001")


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day, time.max, VN_TZ)


def _plan_year_end(year: int) -> date:
    return date(year + 1, 1, 31)


def history_curve(readings_by_date: Mapping[date, Decimal], year: int, final: Decimal) -> Curve:
    """The shape of plan year ``year`` from its cumulative shares (any scale, e.g. percent of the plan) by report
    day and ``final``, the share (same scale) reached by the plan year's end, 31 January ``year + 1``.

    Each milestone is share / final (6 decimals); a reading not above the previous one adds nothing (a shape only
    rises) and is left out; the last milestone is (31 January ``year + 1``, 1). ValueError for a reading outside
    the plan year, a negative share, or a ``final`` that is not positive or below a reading.
    """
    if not final.is_finite() or final <= 0:
        raise ValueError(f"final must be positive, got {final}")
    first, last = date(year, 1, 1), _plan_year_end(year)
    milestones: list[Milestone] = []
    previous = Decimal(0)
    for day in sorted(readings_by_date):
        share = readings_by_date[day]
        if not first <= day <= last:
            raise ValueError(f"reading of {day.isoformat()} is outside plan year {year} ({first}..{last})")
        if not share.is_finite() or share < 0:
            raise ValueError(f"share {share} of {day.isoformat()} is not a non-negative number")
        if share > final:
            raise ValueError(f"share {share} of {day.isoformat()} is above the final {final}")
        fraction = (share / final).quantize(_PLACES)
        if fraction <= previous or fraction >= 1 or day == last:
            continue
        milestones.append((_end_of_day(day), fraction))
        previous = fraction
    milestones.append((_end_of_day(last), Decimal(1)))
    return tuple(milestones)


def redate(curve: Curve, from_year: int, to_year: int) -> Curve:
    """A curve of plan year ``from_year`` moved to ``to_year``, day for day (29 February becomes 28 February;
    a milestone that then falls on the previous one's day is left out)."""
    shift = to_year - from_year
    out: list[Milestone] = []
    for at, fraction in curve:
        local = at.astimezone(VN_TZ).date()
        day = min(local.day, 28) if (local.month, local.day) == (2, 29) else local.day
        moved = _end_of_day(date(local.year + shift, local.month, day))
        if out and moved <= out[-1][0]:
            continue
        out.append((moved, fraction))
    return tuple(out)


@cache
def national_disbursement_2025() -> Mapping[date, Decimal]:
    """The 2025 national disbursement readings: report day → share of the plan, in percent (1.26 = 1.26 %)."""
    text = resources.files("shared").joinpath("data/national-disbursement-2025.tsv").read_text(encoding="utf-8")
    rows = csv.DictReader((line for line in io.StringIO(text) if not line.startswith("#")), delimiter="\t")
    return MappingProxyType({date.fromisoformat(row["date"]): Decimal(row["share_percent"]) for row in rows})


def named_history_curve(name: str, year: int) -> Curve:
    """A ``history:YYYY`` curve for plan year ``year``; KeyError for a history that does not ship (today only
    ``history:2025``, the national disbursement shape with the assumed close :data:`NATIONAL_2025_FINAL`)."""
    if name not in HISTORY_CURVES:
        raise KeyError(name)
    shape = history_curve(national_disbursement_2025(), 2025, NATIONAL_2025_FINAL * 100)
    return redate(shape, 2025, year)
