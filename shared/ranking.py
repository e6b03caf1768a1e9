"""The national picture: provinces ranked by progress on one indicator, year and basis, as the Ministry of Finance
ranks units above or below the national average. Pure.

Each province's progress is judged at its own reading's date: ``percent`` = actual year to date / yearly target ×
100, ``ratio`` = actual / the plan's expected value at that date (the behind-plan ratio). Provinces are ranked by
``percent`` (the Ministry's "tỷ lệ giải ngân"), highest first, ties sharing a rank (competition ranking: 1, 2, 2,
4). Two national figures:

* ``national_aggregate`` — sum of actuals / sum of targets × 100: the country's own rate ("bình quân chung cả
  nước", what the Ministry compares units with). Above/below-average flags use it unless ``against="mean"``.
* ``national_average`` — the mean of the provinces' percentages (each province weighs the same).

``rank_change`` is the previous ranking's rank minus this one (positive: moved up); None for a province not in
the previous ranking.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from shared.plans import Basis, Plan

__all__ = ["Against", "ProgressEntry", "RankedRow", "Ranking", "ordinal", "rank", "rank_groups"]

Against = Literal["aggregate", "mean"]
Standing = Literal["above", "below", "at"]
GroupKey = tuple[str, int, str]


@dataclass(frozen=True)
class ProgressEntry:
    """One province's latest reading against its plan: actual year to date (base unit) at ``as_of``."""

    province_code: str
    province_name: str
    indicator: str
    year: int
    basis: Basis
    actual: Decimal
    target: Decimal
    expected_fraction: Decimal
    as_of: datetime

    def __post_init__(self) -> None:
        if not self.target.is_finite() or self.target <= 0:
            raise ValueError(f"{self.province_code}: target must be positive, got {self.target}")

    @classmethod
    def from_plan(cls, plan: Plan, actual: Decimal, as_of: datetime) -> ProgressEntry:
        """The entry of a plan's reading, its expected fraction taken at the reading's date."""
        return cls(
            plan.province_code,
            plan.province_name,
            plan.indicator,
            plan.year,
            plan.basis,
            actual,
            plan.target,
            plan.expected_fraction(as_of),
            as_of,
        )

    @property
    def group(self) -> GroupKey:
        return (self.indicator, self.year, self.basis)

    @property
    def percent(self) -> Decimal:
        """Actual as a percentage of the yearly target."""
        return self.actual / self.target * 100

    @property
    def ratio(self) -> Decimal | None:
        """Actual / expected at the reading's date; None while nothing is expected."""
        expected = self.target * self.expected_fraction
        return self.actual / expected if expected > 0 else None


@dataclass(frozen=True)
class RankedRow:
    """A province's place: ``rank`` of ``count`` (ties share it), its standing against the national figure."""

    entry: ProgressEntry
    rank: int
    count: int
    tied: bool
    standing: Standing
    rank_change: int | None

    @property
    def position(self) -> str:
        """``32nd of 34`` (``2nd of 34, tied``)."""
        return f"{ordinal(self.rank)} of {self.count}" + (", tied" if self.tied else "")


@dataclass(frozen=True)
class Ranking:
    """Provinces of one indicator, year and basis, by rank (then province code)."""

    indicator: str
    year: int
    basis: str
    rows: tuple[RankedRow, ...]
    national_aggregate: Decimal
    national_average: Decimal
    against: Against

    def row(self, province_code: str) -> RankedRow | None:
        return next((row for row in self.rows if row.entry.province_code == province_code), None)

    @property
    def above(self) -> tuple[RankedRow, ...]:
        return tuple(row for row in self.rows if row.standing == "above")

    @property
    def below(self) -> tuple[RankedRow, ...]:
        return tuple(row for row in self.rows if row.standing == "below")


def ordinal(n: int) -> str:
    """English ordinal: 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 32nd, 101st, 111th."""
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def rank(
    entries: Iterable[ProgressEntry], previous: Ranking | None = None, *, against: Against = "aggregate"
) -> Ranking:
    """Rank one group's entries (same indicator, year and basis; one per province); ValueError if they are not
    one group, empty, or name a province twice. ``previous`` (a week earlier) gives each row its rank change."""
    items = list(entries)
    if not items:
        raise ValueError("nothing to rank")
    groups = {entry.group for entry in items}
    if len(groups) > 1:
        raise ValueError(f"entries of several groups (indicator, year, basis): {sorted(groups)}")
    codes = [entry.province_code for entry in items]
    if len(set(codes)) != len(codes):
        twice = sorted({code for code in codes if codes.count(code) > 1})
        raise ValueError(f"province(s) ranked twice: {', '.join(twice)}")
    aggregate = sum((e.actual for e in items), Decimal(0)) / sum((e.target for e in items), Decimal(0)) * 100
    average = sum((e.percent for e in items), Decimal(0)) / len(items)
    national = aggregate if against == "aggregate" else average
    ordered = sorted(items, key=lambda e: (-e.percent, e.province_code))
    before = {row.entry.province_code: row.rank for row in previous.rows} if previous is not None else {}
    counts: dict[Decimal, int] = {}
    for entry in items:
        counts[entry.percent] = counts.get(entry.percent, 0) + 1
    rows: list[RankedRow] = []
    for index, entry in enumerate(ordered):
        place = rows[-1].rank if rows and rows[-1].entry.percent == entry.percent else index + 1
        standing: Standing = "above" if entry.percent > national else "below" if entry.percent < national else "at"
        old = before.get(entry.province_code)
        rows.append(
            RankedRow(
                entry, place, len(items), counts[entry.percent] > 1, standing, None if old is None else old - place
            )
        )
    indicator, year, basis = groups.pop()
    return Ranking(indicator, year, basis, tuple(rows), aggregate, average, against)


def rank_groups(
    entries: Iterable[ProgressEntry],
    previous: Mapping[GroupKey, Ranking] | None = None,
    *,
    against: Against = "aggregate",
) -> dict[GroupKey, Ranking]:
    """One ranking per (indicator, year, basis) of the entries, each with its previous ranking if given."""
    grouped: dict[GroupKey, list[ProgressEntry]] = {}
    for entry in entries:
        grouped.setdefault(entry.group, []).append(entry)
    earlier = previous or {}
    return {key: rank(group, earlier.get(key), against=against) for key, group in sorted(grouped.items())}
