"""Indicator catalogue: stable ids, kinds, dimensions and exact unit conversion."""

from datetime import date
from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import indicators
from shared.indicators import (
    CATALOGUE,
    FractionalCountError,
    Indicator,
    Kind,
    UnitMismatchError,
    UnknownIndicatorError,
    get_indicator,
)
from shared.units import BASE_SYMBOLS, UNITS, lookup_unit

EXPECTED = {
    "public_investment_disbursed": ("vnd", Kind.FLOW),
    "site_clearance_area": ("area_ha", Kind.FLOW),
    "site_clearance_households": ("households", Kind.FLOW),
    "state_budget_revenue": ("vnd", Kind.FLOW),
    "industrial_production_value": ("vnd", Kind.FLOW),
    "import_export_value": ("usd", Kind.FLOW),
    "new_enterprises": ("count", Kind.FLOW),
    "registered_capital": ("vnd", Kind.FLOW),
    "investment_attracted": ("usd", Kind.FLOW),
    "new_jobs": ("count", Kind.FLOW),
    "grdp_growth": ("percent", Kind.RATE),
    "grdp": ("vnd", Kind.LEVEL),
}


def test_catalogue_ids_are_exactly_the_contract() -> None:
    assert set(CATALOGUE) == set(EXPECTED)


@pytest.mark.parametrize(("indicator_id", "expected"), sorted(EXPECTED.items()))
def test_dimension_and_kind(indicator_id: str, expected: tuple[str, Kind]) -> None:
    indicator = get_indicator(indicator_id)
    assert indicator.id == indicator_id
    assert (indicator.dimension, indicator.kind) == expected
    assert indicator.base_unit == BASE_SYMBOLS[indicator.dimension]
    assert indicator.name_vi
    assert indicator.name_en
    assert indicator.cadence_days > 0
    assert indicator.default_curve


def test_entries() -> None:
    assert get_indicator("public_investment_disbursed").name_vi == "Giải ngân vốn đầu tư công"
    assert get_indicator("public_investment_disbursed").default_curve == "disbursement"
    assert get_indicator("site_clearance_area").name_vi == "Diện tích giải phóng mặt bằng"
    assert get_indicator("state_budget_revenue").name_vi == "Thu ngân sách nhà nước"
    assert get_indicator("state_budget_revenue").base_unit == "VND"
    assert get_indicator("grdp_growth").nonnegative is False
    assert get_indicator("grdp_growth").default_curve == "none"
    assert get_indicator("new_jobs").nonnegative is True
    assert all(i.higher_is_better for i in CATALOGUE.values())


def test_kind_values() -> None:
    assert [k.value for k in Kind] == ["flow", "ytd", "rate", "level"]
    assert Kind("rate") is Kind.RATE
    assert Kind.FLOW == "flow"


def test_catalogue_is_read_only() -> None:
    with pytest.raises(TypeError):
        CATALOGUE["x"] = CATALOGUE["grdp"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("indicator_id", "value", "unit", "expected"),
    [
        ("state_budget_revenue", "4680", "tỷ đồng", Decimal(4_680_000_000_000)),
        ("industrial_production_value", "150", "nghìn tỷ đồng", Decimal(150 * 10**12)),
        ("investment_attracted", "624.26", "triệu USD", Decimal(624_260_000)),
        ("import_export_value", "10.31", "billion USD", Decimal(10_310_000_000)),
        ("registered_capital", "2500", "bn VND", Decimal(2_500_000_000_000)),
        ("grdp", "33334", "tỷ đồng", Decimal(33_334_000_000_000)),
        ("site_clearance_area", "1", "m²", Decimal("0.0001")),
        ("site_clearance_area", "2.5", "km2", Decimal(250)),
        ("site_clearance_area", "12.5", "héc-ta", Decimal("12.5")),
        ("site_clearance_households", "45", "hộ", Decimal(45)),
        ("new_enterprises", "310", "doanh nghiệp", Decimal(310)),
        ("new_jobs", "8900", "việc làm", Decimal(8900)),
        ("grdp_growth", "14.18", "%", Decimal("14.18")),
        ("public_investment_disbursed", "120", "VND", Decimal(120)),
    ],
)
def test_convert_is_exact(indicator_id: str, value: str, unit: str, expected: Decimal) -> None:
    assert get_indicator(indicator_id).convert(Decimal(value), lookup_unit(unit)) == expected


def test_convert_keeps_every_digit() -> None:
    value = Decimal("123456789012345678901234.567890123456789")
    converted = get_indicator("state_budget_revenue").convert(value, lookup_unit("nghìn tỷ đồng"))
    assert converted == Decimal("123456789012345678901234567890123456.789")


@given(
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**24), max_value=10**24, places=12),
    st.sampled_from(sorted({u for u in UNITS.values() if u.dimension == "vnd"}, key=lambda u: u.factor)),
)
def test_convert_equals_exact_product(value: Decimal, unit: object) -> None:
    with localcontext() as ctx:
        ctx.prec = 200
        expected = value * unit.factor  # type: ignore[attr-defined]
    assert get_indicator("registered_capital").convert(value, unit) == expected  # type: ignore[arg-type]


def test_unit_mismatch_names_indicator_and_unit() -> None:
    with pytest.raises(UnitMismatchError) as info:
        get_indicator("new_jobs").convert(Decimal(1), lookup_unit("tỷ đồng"))
    assert "new_jobs" in str(info.value)
    assert "tỷ đồng" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_rate_does_not_accept_money() -> None:
    with pytest.raises(UnitMismatchError):
        get_indicator("grdp_growth").convert(Decimal("14.18"), lookup_unit("VND"))


def test_unknown_indicator_suggests_close_ids() -> None:
    with pytest.raises(UnknownIndicatorError) as info:
        get_indicator("state_budget")
    assert info.value.suggestions[0] == "state_budget_revenue"
    assert "state_budget" in str(info.value)
    assert "state_budget_revenue" in str(info.value)


@pytest.mark.parametrize("bad", ["", "GRDP", "nothing_like_it", None, 3])
def test_unknown_indicator(bad: object) -> None:
    with pytest.raises(UnknownIndicatorError):
        get_indicator(bad)  # type: ignore[arg-type]


def test_indicator_is_frozen() -> None:
    indicator: Indicator = get_indicator("grdp")
    with pytest.raises(AttributeError):
        indicator.kind = Kind.FLOW  # type: ignore[misc]


COUNT_INDICATORS = ("new_enterprises", "new_jobs", "site_clearance_households")


def test_count_indicators_take_whole_numbers_only() -> None:
    assert {i.id for i in CATALOGUE.values() if i.whole_numbers} == set(COUNT_INDICATORS)


@pytest.mark.parametrize("indicator_id", COUNT_INDICATORS)
@pytest.mark.parametrize("text", ["0.5", "1.234", "-0.1", "1E-3", "NaN", "Infinity"])
def test_check_whole_refuses_fractions(indicator_id: str, text: str) -> None:
    with pytest.raises(FractionalCountError, match="whole numbers only"):
        get_indicator(indicator_id).check_whole(Decimal(text))


@pytest.mark.parametrize("indicator_id", COUNT_INDICATORS)
@pytest.mark.parametrize("text", ["0", "1234", "12.000", "1E+3", "-0"])
def test_check_whole_accepts_whole_numbers(indicator_id: str, text: str) -> None:
    get_indicator(indicator_id).check_whole(Decimal(text))


def test_check_whole_ignores_non_count_indicators() -> None:
    get_indicator("state_budget_revenue").check_whole(Decimal("0.5"))
    assert issubclass(FractionalCountError, ValueError)


@pytest.mark.parametrize(
    ("indicator_id", "unit"),
    [
        ("new_jobs", "doanh nghiệp"),
        ("new_jobs", "enterprises"),
        ("new_enterprises", "people"),
        ("new_enterprises", "người"),
        ("new_enterprises", "lao động"),
        ("new_enterprises", "việc làm"),
        ("site_clearance_households", "enterprises"),
        ("site_clearance_households", "người"),
        ("new_jobs", "hộ"),
        ("grdp", "count"),
    ],
)
def test_a_count_unit_must_count_the_same_things(indicator_id: str, unit: str) -> None:
    with pytest.raises(UnitMismatchError):
        get_indicator(indicator_id).convert(Decimal(3), lookup_unit(unit))


@pytest.mark.parametrize(
    ("indicator_id", "unit"),
    [
        ("new_jobs", "người"),
        ("new_jobs", "lao động"),
        ("new_jobs", "việc làm"),
        ("new_jobs", "count"),
        ("new_enterprises", "doanh nghiệp"),
        ("new_enterprises", "cái"),
        ("site_clearance_households", "hộ"),
        ("site_clearance_households", "count"),
    ],
)
def test_count_units_that_fit(indicator_id: str, unit: str) -> None:
    assert get_indicator(indicator_id).convert(Decimal(3), lookup_unit(unit)) == 3


def test_mismatch_message_says_what_is_counted() -> None:
    with pytest.raises(UnitMismatchError, match="counts jobs or people, but unit 'doanh nghiệp' counts enterprises"):
        get_indicator("new_jobs").convert(Decimal(3), lookup_unit("doanh nghiệp"))


def test_convert_never_gives_negative_zero() -> None:
    assert not get_indicator("grdp_growth").convert(Decimal("-0.0"), lookup_unit("%")).is_signed()
    assert not get_indicator("state_budget_revenue").convert(Decimal("-0"), lookup_unit("tỷ đồng")).is_signed()


def test_plan_year_end() -> None:
    assert get_indicator("public_investment_disbursed").plan_year_end(2024) == date(2025, 1, 31)
    for indicator in CATALOGUE.values():
        if indicator.id != "public_investment_disbursed":
            assert indicator.plan_year_end(2024) == date(2024, 12, 31), indicator.id


def test_a_catalogued_twice_id_is_refused() -> None:
    entry = CATALOGUE["grdp"]
    with pytest.raises(ValueError, match="catalogued twice"):
        indicators._catalogue((entry, entry))
