"""Behind-plan and stale-feed rules, alert lifecycle and the Alertmanager payload."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shared.alerting import (
    AlertKey,
    AlertState,
    Severity,
    Thresholds,
    alert_labels,
    evaluate_no_report,
    evaluate_progress,
    evaluate_staleness,
    first_report_due,
    format_amount,
    mark_sent,
    needs_resend,
    progress_annotations,
    staleness_annotations,
    step,
    thresholds_for,
    to_alertmanager,
)
from shared.plans import Plan, curve_milestones
from shared.vntime import VN_TZ, parse_as_of

BN = Decimal(10**9)
DEFAULT = Thresholds()


def plan(
    target: Decimal = Decimal(1000),
    curve: str = "quarterly-even",
    *,
    basis: str = "provincial",
    year: int = 2024,
    indicator: str = "state_budget_revenue",
    name: str = "Bắc Giang",
    code: str = "24",
) -> Plan:
    return Plan(
        province_code=code,
        province_uid=code,
        province_name=name,
        indicator=indicator,
        year=year,
        target=target,
        base_unit="VND",
        basis=basis,  # type: ignore[arg-type]
        milestones=curve_milestones(curve, year),
        curve=curve,
    )


END_Q2 = parse_as_of("2024-06-30")  # quarterly-even expects exactly 50% here


@pytest.mark.parametrize(
    ("actual", "severity"),
    [
        (Decimal(600), None),  # ahead of plan
        (Decimal(500), None),  # exactly on plan
        (Decimal(450), None),  # ratio 0.90: not below the warning level
        (Decimal(449), "warning"),  # 0.898
        (Decimal(375), "warning"),  # 0.75: not below the critical level
        (Decimal(374), "critical"),  # 0.748
        (Decimal(0), "critical"),
        (Decimal(-10), "critical"),  # a negative revised YTD is judged too
    ],
)
def test_behind_plan_levels(actual: Decimal, severity: Severity | None) -> None:
    result = evaluate_progress(plan(), actual, END_Q2, DEFAULT, True, None)
    assert result.evaluated
    assert result.expected_fraction == Decimal("0.5")
    assert result.expected_value == Decimal(500)
    assert result.ratio == actual / Decimal(500)
    assert result.severity == severity
    assert result.reason == ("on track" if severity is None else "behind plan")


@pytest.mark.parametrize(
    ("at", "evaluated"),
    [
        (datetime(2024, 1, 1, tzinfo=VN_TZ), False),
        (datetime(2024, 1, 20, 23, 59, tzinfo=VN_TZ), False),  # 19 days and a bit
        (datetime(2024, 1, 21, tzinfo=VN_TZ), True),  # day 20 has passed
        (datetime(2024, 1, 20, 17, 0, tzinfo=UTC), True),  # = 21 January 00:00 in Vietnam
        (datetime(2023, 12, 31, tzinfo=VN_TZ), False),  # before the plan year
    ],
)
def test_not_judged_before_minimum_elapsed(at: datetime, evaluated: bool) -> None:
    result = evaluate_progress(plan(), Decimal(0), at, DEFAULT, True, "warning")
    assert result.evaluated is evaluated
    # Not evaluated changes nothing: the previous severity is carried through.
    assert result.severity == ("critical" if evaluated else "warning")
    if not evaluated:
        assert result.ratio is None
        assert "judged from day 20" in result.reason


def test_nothing_expected_yet_is_not_judged() -> None:
    milestones = ((parse_as_of("2024-06-30"), Decimal(0)), *curve_milestones("quarterly-even", 2024)[2:])
    late_start = replace(plan(), milestones=milestones, curve=None)
    result = evaluate_progress(late_start, Decimal(0), parse_as_of("2024-05-01"), DEFAULT, True, None)
    assert (result.evaluated, result.severity, result.reason) == (False, None, "no progress expected yet")


@pytest.mark.parametrize(
    ("ratios", "severities"),
    [
        # the brief's sequence: 0.88 fires warning, 0.92 holds it, 0.96 resolves
        (["0.88", "0.92", "0.96"], ["warning", "warning", None]),
        # 0.949 is still inside the margin; exactly 0.95 resolves
        (["0.88", "0.949", "0.95"], ["warning", "warning", None]),
        # without a previous alert 0.92 does not fire
        (["0.92", "0.89", "0.91"], [None, "warning", "warning"]),
        # critical holds until critical + margin (0.80), then de-escalates, then resolves at 0.95
        (["0.70", "0.78", "0.80", "0.93", "0.95"], ["critical", "critical", "warning", "warning", None]),
        # escalation is immediate, and a big recovery resolves straight from critical
        (["0.89", "0.74", "0.99"], ["warning", "critical", None]),
    ],
)
def test_hysteresis(ratios: list[str], severities: list[Severity | None]) -> None:
    previous: Severity | None = None
    seen = []
    for ratio in ratios:
        result = evaluate_progress(plan(), Decimal(500) * Decimal(ratio), END_Q2, DEFAULT, True, previous)
        previous = result.severity
        seen.append(previous)
    assert seen == severities


def test_hysteresis_reason_says_held() -> None:
    result = evaluate_progress(plan(), Decimal(460), END_Q2, DEFAULT, True, "warning")
    assert result.severity == "warning"
    assert result.reason == "recovering: warning held until the ratio recovers by 0.05"


@pytest.mark.parametrize(
    ("actual", "ratio", "severity"),
    [
        (Decimal(500), Decimal(1), None),  # on the ceiling curve
        (Decimal(400), Decimal("1.25"), None),  # under the ceiling: fine
        (Decimal(550), Decimal(500) / Decimal(550), None),  # 0.909: 10% over is tolerated
        (Decimal(560), Decimal(500) / Decimal(560), "warning"),  # 0.893
        (Decimal(700), Decimal(500) / Decimal(700), "critical"),  # 0.714
        (Decimal(0), None, None),  # nothing used: no ratio, nothing to report
    ],
)
def test_lower_is_better_inverts_the_ratio(actual: Decimal, ratio: Decimal | None, severity: str | None) -> None:
    result = evaluate_progress(plan(), actual, END_Q2, DEFAULT, False, None)
    assert (result.ratio, result.severity, result.evaluated) == (ratio, severity, True)


def test_two_plan_bases_give_different_severities() -> None:
    central = plan(12000 * BN, basis="central")
    provincial = plan(14356 * BN, basis="provincial")
    actual = 5300 * BN  # by 30 June, half of each target is expected
    assert evaluate_progress(central, actual, END_Q2, DEFAULT, True, None).severity == "warning"  # 0.883
    assert evaluate_progress(provincial, actual, END_Q2, DEFAULT, True, None).severity == "critical"  # 0.738
    assert central.key != provincial.key


def test_seed_bac_giang_budget_revenue_q1_2024_is_not_behind() -> None:
    # 4,680 bn VND = 32.6% of the 14,356 bn estimate at the end of Q1, against 25% expected.
    estimate = plan(14356 * BN, "quarterly-even")
    result = evaluate_progress(estimate, 4680 * BN, parse_as_of("2024-03-31"), DEFAULT, True, None)
    assert result.expected_fraction == Decimal("0.25")
    assert round(result.actual_fraction, 3) == Decimal("0.326")
    assert round(result.ratio or 0, 3) == Decimal("1.304")
    assert (result.evaluated, result.severity) == (True, None)
    # Also on the catalogue's default straight line (91 of 366 days = 24.9%).
    linear = evaluate_progress(plan(14356 * BN, "linear"), 4680 * BN, parse_as_of("2024-03-31"), DEFAULT, True, None)
    assert linear.severity is None


def test_seed_lang_son_disbursement_september_2024_is_critical() -> None:
    target = 4500 * BN
    disbursement = plan(
        target, "disbursement", basis="central", indicator="public_investment_disbursed", name="Lạng Sơn", code="20"
    )
    at = parse_as_of("2024-09-15")
    actual = target * Decimal("0.31")
    result = evaluate_progress(disbursement, actual, at, DEFAULT, True, None)
    # 35% on 30 June, 60% on 30 September: 77 of the quarter's 92 days gone.
    assert result.expected_fraction == Decimal("0.35") + Decimal("0.25") * Decimal(77) / Decimal(92)
    assert round(result.expected_fraction, 4) == Decimal("0.5592")
    assert round(result.ratio or 0, 3) == Decimal("0.554")
    assert result.severity == "critical"
    annotations = progress_annotations(
        disbursement, result, actual, at, indicator_name="Public investment capital disbursed"
    )
    assert annotations["summary"] == (
        "Lạng Sơn: public investment capital disbursed is 31% of the 2024 central plan on 15 September, "
        "25 points behind the expected 56% — critical"
    )
    assert annotations["actual"] == "1,395 bn VND"
    assert annotations["target"] == "4,500 bn VND"
    assert annotations["expected"] == "2,516.6 bn VND"
    assert annotations["ratio"] == "0.554"
    assert annotations["as_of"] == "2024-09-15T16:59:59.999999Z"
    assert "on the disbursement curve" in annotations["description"]


def test_lower_is_better_summary_reads_above() -> None:
    result = evaluate_progress(plan(), Decimal(700), END_Q2, DEFAULT, False, None)
    summary = progress_annotations(
        plan(), result, Decimal(700), END_Q2, indicator_name="Spending", higher_is_better=False
    )["summary"]
    assert summary == (
        "Bắc Giang: spending is 70% of the 2024 provincial plan on 30 June, 20 points above the expected 50% — critical"
    )


@pytest.mark.parametrize(
    ("age", "severity"),
    [
        (timedelta(days=0), None),
        (timedelta(days=35), None),  # exactly one cadence: still fresh
        (timedelta(days=35, seconds=1), "warning"),
        (timedelta(days=70), "warning"),
        (timedelta(days=70, seconds=1), "critical"),
        (timedelta(days=400), "critical"),
    ],
)
def test_stale_feed(age: timedelta, severity: Severity | None) -> None:
    now = datetime(2024, 9, 15, 12, tzinfo=VN_TZ)
    assert evaluate_staleness(now - age, now, 35) == severity


def test_feed_that_never_reported_is_not_stale() -> None:
    assert evaluate_staleness(None, datetime(2024, 9, 15, tzinfo=VN_TZ), 35) is None


def test_staleness_annotations() -> None:
    now = datetime(2024, 9, 15, 12, tzinfo=VN_TZ)
    annotations = staleness_annotations(
        "Lạng Sơn", "New jobs created", now - timedelta(days=41), now, cadence_days=35, severity="warning"
    )
    assert annotations["summary"] == (
        "Lạng Sơn: no new jobs created update for 41 days (last 5 August 2024; expected every 35 days) — warning"
    )
    assert annotations["last_update"] == "2024-08-05T05:00:00Z"


def test_thresholds() -> None:
    strict = Thresholds(warning=Decimal("0.95"), critical=Decimal("0.85"))
    assert thresholds_for("public_investment_disbursed", {"public_investment_disbursed": strict}) is strict
    assert thresholds_for("new_jobs", {"public_investment_disbursed": strict}) == Thresholds()
    assert thresholds_for("new_jobs", {}, strict) is strict
    assert Thresholds(warning=0.8, critical=0.6).warning == Decimal("0.8")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="critical < warning"):
        Thresholds(warning=Decimal("0.7"), critical=Decimal("0.8"))
    with pytest.raises(ValueError, match="must not be negative"):
        Thresholds(min_elapsed_days=-1)


KEY = AlertKey("TiendoBehindPlan", "20", "public_investment_disbursed", "central")
T0 = datetime(2024, 9, 15, 9, tzinfo=VN_TZ)
HOUR = timedelta(hours=1)


def test_alert_key_id() -> None:
    assert KEY.id == "TiendoBehindPlan|20|public_investment_disbursed|central"
    assert AlertKey("TiendoFeedStale", "20", "new_jobs").id == "TiendoFeedStale|20|new_jobs|"


def test_lifecycle_fire_repeat_resolve() -> None:
    interval = 4 * HOUR
    events = []
    state: AlertState | None = None
    severities: list[tuple[timedelta, Severity | None]] = [
        (0 * HOUR, None),
        (1 * HOUR, "critical"),
        (2 * HOUR, "critical"),  # same severity again: no re-fire
        (3 * HOUR, "critical"),
        (5 * HOUR, "critical"),  # 4 h since the page: re-send
        (6 * HOUR, "critical"),
        (7 * HOUR, None),
        (8 * HOUR, None),
    ]
    for offset, severity in severities:
        transition = step(state, severity, T0 + offset, {"summary": str(severity)}, key=KEY, repeat_interval=interval)
        state = transition.state
        if transition.sends:
            state = mark_sent(state, T0 + offset)
        events.append(transition.event)
    assert events == [
        "unchanged",
        "fired",
        "unchanged",
        "unchanged",
        "repeat",
        "unchanged",
        "resolved",
        "unchanged",
    ]
    assert state is not None
    assert (state.status, state.severity) == ("resolved", "critical")
    assert (state.starts_at, state.ends_at) == (T0 + HOUR, T0 + 7 * HOUR)
    assert not needs_resend(state, T0 + 9 * HOUR, interval)


def test_first_evaluation_without_alert_is_inactive() -> None:
    transition = step(None, None, T0, {}, key=KEY)
    assert (transition.event, transition.state.status, transition.sends) == ("unchanged", "inactive", False)
    assert not needs_resend(transition.state, T0 + 100 * HOUR, HOUR)
    with pytest.raises(TypeError, match="needs the alert key"):
        step(None, "warning", T0, {})
    with pytest.raises(ValueError, match="does not match"):
        step(transition.state, "warning", T0, {}, key=AlertKey("TiendoFeedStale", "x", "y"))


def test_escalation_and_deescalation_resolve_the_old_label_set() -> None:
    fired = step(None, "warning", T0, {}, key=KEY)
    state = mark_sent(fired.state, T0)
    up = step(state, "critical", T0 + HOUR, {"summary": "worse"})
    assert up.event == "escalated"
    assert (up.state.severity, up.state.starts_at, up.state.last_sent_at) == ("critical", T0, None)
    assert up.superseded is not None
    superseded = up.superseded
    assert (superseded.status, superseded.severity, superseded.ends_at) == ("resolved", "warning", T0 + HOUR)
    down = step(mark_sent(up.state, T0 + HOUR), "warning", T0 + 2 * HOUR, {})
    assert down.event == "deescalated"
    assert down.superseded is not None and down.superseded.severity == "critical"
    assert needs_resend(down.state, T0 + 2 * HOUR, 4 * HOUR)  # the new label set is not sent yet


def test_refire_after_resolve_starts_a_new_alert() -> None:
    state = step(None, "warning", T0, {}, key=KEY).state
    state = step(mark_sent(state, T0), None, T0 + HOUR, {}).state
    again = step(mark_sent(state, T0 + HOUR), "warning", T0 + 2 * HOUR, {})
    assert again.event == "fired"
    assert (again.state.starts_at, again.state.ends_at) == (T0 + 2 * HOUR, None)


@pytest.mark.parametrize(
    ("status", "last_sent", "due"),
    [
        ("firing", None, True),
        ("firing", T0, False),
        ("firing", T0 - 4 * HOUR, True),
        ("resolved", None, True),
        ("resolved", T0 - HOUR, True),  # sent while firing, the resolve not delivered yet
        ("resolved", T0, False),
        ("inactive", None, False),
    ],
)
def test_needs_resend(status: str, last_sent: datetime | None, due: bool) -> None:
    ends_at = T0 if status == "resolved" else None
    state = AlertState(KEY, status, "warning", T0 - 5 * HOUR, ends_at, last_sent)  # type: ignore[arg-type]
    assert needs_resend(state, T0, 4 * HOUR) is due


def test_alertmanager_payload() -> None:
    labels = alert_labels(KEY, "20", "Lạng Sơn")
    state = step(None, "critical", T0, {"summary": "behind"}, key=KEY, labels=labels).state
    body = to_alertmanager(state, generator_url="http://grafana/d/plan", now=T0, valid_for=4 * HOUR)
    assert body == {
        "labels": {
            "alertname": "TiendoBehindPlan",
            "province": "20",
            "province_name": "Lạng Sơn",
            "indicator": "public_investment_disbursed",
            "plan_basis": "central",
            "severity": "critical",
        },
        "annotations": {"summary": "behind", "since": "2024-09-15T02:00:00Z"},
        "startsAt": "2024-09-15T02:00:00Z",
        "endsAt": "2024-09-15T06:00:00Z",
        "generatorURL": "http://grafana/d/plan",
    }
    assert "endsAt" not in to_alertmanager(state)
    resolved = step(state, None, T0 + 2 * HOUR, {"summary": "back on track"}).state
    body = to_alertmanager(resolved, now=T0 + 2 * HOUR, valid_for=4 * HOUR)
    assert body["endsAt"] == "2024-09-15T04:00:00Z"
    assert body["labels"]["severity"] == "critical"  # the same label set as the firing alert
    assert body["annotations"]["summary"] == "back on track"
    stale_labels = alert_labels(AlertKey("TiendoFeedStale", "20", "new_jobs"), "20", "Lạng Sơn")
    assert "plan_basis" not in stale_labels
    with pytest.raises(ValueError, match="never fired"):
        to_alertmanager(AlertState(KEY))


def test_alert_state_round_trips_through_json() -> None:
    state = mark_sent(step(None, "warning", T0, {"summary": "s"}, key=KEY, labels={"province": "20"}).state, T0)
    state = step(state, None, T0 + HOUR, {"summary": "r"}).state
    assert AlertState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1395 * BN, "VND", "1,395 bn VND"),
        (Decimal("2516.5760869565") * BN, "VND", "2,516.6 bn VND"),
        (Decimal(5_000_000), "VND", "5,000,000 VND"),
        (Decimal("624260000"), "USD", "624.26 mn USD"),
        (Decimal("10310000000"), "USD", "10.31 bn USD"),
        (Decimal("12.5"), "ha", "12.5 ha"),
        (Decimal(8900), "count", "8,900"),
        (Decimal(1200), "households", "1,200 households"),
    ],
)
def test_format_amount(value: Decimal, unit: str, text: str) -> None:
    assert format_amount(value, unit) == text


def test_implausible_factor_setting() -> None:
    assert Thresholds().implausible_factor == Decimal(200)
    assert Thresholds(implausible_factor=50).implausible_factor == Decimal(50)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="implausible_factor"):
        Thresholds(implausible_factor=Decimal("1.2"))  # would call a critical ratio implausible


def test_implausible_ratio_is_not_judged_and_keeps_the_previous_severity() -> None:
    result = evaluate_progress(plan(Decimal("14.356")), Decimal(4680), END_Q2, DEFAULT, True, "warning")
    assert (result.implausible, result.evaluated, result.severity) == (True, False, "warning")
    assert result.ratio == Decimal(4680) / (Decimal("14.356") / 2)
    low = evaluate_progress(plan(Decimal(14356)), Decimal("4.68"), END_Q2, DEFAULT, True, None)
    assert (low.implausible, low.evaluated, low.severity) == (True, False, None)
    inverted = evaluate_progress(plan(Decimal(14356)), Decimal("4.68"), END_Q2, DEFAULT, False, None)
    assert inverted.implausible, "lower-is-better: the inverse ratio is checked the same way"
    assert result.at == END_Q2


def test_alert_key_and_labels_carry_the_plan_year() -> None:
    key = AlertKey("TiendoBehindPlan", "20", "public_investment_disbursed", "central", 2024)
    assert key.id == "TiendoBehindPlan|20|public_investment_disbursed|central|2024"
    assert alert_labels(key, "20", "Lạng Sơn")["plan_year"] == "2024"
    assert "plan_year" not in alert_labels(AlertKey("TiendoFeedStale", "20", "new_jobs"), "20", "Lạng Sơn")
    state = AlertState(key)
    assert AlertState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_summary_gives_the_year_of_a_reading_outside_the_plan_year() -> None:
    disbursement = plan(4500 * BN, "disbursement", basis="central", name="Lạng Sơn", code="20")
    at = parse_as_of("2025-01-20")
    result = evaluate_progress(disbursement, 4000 * BN, at, DEFAULT, True, None)
    summary = progress_annotations(disbursement, result, 4000 * BN, at, indicator_name="Disbursed")["summary"]
    assert "of the 2024 central plan on 20 January 2025," in summary


def test_no_report_rule() -> None:
    due = first_report_due(2024, 35)
    assert due == datetime(2024, 2, 5, tzinfo=VN_TZ)
    assert evaluate_no_report(2024, False, due, 35) is None
    assert evaluate_no_report(2024, False, due + timedelta(microseconds=1), 35) == "warning"
    assert evaluate_no_report(2024, True, due + timedelta(days=100), 35) is None


def test_format_amount_places() -> None:
    assert format_amount(Decimal("14.356") * BN, "VND", places=3) == "14.356 bn VND"
    assert format_amount(Decimal(4680) * BN, "VND", places=3) == "4,680 bn VND"
