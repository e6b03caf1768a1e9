"""Unit catalogue: spellings, exact factors, languages and forgiving lookup."""

import unicodedata
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.units import BASE_SYMBOLS, UNITS, Unit, UnknownUnitError, lookup_unit

B = Decimal(10**9)


CATALOGUE_TABLE = [
    ("đồng", "vnd", Decimal(1), "vi"),
    ("dong", "vnd", Decimal(1), "vi"),
    ("VND", "vnd", Decimal(1), None),
    ("VNĐ", "vnd", Decimal(1), None),
    ("triệu đồng", "vnd", Decimal(10**6), "vi"),
    ("million VND", "vnd", Decimal(10**6), "en"),
    ("tỷ đồng", "vnd", B, "vi"),
    ("ty dong", "vnd", B, "vi"),
    ("tỷ VND", "vnd", B, "vi"),
    ("billion VND", "vnd", B, "en"),
    ("bn VND", "vnd", B, "en"),
    ("nghìn tỷ đồng", "vnd", Decimal(10**12), "vi"),
    ("ngàn tỷ đồng", "vnd", Decimal(10**12), "vi"),
    ("trillion VND", "vnd", Decimal(10**12), "en"),
    ("tn VND", "vnd", Decimal(10**12), "en"),
    ("USD", "usd", Decimal(1), None),
    ("US$", "usd", Decimal(1), None),
    ("nghìn USD", "usd", Decimal(10**3), "vi"),
    ("thousand USD", "usd", Decimal(10**3), "en"),
    ("triệu USD", "usd", Decimal(10**6), "vi"),
    ("million USD", "usd", Decimal(10**6), "en"),
    ("mn USD", "usd", Decimal(10**6), "en"),
    ("tỷ USD", "usd", B, "vi"),
    ("billion USD", "usd", B, "en"),
    ("ha", "area_ha", Decimal(1), None),
    ("hectare", "area_ha", Decimal(1), "en"),
    ("hecta", "area_ha", Decimal(1), "vi"),
    ("héc-ta", "area_ha", Decimal(1), "vi"),
    ("m2", "area_ha", Decimal("0.0001"), None),
    ("m²", "area_ha", Decimal("0.0001"), None),
    ("square metres", "area_ha", Decimal("0.0001"), "en"),
    ("mét vuông", "area_ha", Decimal("0.0001"), "vi"),
    ("km2", "area_ha", Decimal(100), None),
    ("km²", "area_ha", Decimal(100), None),
    ("count", "count", Decimal(1), None),
    ("doanh nghiệp", "count", Decimal(1), "vi"),
    ("enterprises", "count", Decimal(1), "en"),
    ("người", "count", Decimal(1), "vi"),
    ("people", "count", Decimal(1), "en"),
    ("jobs", "count", Decimal(1), "en"),
    ("lao động", "count", Decimal(1), "vi"),
    ("việc làm", "count", Decimal(1), "vi"),
    ("hộ", "households", Decimal(1), "vi"),
    ("hộ dân", "households", Decimal(1), "vi"),
    ("households", "households", Decimal(1), "en"),
    ("%", "percent", Decimal(1), None),
    ("percent", "percent", Decimal(1), "en"),
    ("phần trăm", "percent", Decimal(1), "vi"),
]


@pytest.mark.parametrize(("text", "dimension", "factor", "lang"), CATALOGUE_TABLE)
def test_catalogue(text: str, dimension: str, factor: Decimal, lang: str | None) -> None:
    unit = lookup_unit(text)
    assert (unit.dimension, unit.factor, unit.lang) == (dimension, factor, lang)
    assert isinstance(unit.factor, Decimal)


def test_canonical_symbols() -> None:
    assert lookup_unit("billion VND").symbol == "tỷ đồng"
    assert lookup_unit("tn VND").symbol == "nghìn tỷ đồng"
    assert lookup_unit("mn USD").symbol == "triệu USD"
    assert lookup_unit("square meters").symbol == "m²"


@pytest.mark.parametrize(
    "text",
    [
        "Tỷ Đồng",
        "TỶ ĐỒNG",
        "  tỷ   đồng ",
        "tỷ\u00a0đồng",
        "Ty Dong",
        "tydong",
        unicodedata.normalize("NFD", "tỷ đồng"),
        unicodedata.normalize("NFC", "tỷ đồng"),
        "tỷ đông",
    ],
)
def test_lookup_is_forgiving(text: str) -> None:
    assert lookup_unit(text) == lookup_unit("tỷ đồng")


def test_lookup_is_forgiving_for_other_units() -> None:
    assert lookup_unit("HÉC TA") == lookup_unit("héc-ta")
    assert lookup_unit("Hộ Dân") == lookup_unit("ho dan")
    assert lookup_unit("M²") == lookup_unit("m2")
    assert lookup_unit("TRIỆU usd") == lookup_unit("trieu USD")


def _variants(text: str) -> list[str]:
    stripped = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return [
        text.upper(),
        text.lower(),
        f"  {text}  ",
        unicodedata.normalize("NFD", text),
        stripped.replace("đ", "d").replace("Đ", "D"),
        text.replace(" ", "  "),
    ]


@given(st.sampled_from([row[0] for row in CATALOGUE_TABLE]))
def test_every_spelling_survives_case_space_and_diacritics(spelling: str) -> None:
    unit = lookup_unit(spelling)
    for variant in _variants(spelling):
        assert lookup_unit(variant) == unit


def test_every_unit_has_a_known_dimension() -> None:
    for unit in UNITS.values():
        assert unit.dimension in BASE_SYMBOLS
        assert unit.factor > 0
        assert unit.lang in {"vi", "en", None}


def test_each_dimension_has_a_base_unit() -> None:
    bases = {u.dimension for u in UNITS.values() if u.factor == 1}
    assert bases == set(BASE_SYMBOLS)


def test_unit_is_frozen() -> None:
    unit = lookup_unit("ha")
    with pytest.raises(AttributeError):
        unit.factor = Decimal(2)  # type: ignore[misc]
    assert unit == Unit("ha", "area_ha", Decimal(1), None)


def test_unknown_unit_names_it_and_suggests() -> None:
    with pytest.raises(UnknownUnitError) as info:
        lookup_unit("ty dongg")
    message = str(info.value)
    assert "ty dongg" in message
    assert "tỷ đồng" in info.value.suggestions
    assert "tỷ đồng" in message


@pytest.mark.parametrize("text", ["", "  ", "furlong", "tỷ", None, 5])
def test_unknown_units(text: object) -> None:
    with pytest.raises(UnknownUnitError) as info:
        lookup_unit(text)  # type: ignore[arg-type]
    assert repr(text) in str(info.value)
    assert isinstance(info.value, ValueError)


@given(st.text(max_size=30))
def test_lookup_raises_only_unknown_unit(text: str) -> None:
    try:
        unit = lookup_unit(text)
    except UnknownUnitError:
        return
    assert unit in UNITS.values()


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("doanh nghiệp", "enterprises"),
        ("businesses", "enterprises"),
        ("người", "people"),
        ("lao động", "people"),
        ("workers", "people"),
        ("việc làm", "jobs"),
        ("hộ dân", "households"),
        ("count", None),
        ("cái", None),
        ("tỷ đồng", None),
    ],
)
def test_count_units_say_what_they_count(text: str, counts: str | None) -> None:
    assert lookup_unit(text).counts == counts


def test_plain_count_is_language_neutral_or_vietnamese() -> None:
    assert (lookup_unit("count").lang, lookup_unit("cai").lang) == (None, "vi")
