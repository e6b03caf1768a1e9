"""The national view (shared/national.py): reading history, forecasts, rankings, on-time rate, the API's JSON; the
forecast-shortfall rule and the holiday allowance of the stale and no-report rules (shared/evaluation.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.alerting import FEED_STALE, AlertKey, AlertState, Transition, mark_sent
from shared.contracts import View, figures_key
from shared.evaluation import Evaluator, SeriesFigures, province_of
from shared.forecast import forecast
from shared.national import (
    NationalView,
    Query,
    cadence_of,
    forecasts,
    parse_query,
    plan_forecast,
    previous_shape,
    rank_note,
    ranking_json,
    rankings,
    timeliness,
)
from shared.plans import Plan, curve_milestones
from shared.vntime import VN_TZ, parse_as_of

BN = Decimal(10**9)
INDICATOR = "public_investment_disbursed"


def plan(code: str, target_bn: int, *, year: int = 2024) -> Plan:
    return Plan(
        province_code=code,
        province_uid=code,
        province_name=province_of(code).name,
        indicator=INDICATOR,
        year=year,
        target=target_bn * BN,
        base_unit="VND",
        basis="central",
        milestones=curve_milestones("disbursement", year),
        curve="disbursement",
    )


def total(unit: str, ytd_bn: str, as_of: str, *, year: int = 2024, quarter: int = 3) -> dict[str, Any]:
    return {
        "view": "unit",
        "unit": unit,
        "province_code": unit,
        "current_code": unit,
        "indicator": INDICATOR,
        "year": year,
        "quarter": quarter,
        "ytd": str(Decimal(ytd_bn) * BN),
        "last_as_of": parse_as_of(as_of).isoformat(),
    }


def day(text: str) -> date:
    return date.fromisoformat(text)


def key(unit: str, year: int = 2024) -> str:
    return figures_key(View.UNIT, unit, INDICATOR, year)


def test_history_keeps_each_dated_reading_its_correction_and_first_arrival() -> None:
    view = NationalView()
    assert view.apply(total("20", "1000", "2024-06-30", quarter=2), day("2024-07-02"))
    assert view.apply(total("20", "1395", "2024-09-15"), day("2024-09-16"))
    assert not view.apply(total("20", "1395", "2024-09-15"), day("2024-09-20")), "the same reading again"
    assert view.apply(total("20", "1400", "2024-09-15"), day("2024-09-21")), "a correction of that date"
    assert not view.apply({**total("20", "0", "2024-12-31", quarter=4), "last_as_of": None}, day("2025-01-01"))
    series = view.get(key("20"))
    assert series is not None
    assert [v / BN for _, v in view.readings(key("20"))] == [1000, 1400]
    assert view.latest(key("20"), parse_as_of("2024-09-01")) == (parse_as_of("2024-06-30"), 1000 * BN)
    assert view.latest(key("20"), parse_as_of("2024-06-29")) is None
    assert series.reports() == [
        (day("2024-06-30"), day("2024-07-02")),
        (day("2024-09-15"), day("2024-09-16")),
    ], "a correction is no new report"
    assert view.latest_as_of == parse_as_of("2024-09-15")
    with pytest.raises(ValueError, match="unusable"):
        view.apply({**total("20", "1", "2024-09-16"), "ytd": "NaN"}, day("2024-09-16"))


def test_forecast_of_a_series_on_its_curve_is_its_target_and_uses_last_years_shape() -> None:
    lang_son = plan("20", 4500)
    view = NationalView()
    on_curve = lang_son.target * lang_son.expected_fraction(parse_as_of("2024-09-15"))
    view.apply({**total("20", "0", "2024-09-15"), "ytd": str(on_curve)}, day("2024-09-15"))
    fc = plan_forecast(lang_son, view, parse_as_of("2024-09-19"))
    assert fc is not None and fc.ratio_to_target == 1
    # A 2023 series that reached 60 % of its close by 15 September: last year's shape now weighs in, and says
    # the same reading projects lower (the year was front-loaded).
    for as_of, ytd in (("2023-03-31", "800"), ("2023-09-15", "2400"), ("2023-12-31", "3600"), ("2024-01-31", "4000")):
        view.apply(total("20", ytd, as_of, year=2023), day(as_of))
    shape = previous_shape(lang_son, view)
    assert shape is not None and shape[-1] == (parse_as_of("2025-01-31"), Decimal(1))
    again = plan_forecast(lang_son, view, parse_as_of("2024-09-19"))
    assert again is not None and "previous year" in again.method
    assert again.ratio_to_target is not None and again.ratio_to_target < 1


def test_no_previous_shape_from_an_incomplete_year() -> None:
    view = NationalView()
    view.apply(total("20", "800", "2023-06-30", year=2023), day("2023-06-30"))
    assert previous_shape(plan("20", 4500), view) is None


def three_provinces() -> tuple[list[Plan], NationalView]:
    plans = [plan("20", 4500), plan("24", 6000), plan("31", 10000)]
    view = NationalView()
    for unit, ytd, as_of in (
        ("20", "1395", "2024-09-15"),
        ("24", "3000", "2024-09-06"),
        ("31", "3000", "2024-09-13"),
        ("20", "1000", "2024-09-06"),
        ("31", "6000", "2024-09-20"),
    ):
        view.apply(total(unit, ytd, as_of), day(as_of))
    return plans, view


def test_ranking_judges_each_province_at_its_reading_date_with_the_weeks_change() -> None:
    plans, view = three_provinces()
    at = parse_as_of("2024-09-20")
    ranking = rankings(plans, view, at)[(INDICATOR, 2024, "central")]
    assert [(r.entry.province_code, r.rank) for r in ranking.rows] == [("31", 1), ("24", 2), ("20", 3)]
    assert ranking.row("31") is not None and ranking.row("31").rank_change == 1  # type: ignore[union-attr]
    assert ranking.national_aggregate == Decimal(10395) / Decimal(20500) * 100
    assert rank_note(ranking, "20") == "3rd of 3; national average 50.7 %"
    body = ranking_json(plans, view, Query(province="20"), at)
    [group] = body["rankings"]
    [row] = group["rows"]
    assert row["position"] == "3rd of 3" and row["percent"] == "31.0" and row["as_of"].startswith("2024-09-15T23:59")
    assert row["standing"] == "below" and row["rank_change"] == 0 and group["national_aggregate_percent"] == "50.7"
    assert body["at"] == "2024-09-20"


def test_forecast_json_has_the_contracts_fields() -> None:
    plans, view = three_provinces()
    body = forecasts(plans, view, Query(indicator=INDICATOR), parse_as_of("2024-09-20"), Decimal("0.1"))
    entry = next(f for f in body["forecasts"] if f["province_code"] == "20")
    assert set(entry) >= {
        "province_code", "province", "indicator", "year", "basis", "unit", "target", "as_of", "actual", "pace",
        "method", "next_milestone", "year_end", "shortfall",
    }  # fmt: skip
    assert entry["year_end"]["date"] == "2025-01-31" and entry["shortfall"] is True
    assert Decimal(entry["year_end"]["ratio_low"]) <= Decimal(entry["year_end"]["ratio_to_target"])
    assert entry["next_milestone"]["date"] == "2024-09-30"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"at": "2024-13-01"}, "at="),
        ({"province": "Atlantis"}, "province="),
        ({"indicator": "happiness"}, "indicator="),
        ({"year": "24"}, "year="),
        ({"basis": "federal"}, "basis="),
        ({"when": "now"}, "unknown parameter"),
    ],
)
def test_bad_query_parameters_are_named(params: dict[str, str], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_query(params)


def test_query_parses_names_and_days() -> None:
    query = parse_query({"province": "Lạng Sơn", "at": "2024-09-19", "year": "2024", "basis": "central"})
    assert query.province == "20" and query.at == parse_as_of("2024-09-19") and query.year == 2024


def test_on_time_rate_over_the_reports_seen() -> None:
    assert cadence_of(INDICATOR) is not None and cadence_of("grdp_growth") is None
    view = NationalView()
    months = [date(2024, m, 28) for m in range(1, 7) if m != 4]  # April's report missing
    for i, d in enumerate(months):
        view.apply(total("20", str(100 * (i + 1)), d.isoformat()), d)
    result = timeliness(plan("20", 4500), view, parse_as_of("2024-06-30"))
    assert result is not None and (result.expected, result.on_time, result.missing) == (6, 5, 1)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 4000), min_size=1, max_size=8), st.integers(0, 500))
def test_forecast_point_is_monotone_in_the_latest_reading(values: list[int], extra: int) -> None:
    lang_son = plan("20", 4500)
    dates = [parse_as_of("2024-03-31") + timedelta(days=20 * i) for i in range(len(values))]
    readings = [(d, Decimal(v) * BN) for d, v in zip(dates, sorted(values), strict=True)]
    higher = [*readings[:-1], (readings[-1][0], readings[-1][1] + extra * BN)]
    low, high = forecast(lang_son, readings), forecast(lang_son, higher)
    assert low is not None and high is not None and low.point <= high.point


# --- the rules -----------------------------------------------------------------------------------------------------


def test_shortfall_fires_on_the_projection_holds_under_behind_plan_and_resolves_with_hysteresis() -> None:
    evaluator, lang_son = Evaluator(), plan("20", 4500)
    at = parse_as_of("2024-09-15")
    expected = lang_son.target * lang_son.expected_fraction(at)

    def fc(pace: str, when: datetime = at):
        return forecast(lang_son, [(when, expected * Decimal(pace))])

    assert evaluator.forecast_shortfall(lang_son, fc("0.95"), None, at) is None
    assert evaluator.forecast_shortfall(lang_son, fc("0.80"), None, at, behind=True) is None, "already paged"
    fired = evaluator.forecast_shortfall(lang_son, fc("0.85"), None, at, rank="3rd of 3; national average 50.7 %")
    assert fired is not None and fired.event == "fired" and fired.state.severity == "warning"
    notes = fired.state.annotations
    assert notes["summary"] == (
        "Lạng Sơn: on current pace Lạng Sơn reaches 85 % of its 2024 central plan by 31 January 2025"
    )
    assert notes["rank"] == "3rd of 3; national average 50.7 %" and "rank" not in fired.state.labels
    state = mark_sent(fired.state, at)
    assert evaluator.forecast_shortfall(lang_son, fc("0.93"), state, at, behind=True).event == "unchanged"  # type: ignore[union-attr]
    resolved = evaluator.forecast_shortfall(lang_son, fc("0.96"), state, at)
    assert resolved is not None and resolved.event == "resolved"


def pages(transition: Transition | None) -> bool:
    return transition is not None and transition.sends


def stale_figures(last: str) -> SeriesFigures:
    as_of = parse_as_of(last)
    return SeriesFigures("unit", "20", "20", "state_budget_revenue", as_of.year, {1: BN}, as_of, {1: as_of})


def test_a_feed_silent_over_tet_2025_is_not_stale_until_the_working_days_run_out() -> None:
    evaluator = Evaluator()
    figures = stale_figures("2025-01-24")  # last report the Friday before Tết (27 January - 1 February)
    # 35 days' cadence: 28 February would be stale without Tết; six working days more are allowed.
    assert not pages(evaluator.staleness(figures, None, parse_as_of("2025-03-03")))
    fired = evaluator.staleness(figures, None, parse_as_of("2025-03-12"))
    assert fired is not None and fired.state.severity == "warning"


def test_a_feed_silent_over_30_april_and_1_may_waits_for_the_holidays() -> None:
    evaluator = Evaluator()
    figures = stale_figures("2025-03-28")  # Hùng Kings (7 April), 30 April, 1 and 2 May 2025 are days off
    assert not pages(evaluator.staleness(figures, None, parse_as_of("2025-05-05")))
    fired = evaluator.staleness(figures, None, parse_as_of("2025-05-09"))
    assert fired is not None and fired.state.severity == "warning"
    state = AlertState(AlertKey(FEED_STALE, "20", "state_budget_revenue"))
    assert evaluator.staleness(figures, state, parse_as_of("2025-05-02")).event == "unchanged"  # type: ignore[union-attr]


def test_no_report_for_2025_waits_out_tet() -> None:
    evaluator, plan_2025 = Evaluator(), plan("20", 4500, year=2025)
    assert evaluator.no_report(plan_2025, None, None, datetime(2025, 2, 11, 12, tzinfo=VN_TZ)) is None
    fired = evaluator.no_report(plan_2025, None, None, datetime(2025, 2, 13, 12, tzinfo=VN_TZ))
    assert fired is not None and fired.state.severity == "warning"


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 5000)), min_size=1, max_size=30),
    st.integers(0, 45),
)
def test_latest_at_a_day_is_the_last_applied_value_of_the_latest_date_up_to_it(
    applied: list[tuple[int, int]], cut: int
) -> None:
    view, start = NationalView(), date(2024, 3, 1)
    for offset, value in applied:  # any order, corrections (the same date again) included
        as_of = start + timedelta(days=offset)
        view.apply(total("20", str(value), as_of.isoformat()), as_of)
    expected: dict[date, int] = {}
    for offset, value in applied:
        expected[start + timedelta(days=offset)] = value
    upto = [d for d in expected if d <= start + timedelta(days=cut)]
    found = view.latest(key("20"), parse_as_of((start + timedelta(days=cut)).isoformat()))
    if not upto:
        assert found is None
    else:
        assert found == (parse_as_of(max(upto).isoformat()), expected[max(upto)] * BN)
    assert [when for when, _ in view.readings(key("20"))] == sorted(parse_as_of(d.isoformat()) for d in expected)
