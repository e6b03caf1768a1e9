"""The alert worker's digest (services/alert/digest.py): its plans, national view and alerts into the digest's
sources, drawn as HTML and Markdown."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from services.alert.digest import digest_sources, render
from shared.digest import parse_week
from shared.evaluation import Evaluator
from shared.national import NationalView
from shared.plans import Plan, curve_milestones
from shared.provinces import registry
from shared.vntime import parse_as_of

BN = Decimal(10**9)
INDICATOR = "public_investment_disbursed"


def plan(code: str, target_bn: int) -> Plan:
    unit = registry().get(code, on=date(2024, 12, 31))
    milestones = curve_milestones("disbursement", 2024)
    return Plan(
        unit.code, unit.uid, unit.name, INDICATOR, 2024, target_bn * BN, "VND", "central", milestones, "disbursement"
    )


def test_sources_from_the_workers_view_and_the_page() -> None:
    plans = [plan("20", 4500), plan("24", 6000)]
    view = NationalView()
    for p, pace in zip(plans, (Decimal("0.7"), Decimal("1.1")), strict=True):
        for day in ("2024-05-31", "2024-06-30", "2024-07-31", "2024-08-31"):
            at = parse_as_of(day)
            ytd = p.target * p.expected_fraction(at) * pace
            total = {
                "view": "unit",
                "unit": p.province_uid,
                "province_code": p.province_code,
                "current_code": p.province_code,
                "indicator": INDICATOR,
                "year": 2024,
                "quarter": (at.month - 1) // 3 + 1,
                "ytd": str(ytd),
                "last_as_of": at.isoformat(),
            }
            view.apply(total, at.date() + timedelta(days=2))
    week = parse_week("2024-W36")
    sources = digest_sources(plans, view, Evaluator(), week, Decimal("0.10"))
    [ranking] = sources["rankings"]
    assert [r["province_code"] for r in ranking["rows"]] == ["24", "20"]
    assert {f["province_code"]: f["shortfall"] for f in sources["forecasts"]} == {"20": True, "24": False}
    assert sources["curves"][("20", INDICATOR, 2024, "central")] == plans[0].milestones
    assert {r["province_code"] for r in sources["timeliness"]} == {"20", "24"}
    page = render(sources, "html")
    assert "Figures known by the end of 5 September 2024" in page
    assert "behind plan (critical)" in page and "Lạng Sơn: on current pace" in page
    markdown = render(sources, "md")
    assert markdown.startswith("# tiendo weekly digest 2024-W36")


def test_a_past_week_lists_the_alerts_of_its_day_not_of_today() -> None:
    """Lạng Sơn behind in June (0.7 of the curve), back on plan by 31 August: the digest of a July week pages it
    on its 30 June reading; that of a September week does not, whatever fires today."""
    lang_son = plan("20", 4500)
    view = NationalView()
    for day, pace in (("2024-05-31", "0.7"), ("2024-06-30", "0.7"), ("2024-07-31", "0.9"), ("2024-08-31", "1.0")):
        at = parse_as_of(day)
        total = {
            "view": "unit", "unit": lang_son.province_uid, "province_code": "20", "current_code": "20",
            "indicator": INDICATOR, "year": 2024, "quarter": (at.month - 1) // 3 + 1,
            "ytd": str(lang_son.target * lang_son.expected_fraction(at) * Decimal(pace)), "last_as_of": at.isoformat(),
        }  # fmt: skip
        view.apply(total, at.date())
    july = digest_sources([lang_son], view, Evaluator(), parse_week("2024-W28"), Decimal("0.10"))
    [alert] = [a for a in july["alerts"] if a["key"]["rule"] == "TiendoBehindPlan"]
    assert alert["severity"] == "critical" and "on 30 June" in alert["annotations"]["summary"]
    september = digest_sources([lang_son], view, Evaluator(), parse_week("2024-W37"), Decimal("0.10"))
    assert not [a for a in september["alerts"] if a["key"]["rule"] == "TiendoBehindPlan"]
