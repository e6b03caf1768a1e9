"""What-if (shared.whatif): changed plans against the current figures and alerts, nothing published."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from decimal import Decimal

from shared.alerting import BEHIND_PLAN, IMPLAUSIBLE, NO_REPORT
from shared.evaluation import Evaluator, SeriesFigures, plan_series_key
from shared.plans import Plan, curve_milestones
from shared.provinces import registry
from shared.vntime import VN_TZ
from shared.whatif import what_if

BN = Decimal(10**9)
AT = datetime.combine(date(2024, 9, 5), time.max, VN_TZ)
READING = datetime.combine(date(2024, 8, 31), time.max, VN_TZ)


def plan(code: str, target_bn: int) -> Plan:
    unit = registry().get(code, on=date(2024, 12, 31))
    return Plan(
        unit.code,
        unit.uid,
        unit.name,
        "public_investment_disbursed",
        2024,
        Decimal(target_bn) * BN,
        "VND",
        "central",
        curve_milestones("disbursement", 2024),
        "disbursement",
    )


def figures(p: Plan, ytd_bn: int) -> SeriesFigures:
    return SeriesFigures(
        "unit", p.province_uid, p.province_code, p.indicator, 2024, {3: Decimal(ytd_bn) * BN}, READING, {3: READING}
    )


def current_alerts(plans: list[Plan], series: dict[str, SeriesFigures]) -> dict:
    """The alerts the worker has for the plans in force now (the rules run once)."""
    evaluator, out = Evaluator(), {}
    for p in plans:
        t = evaluator.behind_plan(p, series.get(plan_series_key(p)), None, AT)
        if t is not None and t.state.status == "firing":
            out[t.state.key.id] = t.state
    return out


def test_lower_target_resolves_higher_fires_same_stays() -> None:
    lang_son, bac_giang, hai_phong = plan("20", 4500), plan("24", 6000), plan("31", 20000)
    # 31 August on the disbursement curve: 35 % + 25 % × 62/92 ≈ 51.8 % expected
    series = {
        plan_series_key(lang_son): figures(lang_son, 1400),  # 0.60: critical
        plan_series_key(bac_giang): figures(bac_giang, 3300),  # 1.06: on plan
        plan_series_key(hai_phong): figures(hai_phong, 8000),  # 0.77: warning
    }
    alerts = current_alerts([lang_son, bac_giang, hai_phong], series)
    assert {a.severity for a in alerts.values()} == {"critical", "warning"}
    changed = [replace(lang_son, target=2500 * BN), replace(bac_giang, target=8000 * BN), hai_phong]
    outcomes = {(o.plan.province_code, o.rule): o for o in what_if(changed, series, alerts, AT)}
    assert len(outcomes) == 9  # three rules per plan
    ls, bg, hp = (outcomes[(code, BEHIND_PLAN)] for code in ("20", "24", "31"))
    assert (ls.before, ls.after, ls.verdict) == ("critical", None, "resolves")
    assert (bg.before, bg.after, bg.verdict) == (None, "warning", "fires")  # 3,300 of 8,000 is 0.80 of 51.8 %
    assert bg.summary.startswith("Bắc Giang: ")
    assert (hp.before, hp.after, hp.verdict) == ("warning", "warning", "stays firing")
    assert not hp.changes and ls.changes and bg.changes
    assert all(outcomes[(code, rule)].verdict == "quiet" for code in ("20", "24", "31") for rule in (IMPLAUSIBLE,))


def test_a_plan_without_figures_would_raise_no_report() -> None:
    new = plan("20", 4500)
    outcomes = {o.rule: o for o in what_if([new], {}, {}, AT)}
    assert outcomes[NO_REPORT].verdict == "fires" and outcomes[NO_REPORT].after == "warning"
    assert outcomes[BEHIND_PLAN].verdict == "quiet"


def test_escalation_with_a_target_raised_further() -> None:
    hai_phong = plan("31", 20000)
    series = {plan_series_key(hai_phong): figures(hai_phong, 8000)}
    alerts = current_alerts([hai_phong], series)
    [outcome] = [
        o for o in what_if([replace(hai_phong, target=30000 * BN)], series, alerts, AT) if o.rule == BEHIND_PLAN
    ]
    assert (outcome.before, outcome.after, outcome.verdict) == ("warning", "critical", "escalates")


def test_a_day_before_the_latest_report_is_judged_on_the_reports_dated_by_then() -> None:
    """Hải Dương behind on 30 June (1,000 of 35 %), on plan on 31 August: judged at 15 July on its June figure, not
    on the August one that did not exist then."""
    hai_duong = plan("30", 6800)
    june = datetime.combine(date(2024, 6, 30), time.max, VN_TZ)
    series = SeriesFigures(
        "unit", hai_duong.province_uid, "30", hai_duong.indicator, 2024,
        {2: 1000 * BN, 3: 3600 * BN}, READING, {2: june, 3: READING},
    )  # fmt: skip
    july = datetime.combine(date(2024, 7, 15), time.max, VN_TZ)
    [then] = [o for o in what_if([hai_duong], {plan_series_key(hai_duong): series}, {}, july) if o.rule == BEHIND_PLAN]
    assert (then.after, then.verdict) == ("critical", "fires") and "on 30 June" in then.summary
    [now] = [o for o in what_if([hai_duong], {plan_series_key(hai_duong): series}, {}, AT) if o.rule == BEHIND_PLAN]
    assert (now.after, now.verdict) == (None, "quiet")
    early = datetime.combine(date(2024, 6, 1), time.max, VN_TZ)
    [silent] = [o for o in what_if([hai_duong], {plan_series_key(hai_duong): series}, {}, early) if o.rule == NO_REPORT]
    assert silent.verdict == "fires"  # no figure dated by 1 June, the first due by 5 February
