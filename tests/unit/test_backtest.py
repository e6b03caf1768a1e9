"""bench/backtest.py on the shipped data: runs without Kafka, scores every series it can, keeps its figures."""

import itertools
from decimal import Decimal

from bench.backtest import run, sample_series, summary_table, verdict


def test_backtest_runs_on_the_national_and_sample_series() -> None:
    series = sample_series()
    assert ("20", "public_investment_disbursed", 2024) in series
    lang_son = series[("20", "public_investment_disbursed", 2024)]
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(lang_son))  # cumulative
    outcomes = run()
    national = outcomes[0]
    assert national.came == Decimal("83.7") and national.mae_from_h1 is not None
    assert national.mae_from_h1 < 10
    assert len(summary_table(outcomes)) == len(outcomes) + 2
    assert verdict(outcomes)[0].startswith("- series:")
