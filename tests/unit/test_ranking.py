"""shared/ranking.py: competition ranking of provinces, national figures, rank changes, English ordinals."""

from datetime import date, datetime, time
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.plans import Plan, curve_milestones
from shared.ranking import ProgressEntry, Ranking, ordinal, rank, rank_groups
from shared.vntime import VN_TZ

AT = datetime.combine(date(2025, 6, 30), time.max, VN_TZ)


def entry(
    code: str,
    actual: Decimal | int,
    target: Decimal | int = 100,
    *,
    indicator: str = "public_investment_disbursed",
    fraction: Decimal = Decimal("0.35"),
) -> ProgressEntry:
    return ProgressEntry(code, f"P{code}", indicator, 2025, "central", Decimal(actual), Decimal(target), fraction, AT)


def test_ordinals() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 32, 101, 111, 112)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "23rd",
        "32nd",
        "101st",
        "111th",
        "112th",
    ]


def test_competition_ranking_national_figures_and_flags() -> None:
    ranking = rank([entry("01", 50), entry("02", 30), entry("03", 30), entry("04", 10, 300)])
    assert [(r.entry.province_code, r.rank) for r in ranking.rows] == [("01", 1), ("02", 2), ("03", 2), ("04", 4)]
    assert ranking.rows[1].position == "2nd of 4, tied" and ranking.rows[3].position == "4th of 4"
    assert ranking.national_aggregate == Decimal(120) / Decimal(600) * 100  # 20 %
    assert ranking.national_average == (Decimal(50) + 30 + 30 + Decimal(10) / 3) / 4
    assert [r.standing for r in ranking.rows] == ["above", "above", "above", "below"]
    by_mean = rank([r.entry for r in ranking.rows], against="mean")
    assert [r.standing for r in by_mean.rows] == ["above", "above", "above", "below"]
    assert ranking.rows[0].entry.ratio == Decimal(50) / Decimal(35)
    assert ranking.row("04") is ranking.rows[3] and ranking.row("99") is None
    assert len(ranking.above) == 3 and len(ranking.below) == 1


def test_rank_change_and_newcomers() -> None:
    week1 = rank([entry("01", 50), entry("02", 30), entry("03", 20)])
    week2 = rank([entry("01", 51), entry("02", 60), entry("03", 21), entry("04", 70)], week1)
    changes = {r.entry.province_code: r.rank_change for r in week2.rows}
    assert changes == {"04": None, "02": 0, "01": -2, "03": -1}


def test_refuses_mixed_groups_duplicates_and_nothing() -> None:
    with pytest.raises(ValueError, match="several groups"):
        rank([entry("01", 1), entry("02", 1, indicator="site_clearance_area")])
    with pytest.raises(ValueError, match="twice"):
        rank([entry("01", 1), entry("01", 2)])
    with pytest.raises(ValueError, match="nothing"):
        rank([])


def test_rank_groups_and_from_plan() -> None:
    plan = Plan(
        "20",
        "20",
        "Lạng Sơn",
        "public_investment_disbursed",
        2025,
        Decimal(4500),
        "VND",
        "central",
        curve_milestones("disbursement", 2025),
        "disbursement",
    )
    made = ProgressEntry.from_plan(plan, Decimal(1440), AT)
    assert made.expected_fraction == Decimal("0.35") and made.percent == Decimal(32)
    groups = rank_groups([made, entry("01", 1), entry("02", 5, indicator="site_clearance_area")])
    assert sorted(groups) == [
        ("public_investment_disbursed", 2025, "central"),
        ("site_clearance_area", 2025, "central"),
    ]
    assert groups[("public_investment_disbursed", 2025, "central")].rows[0].entry.province_code == "20"


PERCENTS = st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=34)


def ranking_of(values: list[int], codes: list[str] | None = None, previous: Ranking | None = None) -> Ranking:
    codes = codes or [f"{i:02d}" for i in range(len(values))]
    return rank([entry(c, v) for c, v in zip(codes, values, strict=True)], previous)


@settings(max_examples=300, deadline=None)
@given(PERCENTS, st.randoms(use_true_random=False))
def test_competition_ranking_properties(values: list[int], rnd: object) -> None:
    ranking = ranking_of(values)
    for row in ranking.rows:
        better = sum(1 for v in values if v > row.entry.actual)
        assert row.rank == better + 1  # competition ranking: 1 + how many are strictly ahead
        assert row.tied == (values.count(int(row.entry.actual)) > 1)
    # the same entries in another order rank the same
    codes = [f"{i:02d}" for i in range(len(values))]
    pairs = list(zip(codes, values, strict=True))
    rnd.shuffle(pairs)  # type: ignore[attr-defined]
    shuffled = rank([entry(c, v) for c, v in pairs])
    assert {r.entry.province_code: r.rank for r in shuffled.rows} == {
        r.entry.province_code: r.rank for r in ranking.rows
    }


@settings(max_examples=300, deadline=None)
@given(st.permutations(list(range(34))), st.permutations(list(range(34))), st.integers(min_value=0, max_value=33))
def test_rank_changes_sum_to_zero_without_ties_and_skip_newcomers(
    before: list[int], after: list[int], missing: int
) -> None:
    codes = [f"{i:02d}" for i in range(34)]
    week1 = ranking_of(before, codes)
    week2 = ranking_of(after, codes, week1)
    assert sum(r.rank_change or 0 for r in week2.rows) == 0
    for row in week2.rows:
        assert row.rank_change == week1.row(row.entry.province_code).rank - row.rank  # type: ignore[union-attr]
    without = rank([r.entry for r in week1.rows if r.entry.province_code != codes[missing]])
    week3 = ranking_of(after, codes, without)
    assert week3.row(codes[missing]).rank_change is None  # type: ignore[union-attr]
