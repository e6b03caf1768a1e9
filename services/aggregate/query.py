"""The totals query: parameters checked, series filtered, per-unit or post-merger view. Pure, no Faust."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from shared.aggregation import QuarterTotal, SeriesState, rollup
from shared.contracts import View, parse_series_key
from shared.indicators import UnknownIndicatorError, get_indicator
from shared.provinces import MERGER_DATE, UnknownProvinceError, registry


class QueryError(ValueError):
    """A bad query parameter; the message names it."""


@dataclass(frozen=True, slots=True)
class TotalsQuery:
    province: str | None = None
    indicator: str | None = None
    year: int | None = None
    quarter: int | None = None
    view: View = View.UNIT

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> TotalsQuery:
        """Validate query-string parameters; raise ``QueryError`` naming the first bad one."""
        unknown = set(params) - {"province", "indicator", "year", "quarter", "view"}
        if unknown:
            raise QueryError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        year = _int(params, "year", 2000, 2999)
        quarter = _int(params, "quarter", 1, 5)  # 5: "Q4+", January after a plan year that runs 13 months
        indicator = params.get("indicator") or None
        if indicator is not None:
            try:
                get_indicator(indicator)
            except UnknownIndicatorError as exc:
                raise QueryError(f"indicator: {exc}") from None
        try:
            view = View(params.get("view", "unit"))
        except ValueError:
            raise QueryError(f"view: must be 'unit' or 'current', not {params['view']!r}") from None
        province = params.get("province") or None
        if province is not None:
            try:  # check the name now, so a typo is a 400 with suggestions rather than an empty answer
                registry().resolve(province, on=_day(year, view))
            except UnknownProvinceError as exc:
                raise QueryError(f"province: {exc}") from None
        return cls(province, indicator, year, quarter, view)

    def units(self, year: int) -> set[str] | None:
        """The unit ids (unit view) or current codes (current view) the province filter selects for a year."""
        if self.province is None:
            return None
        reg = registry()
        unit = reg.resolve(self.province, on=_day(year, self.view))
        if self.view is View.CURRENT:
            return {reg.rollup(unit.code, on=_day(year, self.view)).code}
        # A unit-view year can hold two units of one name (Bắc Ninh 27 until June 2025, merged 24 after).
        return {unit.uid, reg.resolve(self.province, on=date(year, 1, 1)).uid}


def key_filter(query: TotalsQuery) -> Callable[[str], bool]:
    """A cheap test on a series' table key (``unit|indicator|year``): False for a series ``run`` would not select
    for the query (indicator, year, and the province in the unit view), so only the others need decoding."""
    units_of_year: dict[int, set[str] | None] = {}

    def keep(key: str) -> bool:
        unit, indicator, year = parse_series_key(key)
        if (query.indicator is not None and indicator != query.indicator) or (
            query.year is not None and year != query.year
        ):
            return False
        if query.province is None or query.view is View.CURRENT:
            return True  # a current province's series are found by their decoded current_code
        if year not in units_of_year:
            units_of_year[year] = query.units(year)
        wanted = units_of_year[year]
        return wanted is None or unit in wanted

    return keep


def run(query: TotalsQuery, states: Iterable[SeriesState]) -> list[QuarterTotal]:
    """Quarter totals matching the query, sorted by province, indicator, year, quarter."""
    selected = [
        s
        for s in states
        if (query.indicator is None or s.indicator == query.indicator) and (query.year is None or s.year == query.year)
    ]
    totals: list[QuarterTotal] = []
    if query.view is View.UNIT:
        for state in selected:
            wanted = query.units(state.year)
            if wanted is None or state.unit in wanted:
                totals.extend(state.totals())
    else:
        by_current: dict[str, list[QuarterTotal]] = {}
        for state in selected:
            by_current.setdefault(state.current_code, []).extend(state.totals())
        for code, parts in by_current.items():
            for total in rollup(parts, code):
                wanted = query.units(total.year)
                if wanted is None or code in wanted:
                    totals.append(total)
    if query.quarter is not None:
        totals = [t for t in totals if t.quarter == query.quarter]
    return sorted(totals, key=lambda t: (t.unit, t.indicator, t.year, t.quarter))


def _int(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name}: {raw!r} is not an integer") from None
    if not low <= value <= high:
        raise QueryError(f"{name}: {value} is outside {low}..{high}")
    return value


def _day(year: int | None, view: View) -> date:
    """The date a province name is resolved on: within the year asked (the current view: after the merger)."""
    if view is View.CURRENT:
        return max(date(year or MERGER_DATE.year, 12, 31), MERGER_DATE)
    return date(year, 12, 31) if year else date.today()
