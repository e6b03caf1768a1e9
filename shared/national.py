"""The national view: every series' reading history from ``indicator.totals``, and what is built on it — each plan's
forecast, the ranking of provinces, their on-time reporting rate, and the JSON of ``GET /forecast`` and
``GET /ranking``. Pure, no Kafka (the alert worker's ``services.alert.national.NationalFollower`` feeds it).

A *reading* is a series' year-to-date value valid at a date: each quarter total with a ``last_as_of`` is one. A
series keeps each distinct date's latest value (a correction of a date replaces it) and the day each date was
first seen (its *arrival*, see :meth:`NationalView.apply`), so any question is answered as of any day: the
latest reading at or before it, the readings up to it, the report days up to it. Everything is judged at the
reading's date (docs/figures.md): a province that last reported on 31 August is ranked on its 31 August figure.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from shared.alerting import AlertState, Transition
from shared.contracts import View, figures_key
from shared.curves import Curve, history_curve, redate
from shared.evaluation import Evaluator, SeriesFigures, freshest, plan_series_key
from shared.forecast import Forecast, Projection, forecast, shortfall
from shared.indicators import get_indicator
from shared.plans import Plan
from shared.provinces import MERGER_DATE, registry
from shared.ranking import ProgressEntry, RankedRow, Ranking, rank_groups
from shared.timeliness import Cadence, Report, TimelinessResult, on_time_rate
from shared.vntime import VN_TZ, quarter_of

__all__ = [
    "NationalView",
    "Query",
    "SeriesHistory",
    "alerts_at",
    "cadence_of",
    "forecast_json",
    "forecasts",
    "parse_query",
    "plan_forecast",
    "previous_series_key",
    "previous_shape",
    "rank_note",
    "ranking_json",
    "rankings",
    "timeliness",
]

Reading = tuple[datetime, Decimal]
_CENT: Final = Decimal("0.01")
_TENTH: Final = Decimal("0.1")


@dataclass(slots=True)
class SeriesHistory:
    """One series' readings: as_of → latest year-to-date value of that date, and the day that date arrived."""

    view: str
    unit: str
    province_code: str
    indicator: str
    year: int
    values: dict[datetime, Decimal] = field(default_factory=dict)
    arrivals: dict[datetime, date] = field(default_factory=dict)
    version: int = 0  # counts the changes
    _sorted: list[Reading] | None = None

    def put(self, as_of: datetime, ytd: Decimal, arrived: date) -> None:
        self.values[as_of] = ytd
        self.arrivals.setdefault(as_of, arrived)
        self.version += 1
        self._sorted = None

    def _ordered(self) -> list[Reading]:
        if self._sorted is None:
            self._sorted = sorted(self.values.items())
        return self._sorted

    def readings(self, at: datetime | None = None) -> list[Reading]:
        """The readings dated at or before ``at`` (all by default), oldest first."""
        ordered = self._ordered()
        return list(ordered if at is None else ordered[: self._count(at)])

    def latest(self, at: datetime | None = None) -> Reading | None:
        ordered = self._ordered()
        n = len(ordered) if at is None else self._count(at)
        return ordered[n - 1] if n else None

    def _count(self, at: datetime) -> int:
        return bisect_right(self._ordered(), at, key=lambda reading: reading[0])

    def reports(self, until: date | None = None) -> list[Report]:
        """Each reading date's report as ``(valid_for, arrived)`` (Vietnam dates), arrived up to ``until``."""
        return sorted(
            (as_of.astimezone(VN_TZ).date(), arrived)
            for as_of, arrived in self.arrivals.items()
            if until is None or arrived <= until
        )


class NationalView:
    """Every series of ``indicator.totals`` (both views), with its reading history."""

    def __init__(self) -> None:
        self._series: dict[str, SeriesHistory] = {}
        self.latest_as_of: datetime | None = None
        self.version = 0  # counts the changes: what was worked out from an older version is out of date

    def apply(self, total: Mapping[str, Any], arrived: date) -> bool:
        """Fold one quarter total in, first seen on day ``arrived``; whether a reading changed. A total without a
        date (a carried quarter) holds no reading; ValueError (or KeyError) for an unusable total."""
        if not total.get("last_as_of"):
            return False
        as_of = datetime.fromisoformat(total["last_as_of"])
        ytd = Decimal(str(total["ytd"]))
        if as_of.utcoffset() is None or not ytd.is_finite():
            raise ValueError(f"unusable total: ytd {ytd}, last_as_of {as_of}")
        view, unit, indicator, year = total["view"], total["unit"], total["indicator"], int(total["year"])
        key = figures_key(view, unit, indicator, year)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = SeriesHistory(view, unit, total["province_code"], indicator, year)
        if series.values.get(as_of) == ytd:
            return False
        series.put(as_of, ytd, arrived)
        self.version += 1
        if self.latest_as_of is None or as_of > self.latest_as_of:
            self.latest_as_of = as_of
        return True

    def get(self, key: str) -> SeriesHistory | None:
        return self._series.get(key)

    def series(self) -> list[SeriesHistory]:
        return list(self._series.values())

    def readings(self, key: str, at: datetime | None = None) -> list[Reading]:
        series = self._series.get(key)
        return [] if series is None else series.readings(at)

    def latest(self, key: str, at: datetime | None = None) -> Reading | None:
        series = self._series.get(key)
        return None if series is None else series.latest(at)

    def series_version(self, key: str) -> int:
        """The changes of one series so far (0 if never seen): what was worked out from it stays valid until then."""
        series = self._series.get(key)
        return 0 if series is None else series.version

    def __len__(self) -> int:
        return len(self._series)


# --- forecasts -------------------------------------------------------------------------------------------------


def previous_series_key(plan: Plan) -> str:
    """The series of the year before a plan's year, judged as a plan of that year would be."""
    year = plan.year - 1
    if year >= MERGER_DATE.year:
        return figures_key(View.CURRENT, plan.province_code, plan.indicator, year)
    return figures_key(View.UNIT, plan.province_uid, plan.indicator, year)


def previous_shape(plan: Plan, view: NationalView) -> Curve | None:
    """The previous year's shape of the plan's series (:func:`shared.curves.history_curve` of its readings, its
    last reading taken as the close), re-dated to the plan year; None unless that year is complete (a reading on or
    after 1 December) with a positive close."""
    year = plan.year - 1
    readings = view.readings(previous_series_key(plan))
    if not readings:
        return None
    last = get_indicator(plan.indicator).plan_year_end(year)
    by_day: dict[date, Decimal] = {}
    for when, value in readings:
        day = when.astimezone(VN_TZ).date()
        if date(year, 1, 1) <= day <= last:
            by_day[day] = value
    if not by_day or max(by_day) < date(year, 12, 1):
        return None
    close = by_day[max(by_day)]
    if close <= 0:
        return None
    try:
        shape = history_curve({d: v for d, v in by_day.items() if Decimal(0) <= v <= close}, year, close)
    except ValueError:
        return None
    return redate(shape, year, plan.year)


def plan_forecast(plan: Plan, view: NationalView, at: datetime) -> Forecast | None:
    """A plan's forecast from its series' readings up to ``at`` (with last year's shape where there is one)."""
    readings = view.readings(plan_series_key(plan), at)
    if not readings:
        return None
    return forecast(plan, readings, previous_shape=previous_shape(plan, view), at=readings[-1][0])


def _figures_of(history: SeriesHistory, reading: Reading) -> SeriesFigures:
    """The series' figures as the alert rules take them, holding one reading (its quarter: Q4+ for January of the
    next year)."""
    as_of, ytd = reading
    year, quarter = quarter_of(as_of)
    quarter = 5 if year > history.year else quarter
    return SeriesFigures(
        history.view, history.unit, history.province_code, history.indicator, history.year,
        {quarter: ytd}, as_of, {quarter: as_of},
    )  # fmt: skip


def alerts_at(plans: Iterable[Plan], view: NationalView, at: datetime, evaluator: Evaluator) -> list[AlertState]:
    """The plan alerts firing at ``at`` as the readings dated by then make them (behind plan, forecast shortfall,
    implausible figure, no report) and stale feeds: what a digest of a past week lists, rather than the alerts
    firing today."""
    firing = [state for plan in plans for state in _plan_alerts_at(plan, view, at, evaluator)]
    latest = [_figures_of(h, r) for h in view.series() if h.view == View.UNIT and (r := h.latest(at)) is not None]
    for figures in freshest(latest):  # stale feeds: judged on the last reading dated by then
        transition = evaluator.staleness(figures, None, at)
        if transition is not None and transition.state.status == "firing":
            firing.append(transition.state)
    return firing


def _plan_alerts_at(plan: Plan, view: NationalView, at: datetime, evaluator: Evaluator) -> list[AlertState]:
    """One plan's rules over its readings dated by ``at``, oldest first, each judged at its own date as the worker
    judges it, then once at ``at`` (what is due by then); the shortfall on the last reading's forecast."""
    key = plan_series_key(plan)
    history = view.get(key)
    steps: list[tuple[SeriesFigures | None, datetime]] = []
    if history is not None:
        steps = [(_figures_of(history, reading), reading[0]) for reading in history.readings(at)]
    steps.append((steps[-1][0] if steps else None, at))
    behind = implausible = no_report = None
    for figures, when in steps:
        behind = _moved(behind, evaluator.behind_plan(plan, figures, behind, when))
        implausible = _moved(implausible, evaluator.implausible(plan, figures, implausible, when))
        no_report = _moved(no_report, evaluator.no_report(plan, figures, no_report, when))
    # The shortfall on the last reading's forecast only (a forecast costs milliseconds: one per plan, not one per
    # reading), so without its hysteresis: as the forecasts' own ``shortfall`` flag.
    fc = plan_forecast(plan, view, at)
    paged = behind is not None and behind.status == "firing"
    short = _moved(None, evaluator.forecast_shortfall(plan, fc, None, at, behind=paged))
    states = (behind, short, implausible, no_report)
    return [s for s in states if s is not None and s.status == "firing"]


def _moved(state: AlertState | None, transition: Transition | None) -> AlertState | None:
    return state if transition is None else transition.state


# --- ranking and timeliness ------------------------------------------------------------------------------------


def cadence_of(indicator: str) -> Cadence | None:
    """When an indicator's reports are due, for the on-time rate: weekly (cadence up to 7 days) on Friday,
    monthly (up to 35 days) by the month's last day; None for quarterly indicators (no monthly deadline)."""
    days = get_indicator(indicator).cadence_days
    if days <= 7:
        return Cadence.weekly()
    if days <= 35:
        return Cadence.monthly(31)
    return None


def timeliness(plan: Plan, view: NationalView, at: datetime) -> TimelinessResult | None:
    """The on-time reporting rate of a plan's series from 1 January of its year to ``at`` (its plan year's end at
    the latest); None for an indicator without a due day or a series never seen."""
    cadence = cadence_of(plan.indicator)
    series = view.get(plan_series_key(plan))
    if cadence is None or series is None:
        return None
    end = min(at.astimezone(VN_TZ).date(), get_indicator(plan.indicator).plan_year_end(plan.year))
    return on_time_rate(series.reports(end), cadence, date(plan.year, 1, 1), end)


def rankings(plans: Iterable[Plan], view: NationalView, at: datetime) -> dict[tuple[str, int, str], Ranking]:
    """Every (indicator, year, basis) group's ranking at ``at``, each province on its latest reading at or before
    then, with its rank change since the ranking of a week earlier."""

    def entries(when: datetime) -> list[ProgressEntry]:
        found: dict[tuple[str, int, str, str], ProgressEntry] = {}
        for plan in plans_list:
            reading = view.latest(plan_series_key(plan), when)
            if reading is None:
                continue
            entry = ProgressEntry.from_plan(plan, reading[1], reading[0])
            found.setdefault((*entry.group, entry.province_code), entry)  # one per province (oldest uid first)
        return list(found.values())

    plans_list = sorted(plans, key=lambda p: (p.year, p.key))
    previous = rank_groups(entries(at - timedelta(days=7)))
    return rank_groups(entries(at), previous)


def rank_note(ranking: Ranking | None, province_code: str) -> str | None:
    """``32nd of 34; national average 46.3 %`` (the national aggregate), for alert annotations."""
    row = None if ranking is None else ranking.row(province_code)
    if ranking is None or row is None:
        return None
    return f"{row.position}; national average {_fixed(ranking.national_aggregate, _TENTH)} %"


# --- the HTTP API ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """The query of ``/forecast`` and ``/ranking``: filters, and the day judged (its end, Vietnam time)."""

    at: datetime | None = None
    province: str | None = None  # a current or former province code
    indicator: str | None = None
    year: int | None = None
    basis: str | None = None

    def keeps(self, plan: Plan) -> bool:
        return (
            (self.indicator is None or plan.indicator == self.indicator)
            and (self.year is None or plan.year == self.year)
            and (self.basis is None or plan.basis == self.basis)
        )

    def keeps_province(self, code: str) -> bool:
        return self.province is None or code == self.province


def parse_query(params: Mapping[str, str]) -> Query:
    """The query from URL parameters; ValueError naming the bad one."""
    known = {"at", "province", "indicator", "year", "basis"}
    if unknown := sorted(set(params) - known):
        raise ValueError(f"unknown parameter(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    at = None
    if text := params.get("at"):
        try:
            at = datetime.combine(date.fromisoformat(text), time.max, VN_TZ)
        except ValueError:
            raise ValueError(f"at={text!r} is not a date (YYYY-MM-DD)") from None
    province = None
    if name := params.get("province"):
        try:
            province = registry().resolve(name, on=(at or datetime.now(VN_TZ)).date()).code
        except (ValueError, KeyError):
            raise ValueError(f"province={name!r} is not a province name or code") from None
    indicator = params.get("indicator") or None
    if indicator is not None:
        try:
            get_indicator(indicator)
        except (ValueError, KeyError):
            raise ValueError(f"indicator={indicator!r} is not a known indicator id") from None
    year = None
    if text := params.get("year"):
        if not text.isdigit() or not 2000 <= int(text) <= 2100:
            raise ValueError(f"year={text!r} is not a year (2000-2100)")
        year = int(text)
    basis = params.get("basis") or None
    if basis is not None and basis not in ("central", "provincial"):
        raise ValueError(f"basis={basis!r} is not central or provincial")
    return Query(at, province, indicator, year, basis)


def _fixed(value: Decimal, places: Decimal) -> str:
    return format(value.quantize(places, rounding=ROUND_HALF_UP), "f")


def _iso(at: datetime) -> str:
    return at.astimezone(VN_TZ).replace(microsecond=0).isoformat()


def _day(at: datetime) -> str:
    return at.astimezone(VN_TZ).date().isoformat()


def _projection_json(p: Projection, *, ratios: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "date": _day(p.at),
        "point": _fixed(p.point, _CENT),
        "low": _fixed(p.low, _CENT),
        "high": _fixed(p.high, _CENT),
        "ratio_to_target": None if p.ratio_to_target is None else _fixed(p.ratio_to_target, _CENT),
    }
    if ratios:
        expected = p.expected
        body["ratio_low"] = _fixed(p.low / expected, _CENT) if expected > 0 else None
        body["ratio_high"] = _fixed(p.high / expected, _CENT) if expected > 0 else None
    return body


def forecast_json(plan: Plan, fc: Forecast, margin: Decimal) -> dict[str, Any]:
    """One entry of ``GET /forecast`` (``shortfall``: the year-end point below plan by ``margin``, no hysteresis)."""
    return {
        "province_code": plan.province_code,
        "province": plan.province_name,
        "indicator": plan.indicator,
        "year": plan.year,
        "basis": plan.basis,
        "unit": plan.base_unit,
        "target": _fixed(plan.target, _CENT),
        "as_of": _iso(fc.as_of),
        "actual": _fixed(fc.actual, _CENT),
        "pace": None if fc.pace is None else _fixed(fc.pace, _CENT),
        "method": fc.method,
        "range_method": fc.range_method,
        "next_milestone": _projection_json(fc.next_milestone),
        "year_end": _projection_json(fc.year_end, ratios=True),
        "shortfall": shortfall(fc, plan, margin),
    }


def forecasts(plans: Iterable[Plan], view: NationalView, query: Query, at: datetime, margin: Decimal) -> dict[str, Any]:
    """The body of ``GET /forecast``: every kept plan with a forecast at ``at``."""
    out = []
    for plan in sorted(plans, key=lambda p: (p.indicator, p.year, p.basis, p.province_code)):
        if not query.keeps(plan) or not query.keeps_province(plan.province_code):
            continue
        fc = plan_forecast(plan, view, at)
        if fc is not None:
            out.append(forecast_json(plan, fc, margin))
    return {"at": _day(at), "forecasts": out}


def _row_json(row: RankedRow, rate: Decimal | None) -> dict[str, Any]:
    entry = row.entry
    return {
        "rank": row.rank,
        "count": row.count,
        "tied": row.tied,
        "position": row.position,
        "province_code": entry.province_code,
        "province": entry.province_name,
        "percent": _fixed(entry.percent, _TENTH),
        "ratio": None if entry.ratio is None else _fixed(entry.ratio, _CENT),
        "as_of": _iso(entry.as_of),
        "standing": row.standing,
        "rank_change": row.rank_change,
        "on_time_rate": None if rate is None else _fixed(rate, _CENT),
    }


def ranking_json(plans: Iterable[Plan], view: NationalView, query: Query, at: datetime) -> dict[str, Any]:
    """The body of ``GET /ranking``: each kept group ranked over every province (the province filter keeps only
    that province's row), with each row's on-time reporting rate."""
    kept = [p for p in plans if query.keeps(p)]
    by_province: dict[tuple[str, int, str, str], Plan] = {}
    for plan in sorted(kept, key=lambda p: (p.year, p.key)):
        by_province.setdefault((plan.indicator, plan.year, plan.basis, plan.province_code), plan)
    out = []
    for (indicator, year, basis), ranking in rankings(kept, view, at).items():
        rows = []
        for row in ranking.rows:
            if not query.keeps_province(row.entry.province_code):
                continue
            result = timeliness(by_province[(indicator, year, basis, row.entry.province_code)], view, at)
            rows.append(_row_json(row, None if result is None else result.rate))
        out.append(
            {
                "indicator": indicator,
                "year": year,
                "basis": basis,
                "national_aggregate_percent": _fixed(ranking.national_aggregate, _TENTH),
                "national_average_percent": _fixed(ranking.national_average, _TENTH),
                "against": ranking.against,
                "rows": rows,
            }
        )
    return {"at": _day(at), "rankings": out}
