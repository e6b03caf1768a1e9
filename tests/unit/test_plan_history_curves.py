"""``curve: history:YYYY`` in plan files: a past year's national shape as a plan's expected progress."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest

from shared.curves import NATIONAL_2025_FINAL, named_history_curve
from shared.plans import PlanFileError, curve_milestones, fraction_at, load_plan_file
from shared.vntime import VN_TZ

HEADER = "province,indicator,year,basis,target,unit,curve,milestones,source\n"


def end_of(day: date) -> datetime:
    return datetime.combine(day, time.max, VN_TZ)


def errors_of(path: Path) -> list[tuple[int, str]]:
    with pytest.raises(PlanFileError) as caught:
        load_plan_file(path)
    return [(error.line, error.message) for error in caught.value.errors]


def test_yaml_history_curve_is_the_2025_national_shape(tmp_path: Path) -> None:
    path = tmp_path / "plans.yaml"
    path.write_text(
        "- {province: Lạng Sơn, indicator: public_investment_disbursed, year: 2025, basis: central,\n"
        "   target: 4500, unit: tỷ đồng, curve: History:2025}\n",
        encoding="utf-8",
    )
    (plan,) = load_plan_file(path)
    assert plan.curve == "history:2025"
    assert plan.milestones == named_history_curve("history:2025", 2025)
    # 46.3 % of the plan by 31 August 2025, of an assumed close of 93.09 % by 31 January 2026
    august = plan.expected_fraction(end_of(date(2025, 8, 31)))
    assert august == (Decimal("46.3") / (NATIONAL_2025_FINAL * 100)).quantize(Decimal("0.000001"))
    assert plan.expected_fraction(end_of(date(2026, 1, 31))) == 1
    # far more back-loaded than the fixed curve: 35 % by H1 on `disbursement`, 34.4 % here
    h1 = end_of(date(2025, 6, 30))
    assert plan.expected_fraction(h1) == Decimal("0.344398")
    assert fraction_at(curve_milestones("disbursement", 2025), 2025, h1) == Decimal("0.35")


def test_csv_history_curve_redated_to_a_later_plan_year(tmp_path: Path) -> None:
    path = tmp_path / "plans.csv"
    path.write_text(HEADER + "Hải Phòng,public_investment_disbursed,2026,central,14500,tỷ đồng,history:2025,,\n")
    (plan,) = load_plan_file(path)
    days = [at.astimezone(VN_TZ).date() for at, _ in plan.milestones]
    assert days[0] == date(2026, 1, 31)
    assert days[-1] == date(2027, 1, 31)
    assert [f for _, f in plan.milestones] == [f for _, f in named_history_curve("history:2025", 2025)]


@pytest.mark.parametrize(
    ("curve", "message"),
    [
        ("history:2019", "no history curve for 2019: the history curves that ship are history:2025"),
        ("history:25", "curve 'history:25' is not history:YYYY (a past year, e.g. history:2025)"),
        ("history:", "curve 'history:' is not history:YYYY (a past year, e.g. history:2025)"),
        ("s-curve", "unknown curve 's-curve' (known: disbursement, linear, quarterly-even, history:2025)"),
    ],
)
def test_bad_history_curves_are_named(tmp_path: Path, curve: str, message: str) -> None:
    path = tmp_path / "plans.csv"
    path.write_text(HEADER + f"Lạng Sơn,public_investment_disbursed,2025,central,4500,tỷ đồng,{curve},,\n")
    assert errors_of(path) == [(2, message)]


def test_history_curve_with_milestones_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plans.csv"
    path.write_text(
        HEADER + "Lạng Sơn,public_investment_disbursed,2025,central,4500,tỷ đồng,history:2025,2025-12-31:1,\n"
    )
    assert errors_of(path) == [(2, "give either curve or milestones, not both")]
