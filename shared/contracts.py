"""The keys of tiendo's topics and of the tables built from them, defined once: ``indicator.totals`` (views, keys,
values), the series key shared by the aggregate changelog, its store and the alert worker's figures.

A key is built by the ``*_key`` function and read back by its ``parse_*`` pair; nothing else splits one by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from shared.vntime import PLAN_TAIL_QUARTER, period_label


class View(StrEnum):
    """How ``indicator.totals`` groups figures (the key's prefix and the value's ``view``)."""

    UNIT = "unit"
    """Per province unit valid at the time (pre-merger units for history before 2025-07-01)."""
    CURRENT = "current"
    """Per current (post-merger) province: pre-merger units rolled up into the unit they became."""


def series_key(unit: str, indicator: str, year: int) -> str:
    """A series: ``unit|indicator|year`` (the changelog and store key; the plan year)."""
    return f"{unit}|{indicator}|{year}"


def parse_series_key(key: str) -> tuple[str, str, int]:
    """``(unit, indicator, year)`` of a :func:`series_key`."""
    unit, indicator, year = key.split("|")
    return unit, indicator, int(year)


def figures_key(view: View | str, unit: str, indicator: str, year: int) -> str:
    """A series in a view: ``view/unit|indicator|year`` (the alert worker's figures table)."""
    return f"{view}/{series_key(unit, indicator, year)}"


@dataclass(frozen=True, slots=True)
class TotalsKey:
    """The parts of an ``indicator.totals`` key."""

    view: View
    unit: str
    indicator: str
    year: int
    quarter: int


def totals_key(view: View, unit: str, indicator: str, year: int, quarter: int) -> bytes:
    """An ``indicator.totals`` key: ``view/unit|indicator|year|Qn`` (``Q4+`` for quarter 5)."""
    return f"{figures_key(view, unit, indicator, year)}|{period_label(quarter)}".encode()


def parse_totals_key(key: bytes) -> TotalsKey:
    """The parts of a :func:`totals_key`; ``ValueError`` for anything else."""
    view, _, rest = key.decode().partition("/")
    unit, indicator, year, period = rest.split("|")
    quarter = PLAN_TAIL_QUARTER if period == "Q4+" else int(period.removeprefix("Q"))
    return TotalsKey(View(view), unit, indicator, int(year), quarter)


def encode_total(view: View, total: dict[str, Any]) -> bytes:
    """An ``indicator.totals`` value: a quarter total's JSON form (``QuarterTotal.to_dict()``) with its view."""
    return orjson.dumps({"view": str(view), **total})


def decode_total(raw: bytes) -> dict[str, Any]:
    """An ``indicator.totals`` value as a dict (``view`` and the quarter total's fields)."""
    total: dict[str, Any] = orjson.loads(raw)
    return total
