"""What the alert worker evaluates (shared.evaluation): readings judged at their own date, no-report, implausible
figures, the 13-month plan year, plan years as separate alerts, staleness across years, retiring alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.alerting import (
    BEHIND_PLAN,
    FEED_STALE,
    IMPLAUSIBLE,
    NO_REPORT,
    AlertKey,
    AlertState,
    Thresholds,
    Transition,
    mark_sent,
)
from shared.evaluation import Evaluator, SeriesFigures, freshest, plan_alert_key, plan_series_key
from shared.plans import Plan, curve_milestones
from shared.vntime import VN_TZ, parse_as_of, quarter_of

BN = Decimal(10**9)
EVALUATOR = Evaluator()
UNITS = {"20": "Lạng Sơn", "24": "Bắc Giang", "31": "Hải Phòng"}


def make_plan(
    unit: str = "20",
    target: Decimal = 4500 * BN,
    *,
    indicator: str = "public_investment_disbursed",
    curve: str = "disbursement",
    year: int = 2024,
    basis: str = "central",
) -> Plan:
    return Plan(
        province_code=unit.split("@", maxsplit=1)[0],
        province_uid=unit,
        province_name=UNITS.get(unit, "Bắc Ninh"),
        indicator=indicator,
        year=year,
        target=target,
        base_unit="VND",
        basis=basis,  # type: ignore[arg-type]
        milestones=curve_milestones(curve, year),
        curve=curve,
    )


def day(text: str) -> datetime:
    """The end of a day in Vietnam, as an ``as_of`` date means it."""
    return parse_as_of(text)


def quarter_in(plan_year: int, at: datetime) -> int:
    """The quarter of a reading of plan year ``plan_year``: 1-4, or 5 for January of the next year."""
    year, quarter = quarter_of(at)
    return quarter if year == plan_year else 5


def total(plan: Plan, ytd: Decimal, as_of: datetime | None, quarter: int | None = None) -> dict[str, Any]:
    """An ``indicator.totals`` value (unit view) as the aggregate worker publishes it."""
    assert as_of is not None or quarter is not None
    return {
        "view": "unit",
        "unit": plan.province_uid,
        "province_code": plan.province_code,
        "indicator": plan.indicator,
        "year": plan.year,
        "quarter": quarter or quarter_in(plan.year, as_of),  # type: ignore[arg-type]
        "ytd": format(ytd, "f"),
        "last_as_of": None if as_of is None else as_of.isoformat(),
    }


def figures_at(plan: Plan, *readings: tuple[str, Decimal]) -> SeriesFigures:
    """The series' figures after readings (day, fraction of the target), one total each."""
    found: SeriesFigures | None = None
    for text, fraction in readings:
        found = SeriesFigures.from_total(total(plan, plan.target * fraction, day(text)), found)
    assert found is not None
    return found


def on_plan(plan: Plan, text: str, factor: Decimal = Decimal(1)) -> tuple[str, Decimal]:
    return text, plan.expected_fraction(day(text)) * factor


@dataclass
class Alerts:
    """Alert states as the worker keeps them, moved on by transitions (sent at once)."""

    states: dict[str, AlertState] = field(default_factory=dict)
    pages: list[tuple[str, str, str | None]] = field(default_factory=list)

    def get(self, key: AlertKey) -> AlertState | None:
        return self.states.get(key.id)

    def apply(self, transition: Transition | None) -> Transition | None:
        if transition is not None:
            state = transition.state
            if transition.sends:
                self.pages.append((state.key.id, transition.event, state.severity))
                state = mark_sent(state, state.updated_at or datetime.now(VN_TZ))
            self.states[state.key.id] = state
        return transition

    def judge(self, plan: Plan, figures: SeriesFigures | None, at: datetime, ev: Evaluator = EVALUATOR) -> None:
        for rule, judge in ((BEHIND_PLAN, ev.behind_plan), (IMPLAUSIBLE, ev.implausible), (NO_REPORT, ev.no_report)):
            self.apply(judge(plan, figures, self.get(plan_alert_key(rule, plan)), at))

    def firing(self) -> dict[str, str | None]:
        return {k: s.severity for k, s in self.states.items() if s.status == "firing"}


# --- the series' reading: YTD and its date always together ----------------------------------------------------


def test_figures_take_ytd_and_date_of_the_same_quarter() -> None:
    plan = make_plan()
    fig = SeriesFigures.from_total(total(plan, 1395 * BN, day("2024-09-15")), None)
    fig = SeriesFigures.from_total(total(plan, 700 * BN, day("2024-06-30")), fig)  # a late Q2 republish
    assert (fig.ytd, fig.last_as_of) == (1395 * BN, day("2024-09-15"))
    # A correction removes the 15 September report: Q3's last reading is now 20 August, with its own YTD.
    fig = SeriesFigures.from_total(total(plan, 1100 * BN, day("2024-08-20")), fig)
    assert (fig.ytd, fig.last_as_of, fig.reading_quarter) == (1100 * BN, day("2024-08-20"), 3)
    # A quarter without events of its own (carried YTD, no date) does not move the reading.
    fig = SeriesFigures.from_total(total(plan, 1100 * BN, None, quarter=4), fig)
    assert (fig.ytd, fig.last_as_of, fig.reading_quarter) == (1100 * BN, day("2024-08-20"), 3)
    # Quarter 5 ("Q4+"): January of the next year, of the same plan year.
    fig = SeriesFigures.from_total(total(plan, 4500 * BN, day("2025-01-31")), fig)
    assert (fig.ytd, fig.last_as_of, fig.reading_quarter, fig.year) == (4500 * BN, day("2025-01-31"), 5, 2024)
    assert SeriesFigures.from_dict(fig.to_dict()) == fig
    assert fig.key == plan_series_key(plan) == "unit/20|public_investment_disbursed|2024"


def test_figures_refuse_unusable_totals() -> None:
    plan = make_plan()
    fig = SeriesFigures.from_total(total(plan, BN, day("2024-03-31")), None)
    with pytest.raises(ValueError, match="quarter 6 is not 1-5"):
        SeriesFigures.from_total({**total(plan, BN, day("2024-03-31")), "quarter": 6}, fig)
    with pytest.raises(ValueError, match="not of series"):
        SeriesFigures.from_total({**total(plan, BN, day("2024-03-31")), "year": 2025}, fig)
    before = fig.to_dict()
    with pytest.raises(ValueError, match="unusable"):
        SeriesFigures.from_total({**total(plan, BN, day("2024-06-30")), "ytd": "NaN"}, fig)
    assert fig.to_dict() == before, "a refused total changes nothing"


def test_figures_stored_before_per_quarter_dates_still_read() -> None:
    legacy = {
        "view": "unit",
        "unit": "20",
        "province_code": "20",
        "indicator": "public_investment_disbursed",
        "year": 2024,
        "ytd": {"1": "100", "3": "300"},
        "last_as_of": day("2024-09-15").isoformat(),
    }
    fig = SeriesFigures.from_dict(legacy)
    assert (fig.ytd, fig.last_as_of, fig.as_of_by_quarter) == (Decimal(300), day("2024-09-15"), {3: day("2024-09-15")})


# --- behind plan: judged at the reading's date ------------------------------------------------------------------


def test_monthly_province_on_plan_at_every_report_is_not_paged_between_reports() -> None:
    plan = make_plan()
    fig = figures_at(plan, on_plan(plan, "2024-08-31"))
    alerts = Alerts()
    # Until its next report, 30 days later, the expected figure rises from 51.7% to 60%: the reading does not.
    for offset in range(0, 31):
        alerts.judge(plan, fig, day("2024-08-31") + timedelta(days=offset))
    assert alerts.pages == []
    result = EVALUATOR.progress(plan, fig)
    assert result is not None and result.ratio == 1 and result.at == day("2024-08-31")


def test_annotations_name_the_reading_date_and_the_evaluation_time() -> None:
    plan = make_plan()
    fig = figures_at(plan, ("2024-12-31", Decimal("0.71")))
    at = datetime(2025, 1, 10, 9, tzinfo=VN_TZ)
    transition = EVALUATOR.behind_plan(plan, fig, None, at)
    assert transition is not None and transition.event == "fired"
    notes = transition.state.annotations
    assert notes["summary"] == (
        "Lạng Sơn: public investment capital disbursed is 71% of the 2024 central plan on 31 December, "
        "24 points behind the expected 95% — critical"
    )
    assert notes["as_of"] == "2024-12-31T16:59:59.999999Z"
    assert notes["evaluated_at"] == "2025-01-10T02:00:00Z"
    assert "reported as of 31 December 2024" in notes["description"]
    assert transition.state.starts_at == at
    assert transition.state.labels["plan_year"] == "2024"


def test_min_elapsed_days_apply_to_the_reading_date() -> None:
    plan = make_plan(indicator="state_budget_revenue", curve="linear")
    early = figures_at(plan, ("2024-01-15", Decimal(0)))  # nothing collected by 15 January: not judged
    assert EVALUATOR.behind_plan(plan, early, None, day("2024-03-01")) is None
    late = figures_at(plan, ("2024-01-25", Decimal(0)))
    transition = EVALUATOR.behind_plan(plan, late, None, day("2024-01-25"))
    assert transition is not None and transition.state.severity == "critical"


def test_event_clock_three_provinces_reporting_on_the_same_days() -> None:
    """The replay that paged a province at 105% of plan: its report judged at another province's later date."""
    plans = {unit: make_plan(unit) for unit in UNITS}
    factors = {"20": Decimal("1.05"), "24": Decimal("0.8"), "31": Decimal("0.6")}
    figures: dict[str, SeriesFigures] = {}
    alerts = Alerts()
    clock: datetime | None = None
    for month in range(1, 13):
        report = (date(2024, month, 1) + timedelta(days=31)).replace(day=1) - timedelta(days=1)
        as_of = day(report.isoformat())
        for unit in ("24", "31", "20"):  # the on-plan province reports last each day
            plan = plans[unit]
            fraction = plan.expected_fraction(as_of) * factors[unit]
            figures[unit] = SeriesFigures.from_total(total(plan, plan.target * fraction, as_of), figures.get(unit))
            clock = as_of if clock is None else max(clock, as_of)
            for other, other_plan in plans.items():  # the timer: every plan at the event clock
                alerts.judge(other_plan, figures.get(other), clock)
    assert not [p for p in alerts.pages if "|20|" in p[0]], alerts.pages
    firing = alerts.firing()
    assert firing[plan_alert_key(BEHIND_PLAN, plans["24"]).id] == "warning"
    assert firing[plan_alert_key(BEHIND_PLAN, plans["31"]).id] == "critical"


CADENCES = ("weekly", "monthly", "quarterly", "irregular")
CURVE_OF = {
    "public_investment_disbursed": "disbursement",
    "state_budget_revenue": "quarterly-even",
    "new_jobs": "linear",
}


def report_days(cadence: str, extra: list[int], last: date) -> list[date]:
    start = date(2024, 1, 1)
    if cadence == "weekly":
        days = [start + timedelta(days=d) for d in range(4, (last - start).days + 1, 7)]
    elif cadence == "monthly":
        days = [date(2024 + m // 12, m % 12 + 1, 1) - timedelta(days=1) for m in range(1, 14)]
    elif cadence == "quarterly":
        days = [date(2024, 3, 31), date(2024, 6, 30), date(2024, 9, 30), date(2024, 12, 31), date(2025, 1, 31)]
    else:
        days = sorted({start + timedelta(days=d) for d in extra})
    return [d for d in days if d <= last]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    units = draw(st.lists(st.sampled_from(sorted(UNITS)), min_size=1, max_size=3, unique=True))
    provinces = []
    for unit in units:
        indicator = draw(st.sampled_from(sorted(CURVE_OF)))
        plan = make_plan(
            unit, Decimal(draw(st.integers(1, 20_000))) * BN, indicator=indicator, curve=CURVE_OF[indicator]
        )
        last = plan.milestones[-1][0].astimezone(VN_TZ).date()
        cadence = draw(st.sampled_from(CADENCES))
        extra = draw(st.lists(st.integers(0, (last - date(2024, 1, 1)).days), min_size=1, max_size=30))
        readings = []
        for reported in report_days(cadence, extra, last):
            ahead = Decimal(draw(st.integers(100, 300))) / 100  # 1.00-3.00 of the plan at its date
            delay = timedelta(hours=draw(st.integers(0, 24 * 12)))  # published up to 12 days later
            readings.append((day(reported.isoformat()), ahead, delay))
        provinces.append((plan, readings))
    evaluations = draw(st.lists(st.integers(0, 420 * 24), max_size=40))
    return {"provinces": provinces, "evaluations": evaluations, "clock": draw(st.sampled_from(["wall", "event"]))}


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_readings_on_or_above_plan_at_their_dates_never_page_behind_plan(scenario: dict[str, Any]) -> None:
    """Any cadence, interleaving of provinces, publication delays and evaluation times, wall or event clock."""
    # Arrivals (publication time, plan, reading date, value) and timer evaluations, in time order.
    timeline: list[tuple[datetime, int, Any]] = []
    for plan, readings in scenario["provinces"]:
        for as_of, ahead, delay in readings:
            timeline.append((as_of + delay, 0, (plan, as_of, plan.target * plan.expected_fraction(as_of) * ahead)))
    start = datetime(2024, 1, 1, tzinfo=VN_TZ)
    timeline += [(start + timedelta(hours=h), 1, None) for h in scenario["evaluations"]]
    timeline.sort(key=lambda item: (item[0], item[1]))
    figures: dict[str, SeriesFigures] = {}
    latest: dict[tuple[str, int], tuple[datetime, Decimal]] = {}  # the aggregate: each quarter's latest reading
    alerts = Alerts()
    clock: datetime | None = None
    plans = [plan for plan, _ in scenario["provinces"]]
    for wall, kind, arrival in timeline:
        changed = None
        if kind == 0:
            plan, as_of, value = arrival
            quarter = quarter_in(plan.year, as_of)
            seen = latest.get((plan.key, quarter))
            if seen is None or as_of >= seen[0]:
                latest[(plan.key, quarter)] = (as_of, value)
            quarter_as_of, quarter_ytd = latest[(plan.key, quarter)]
            key = plan_series_key(plan)
            figures[key] = SeriesFigures.from_total(total(plan, quarter_ytd, quarter_as_of, quarter), figures.get(key))
            clock = as_of if clock is None else max(clock, as_of)
            changed = plan
        at = wall if scenario["clock"] == "wall" else clock
        if at is None:
            continue
        for plan in plans if changed is None else [changed]:
            alerts.judge(plan, figures.get(plan_series_key(plan)), at)
    behind = [page for page in alerts.pages if page[0].startswith((BEHIND_PLAN, IMPLAUSIBLE))]
    assert behind == []


# --- no report yet ----------------------------------------------------------------------------------------------


def test_no_report_fires_once_the_first_report_is_overdue_and_resolves_with_the_first_figure() -> None:
    plan = make_plan("24", 14356 * BN, indicator="state_budget_revenue", curve="quarterly-even", basis="provincial")
    central = make_plan("24", 11600 * BN, indicator="state_budget_revenue", curve="quarterly-even")
    # 1 January + 35 days is 5 February; 1 January was a holiday, so the first report may take one working day
    # more: overdue from 6 February (Tết 2024 starts on the 8th).
    due = datetime(2024, 2, 5, 23, 59, 59, tzinfo=VN_TZ)
    alerts = Alerts()
    alerts.judge(plan, None, due)
    assert alerts.pages == []
    for p in (plan, central):  # two bases of one series: one alert
        alerts.judge(p, None, due + timedelta(seconds=1))
        alerts.judge(p, None, due + timedelta(days=3))
    key = plan_alert_key(NO_REPORT, plan)
    assert key == AlertKey(NO_REPORT, "24", "state_budget_revenue", "", 2024)
    assert alerts.pages == [(key.id, "fired", "warning")]
    state = alerts.states[key.id]
    assert state.labels == {
        "province": "24",
        "province_name": "Bắc Giang",
        "indicator": "state_budget_revenue",
        "plan_year": "2024",
    }
    assert (
        "no state budget revenue figure for 2024 yet (first report due by 5 February 2024)"
        in (state.annotations["summary"])
    )
    fig = figures_at(plan, ("2024-02-10", Decimal("0.1")))
    alerts.judge(plan, fig, day("2024-02-10"))
    assert alerts.pages[-1] == (key.id, "resolved", "warning")
    assert alerts.states[key.id].annotations["resolution"] == "the first figure arrived"


def test_no_report_not_before_the_year_nor_after_the_plan_period() -> None:
    plan = make_plan()
    for at in (
        datetime(2023, 12, 1, tzinfo=VN_TZ),
        datetime(2025, 3, 8, tzinfo=VN_TZ),
        datetime(2026, 6, 1, tzinfo=VN_TZ),
    ):
        assert EVALUATOR.no_report(plan, None, None, at) is None
    fired = EVALUATOR.no_report(plan, None, None, datetime(2024, 6, 1, tzinfo=VN_TZ))
    assert fired is not None and fired.event == "fired"
    closed = EVALUATOR.no_report(plan, None, mark_sent(fired.state, fired.state.starts_at), day("2025-03-08"))
    assert closed is not None and closed.event == "resolved"


def test_a_next_year_reading_is_not_a_report_for_this_year() -> None:
    plan_2025 = make_plan("24@2025-07-01", year=2025)
    jan_2024_capital = make_plan("24@2025-07-01", year=2024)
    fig = figures_at(jan_2024_capital, ("2025-01-20", Decimal("0.97")))
    assert fig.year == 2024 and fig.reading_quarter == 5
    assert plan_series_key(plan_2025) != fig.key
    # Tết 2025 (27 January - 1 February) and 1 January took six working days: not overdue before 12 February.
    assert EVALUATOR.no_report(plan_2025, None, None, day("2025-02-11")) is None
    transition = EVALUATOR.no_report(plan_2025, None, None, day("2025-02-13"))
    assert transition is not None and transition.state.severity == "warning"


# --- implausible comparisons ------------------------------------------------------------------------------------


def test_target_misread_1000x_is_implausible_not_ahead() -> None:
    misread = make_plan("24", Decimal("14.356") * BN, indicator="state_budget_revenue", curve="quarterly-even")
    fig = figures_at(misread, ("2024-03-31", 4680 * BN / misread.target))
    at = day("2024-04-02")
    assert EVALUATOR.behind_plan(misread, fig, None, at) is None
    transition = EVALUATOR.implausible(misread, fig, None, at)
    assert transition is not None and (transition.event, transition.state.severity) == ("fired", "warning")
    notes = transition.state.annotations
    description = notes["description"]
    for text in ("4,680 bn VND", "14.356 bn VND", "31 March 2024", "1,304x", "factor 200", "unit and notation"):
        assert text in description, text
    assert "plan row" in description and "feed event" in description
    assert notes["ratio"] == "1304"
    assert transition.state.key == AlertKey(IMPLAUSIBLE, "24", "state_budget_revenue", "central", 2024)
    # The plan fixed (same key, 14,356 bn): comparable again, the implausible alert resolves.
    fixed = make_plan("24", 14356 * BN, indicator="state_budget_revenue", curve="quarterly-even")
    fig = figures_at(fixed, ("2024-03-31", 4680 * BN / fixed.target))
    resolved = EVALUATOR.implausible(fixed, fig, mark_sent(transition.state, at), day("2024-04-03"))
    assert resolved is not None and resolved.event == "resolved"
    assert "comparable again (ratio 1.304" in resolved.state.annotations["summary"]


def test_reading_misread_1000x_does_not_page_behind_and_does_not_move_a_firing_alert() -> None:
    plan = make_plan("24", 14356 * BN, indicator="state_budget_revenue", curve="quarterly-even")
    alerts = Alerts()
    alerts.judge(plan, figures_at(plan, ("2024-03-31", Decimal("0.15"))), day("2024-03-31"))  # 0.6: critical
    behind = plan_alert_key(BEHIND_PLAN, plan).id
    assert alerts.pages == [(behind, "fired", "critical")]
    misread = figures_at(plan, ("2024-03-31", Decimal("0.15")), ("2024-06-30", Decimal("4.68") * BN / plan.target))
    alerts.judge(plan, misread, day("2024-06-30"))
    alerts.judge(plan, misread, day("2024-07-15"))
    implausible = plan_alert_key(IMPLAUSIBLE, plan).id
    assert alerts.pages[1:] == [(implausible, "fired", "warning")]
    assert alerts.states[behind].annotations["as_of"] == "2024-03-31T16:59:59.999999Z", "not moved"
    # The correction (4,680 bn, on plan at 30 June): both resolve.
    corrected = figures_at(plan, ("2024-06-30", Decimal("0.6")))
    alerts.judge(plan, corrected, day("2024-07-16"))
    assert sorted(alerts.pages[2:]) == [(behind, "resolved", "critical"), (implausible, "resolved", "warning")]


@pytest.mark.parametrize(
    ("fraction", "implausible"),
    [
        (Decimal("0.25") / 199, False),
        (Decimal("0.25") / 201, True),
        (Decimal(0), False),  # nothing reported: behind, not misread
        (Decimal("0.25") * 199, False),
        (Decimal("0.25") * 201, True),
    ],
)
def test_implausibility_factor(fraction: Decimal, implausible: bool) -> None:
    plan = make_plan("24", 1000 * BN, indicator="state_budget_revenue", curve="quarterly-even")
    result = EVALUATOR.progress(plan, figures_at(plan, ("2024-03-31", fraction)))
    assert result is not None and result.implausible is implausible
    assert result.evaluated is not implausible
    tolerant = Evaluator(Thresholds(implausible_factor=Decimal(1000)))
    result = tolerant.progress(plan, figures_at(plan, ("2024-03-31", fraction)))
    assert result is not None and not result.implausible


# --- the 13-month plan year (quarter 5) -------------------------------------------------------------------------


def test_january_readings_judge_the_previous_plan_year_through_its_last_milestone() -> None:
    plan = make_plan()
    alerts = Alerts()
    # 86% by 31 December: ratio 0.905 against 95%, not behind. Judged at its date all January, never at 100%.
    dec = figures_at(plan, ("2024-12-31", Decimal("0.86")))
    for offset in range(0, 40, 3):
        alerts.judge(plan, dec, day("2024-12-31") + timedelta(days=offset))
    assert alerts.pages == []
    # The January report says the rest was disbursed: a quarter 5 figure, judged against 100% on 31 January.
    jan = SeriesFigures.from_total(total(plan, plan.target, day("2025-01-31")), dec)
    assert (jan.reading_quarter, jan.ytd) == (5, plan.target)
    alerts.judge(plan, jan, day("2025-02-10"))
    assert alerts.pages == []
    result = EVALUATOR.progress(plan, jan)
    assert result is not None and (result.expected_fraction, result.ratio) == (Decimal(1), Decimal(1))
    # The 2025 plan, judged on its own series, is untouched by the 2024 capital's January figure.
    next_year = make_plan(year=2025)
    assert EVALUATOR.behind_plan(next_year, None, None, day("2025-01-31")) is None
    assert plan_alert_key(BEHIND_PLAN, next_year) != plan_alert_key(BEHIND_PLAN, plan)


def test_a_shortfall_in_january_is_still_judged_against_the_plan_year() -> None:
    plan = make_plan()
    jan = figures_at(plan, ("2024-12-31", Decimal("0.9")), ("2025-01-20", Decimal("0.8")))  # revised down
    transition = EVALUATOR.behind_plan(plan, jan, None, day("2025-01-21"))
    assert transition is not None and transition.state.severity == "warning"
    assert "on 20 January 2025" in transition.state.annotations["summary"]


def test_plan_years_are_separate_alerts_in_january() -> None:
    alerts = Alerts()
    old, new = make_plan(), make_plan(year=2025)
    old_fig = figures_at(old, ("2024-12-31", Decimal("0.5")))
    new_fig = figures_at(new, ("2025-01-25", Decimal("0.05")))
    for offset in range(0, 10):
        at = day("2025-01-25") + timedelta(days=offset)
        alerts.judge(old, old_fig, at)
        alerts.judge(new, new_fig, at)
    assert alerts.pages == [(plan_alert_key(BEHIND_PLAN, old).id, "fired", "critical")]


# --- the end of the plan period, removed plans, legacy alerts ---------------------------------------------------


def test_a_firing_alert_resolves_when_the_plan_period_ends() -> None:
    plan = make_plan(indicator="state_budget_revenue", curve="quarterly-even")
    fig = figures_at(plan, ("2024-12-31", Decimal("0.5")))
    alerts = Alerts()
    alerts.judge(plan, fig, day("2025-01-05"))
    key = plan_alert_key(BEHIND_PLAN, plan).id
    assert alerts.firing() == {key: "critical"}
    assert EVALUATOR.closes_at(plan) == day("2024-12-31") + timedelta(days=35)
    alerts.judge(plan, fig, EVALUATOR.closes_at(plan))
    assert alerts.firing() == {key: "critical"}
    alerts.judge(plan, fig, EVALUATOR.closes_at(plan) + timedelta(seconds=1))
    assert alerts.firing() == {}
    state = alerts.states[key]
    assert state.annotations["resolution"].startswith("the 2024 plan's alerting period ended on 2025-02-04")
    assert state.annotations["summary"].endswith("— critical"), "the last judgement is kept"
    alerts.judge(plan, fig, day("2025-06-01"))
    assert [p[1] for p in alerts.pages] == ["fired", "resolved"]


def test_retire_resolves_only_firing_alerts() -> None:
    plan = make_plan()
    fired = EVALUATOR.behind_plan(plan, figures_at(plan, ("2024-09-15", Decimal("0.31"))), None, day("2024-09-15"))
    assert fired is not None
    retired = EVALUATOR.retire(mark_sent(fired.state, day("2024-09-15")), day("2024-09-16"), "the plan was removed")
    assert retired is not None and retired.event == "resolved" and retired.state.last_sent_at is None
    assert retired.state.annotations["resolution"] == "the plan was removed"
    assert EVALUATOR.retire(retired.state, day("2024-09-17"), "again") is None
    assert EVALUATOR.retire(None, day("2024-09-17"), "none") is None


def test_legacy_alert_ids_without_a_year_still_parse() -> None:
    data = AlertState(AlertKey(BEHIND_PLAN, "20", "public_investment_disbursed", "central")).to_dict()
    del data["key"]["year"]
    state = AlertState.from_dict(data)
    assert state.key.year == 0 and state.key.id == "TiendoBehindPlan|20|public_investment_disbursed|central"


# --- staleness across plan years --------------------------------------------------------------------------------


def test_staleness_follows_the_freshest_series_across_years() -> None:
    plan_2024 = make_plan("20", indicator="state_budget_revenue", curve="linear")
    plan_2023 = make_plan("20", indicator="state_budget_revenue", curve="linear", year=2023)
    old = figures_at(plan_2023, ("2023-12-31", Decimal(1)))
    dec = figures_at(plan_2024, ("2024-12-20", Decimal("0.97")))
    [fresh] = freshest([old, dec])
    assert fresh is dec
    alerts = Alerts()
    key = AlertKey(FEED_STALE, "20", "state_budget_revenue")
    # Critical after 70 days: in working days, with Tết 2025 (27 January - 1 February) not counted, 12 March.
    for at in (day("2025-01-20"), day("2025-01-25"), day("2025-03-01"), day("2025-03-12")):
        alerts.apply(EVALUATOR.staleness(fresh, alerts.get(key), at))
    assert [(p[1], p[2]) for p in alerts.pages] == [("fired", "warning"), ("escalated", "critical")]
    # The first 2025 figure is the freshest now: resolved.
    new = figures_at(
        make_plan("20", indicator="state_budget_revenue", curve="linear", year=2025), ("2025-03-02", Decimal("0.1"))
    )
    [fresh] = freshest([old, dec, new])
    alerts.apply(EVALUATOR.staleness(fresh, alerts.get(key), day("2025-03-02")))
    assert alerts.pages[-1][1] == "resolved"


def test_a_unit_merged_away_is_not_stale_after_its_last_day() -> None:
    """Old Bắc Giang (24) ended on 30 June 2025; its successor's feed is followed under 24@2025-07-01."""
    bac_giang = make_plan("24", indicator="state_budget_revenue", curve="linear", year=2025)
    june = figures_at(bac_giang, ("2025-06-20", Decimal("0.5")))
    quiet = EVALUATOR.staleness(june, None, day("2025-07-30"))  # 40 days: would be a warning
    assert quiet is not None and quiet.state.status == "inactive"
    may = figures_at(bac_giang, ("2025-05-01", Decimal("0.3")))
    fired = EVALUATOR.staleness(may, None, day("2025-06-10"))
    assert fired is not None and fired.event == "fired"
    ended = EVALUATOR.staleness(may, mark_sent(fired.state, day("2025-06-10")), day("2025-07-01"))
    assert ended is not None and ended.event == "resolved"
