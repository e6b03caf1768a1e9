"""bench/backtest.py and bench/scenarios.py on the shipped data: run without Kafka, score every series they can."""

import itertools
from decimal import Decimal

from bench.backtest import (
    DEFAULTS,
    backtest,
    run,
    run_synthetic,
    sample_series,
    score,
    summary_table,
    tuning_family,
    verdict,
)
from bench.scenarios import families, synthetic
from shared.plans import Plan


def test_backtest_runs_on_the_national_and_sample_series() -> None:
    series = sample_series()
    assert ("20", "public_investment_disbursed", 2024) in series
    lang_son = series[("20", "public_investment_disbursed", 2024)]
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(lang_son))  # cumulative
    outcomes = run()
    national = outcomes[0]
    assert national.came == Decimal("83.7") and national.mae_from_h1 is not None
    assert national.short  # 83.7 % by 31 December, where the plan expects 95 %: more than 10 % short
    assert len(summary_table(outcomes)) == len(outcomes) + 2
    assert verdict(outcomes, [])[0].startswith("- real series")


def test_synthetic_series_are_deterministic_cumulative_and_have_a_previous_year() -> None:
    first, again = synthetic(range(1)), synthetic(range(1))
    assert [s.readings for s in first] == [s.readings for s in again]
    assert len(first) == len(families())
    for series in first:
        plan = series.family.plan
        assert all(a[0] < b[0] and a[1] <= b[1] for a, b in itertools.pairwise(series.readings))
        assert series.readings[-1][0] == plan.milestones[-1][0]  # a last report on the plan year's last day
        shape = series.previous_shape
        assert shape[-1] == (plan.milestones[-1][0], Decimal(1))
        Plan("90", "90", "x", plan.indicator, plan.year, Decimal(1), "VND", "central", shape)  # a valid curve


def test_a_slowdown_is_short_and_an_on_pace_control_is_not() -> None:
    by_name = {s.family.name: s for s in synthetic(range(1))}
    slow = by_name["disbursement on the plan curve, then 50% of it from Jul"]
    found = backtest("slow", "plan curve", slow.family.plan, slow.readings, None)
    assert found is not None and found.short and found.shortfall_first is not None and not found.false_shortfall
    revenue = by_name["budget revenue 32.6 % at Q1, then 100% of the curve from Jul"]
    control = backtest("revenue", "plan curve", revenue.family.plan, revenue.readings, None)
    assert control is not None and not control.short and not control.false_shortfall


def test_tuning_and_held_out_families_and_the_score() -> None:
    tuned = [f for f in families() if tuning_family(f)]
    held = [f for f in families() if not tuning_family(f)]
    assert tuned and held
    assert any(f.plan.indicator == "site_clearance_area" for f in held)
    assert any(f.plan.indicator == "industrial_production_value" for f in held)
    outcomes = run_synthetic(range(1), DEFAULTS, tuning=True)
    assert len(outcomes) == 2 * len(tuned)  # plan curve alone and with the own previous year
    s = score(outcomes)
    assert s.value == s.named_early - s.false_shortfall
    assert s.short == sum(o.short for o in outcomes) and s.series == len(outcomes)
