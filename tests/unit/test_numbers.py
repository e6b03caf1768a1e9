"""parse_number: Vietnamese and English notation, ambiguity, and the NumberError contract."""

from decimal import Decimal
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.numbers import MAX_MAGNITUDE, NumberError, parse_number

Lang = Literal["vi", "en"]


@pytest.mark.parametrize(
    ("raw", "lang", "expected"),
    [
        ("1.234,5", None, "1234.5"),
        ("1.234.567", None, "1234567"),
        ("1.234.567,89", "en", "1234567.89"),
        ("1,234.5", None, "1234.5"),
        ("1,234,567", None, "1234567"),
        ("1,234,567.89", "vi", "1234567.89"),
        ("1234.5", None, "1234.5"),
        ("1234", None, "1234"),
        ("0,5", None, "0.5"),
        ("0,5", "en", "0.5"),
        ("14,18", None, "14.18"),
        ("624.26", None, "624.26"),
        ("10,31", "vi", "10.31"),
        ("1 234,5", None, "1234.5"),
        ("1\u00a0234\u00a0567,5", None, "1234567.5"),
        ("1\u202f234.5", None, "1234.5"),
        ("1\u2009234", None, "1234"),
        ("12 500", None, "12500"),
        ("1 234,567", None, "1234.567"),
        ("  -1.234,5 ", None, "-1234.5"),
        ("+42", None, "42"),
        ("\u22127,0", None, "-7.0"),
        ("0,500", None, "0.500"),
        ("1234,567", None, "1234.567"),
        ("33.334", "vi", "33334"),
        ("0", None, "0"),
        ("-0", None, "0"),
    ],
)
def test_parses_text(raw: str, lang: Lang | None, expected: str) -> None:
    assert parse_number(raw, lang) == Decimal(expected)


@pytest.mark.parametrize(
    ("raw", "en", "vi"),
    [
        ("4,680", "4680", "4.68"),
        ("4.680", "4.68", "4680"),
        ("12,500", "12500", "12.5"),
        ("-2.500", "-2.5", "-2500"),
    ],
)
def test_one_separator_and_three_digits_is_decided_by_lang(raw: str, en: str, vi: str) -> None:
    assert parse_number(raw, "en") == Decimal(en)
    assert parse_number(raw, "vi") == Decimal(vi)
    with pytest.raises(NumberError) as info:
        parse_number(raw, None)
    assert info.value.code == "ambiguous_number"
    assert raw in str(info.value)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("1,23,4", "not_a_number"),
        ("1.23.456", "not_a_number"),
        ("12 34", "not_a_number"),
        ("01,234,567", "not_a_number"),
        ("1.234 567", "not_a_number"),
        ("1.234,567.8", "not_a_number"),
        ("1,234.567,8", "not_a_number"),
        ("abc", "not_a_number"),
        ("12a", "not_a_number"),
        ("1e5", "not_a_number"),
        ("", "not_a_number"),
        ("   ", "not_a_number"),
        ("-", "not_a_number"),
        (".5", "not_a_number"),
        ("5.", "not_a_number"),
        ("1..5", "not_a_number"),
        ("1  234", "not_a_number"),
        ("- 5", "not_a_number"),
        ("14,18%", "not_a_number"),
        ("\u0665", "not_a_number"),
        ("1" * 41, "not_a_number"),
        ("NaN", "non_finite"),
        ("-Infinity", "non_finite"),
        ("inf", "non_finite"),
        ("1" + "0" * 25, "too_large"),
        ("-1" + "0" * 25, "too_large"),
    ],
)
def test_rejects_text(raw: str, code: str) -> None:
    with pytest.raises(NumberError) as info:
        parse_number(raw, "en")
    assert info.value.code == code
    assert str(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (4680, Decimal(4680)),
        (-7, Decimal(-7)),
        (0.1, Decimal("0.1")),
        (624.26, Decimal("624.26")),
        (1e-7, Decimal("1E-7")),
        (1e20, Decimal("1E+20")),
        (Decimal("4.680"), Decimal("4.680")),
        (10**24, MAX_MAGNITUDE),
    ],
)
def test_accepts_numbers(raw: object, expected: Decimal) -> None:
    assert parse_number(raw, None) == expected


def test_float_is_converted_through_repr_not_binary_value() -> None:
    assert parse_number(0.1, None) == Decimal("0.1")
    assert parse_number(0.1, None) != Decimal.from_float(0.1)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (True, "not_a_number"),
        (False, "not_a_number"),
        (None, "not_a_number"),
        ([1], "not_a_number"),
        (b"12", "not_a_number"),
        (float("nan"), "non_finite"),
        (float("inf"), "non_finite"),
        (Decimal("NaN"), "non_finite"),
        (Decimal("sNaN"), "non_finite"),
        (Decimal("-Infinity"), "non_finite"),
        (10**24 + 1, "too_large"),
        pytest.param(10**5000, "too_large", id="huge-int"),
        (1e300, "too_large"),
        (Decimal("1E+25"), "too_large"),
    ],
)
def test_rejects_objects(raw: object, code: str) -> None:
    with pytest.raises(NumberError) as info:
        parse_number(raw, "vi")
    assert info.value.code == code


def test_number_error_is_a_value_error() -> None:
    assert issubclass(NumberError, ValueError)


def _group(digits: str, sep: str) -> str:
    head = len(digits) % 3 or 3
    return sep.join([digits[:head], *(digits[i : i + 3] for i in range(head, len(digits), 3))])


def _format(value: Decimal, thousands: str, decimal: str) -> str:
    plain = format(value, "f")
    sign, plain = ("-", plain[1:]) if plain.startswith("-") else ("", plain)
    integer, _, fraction = plain.partition(".")
    return sign + _group(integer, thousands) + (decimal + fraction if fraction else "")


decimals = st.builds(
    lambda coefficient, places: Decimal(coefficient).scaleb(-places),
    st.integers(min_value=-(10**18), max_value=10**18),
    st.integers(min_value=0, max_value=8),
)


@given(decimals)
def test_vietnamese_format_round_trips(value: Decimal) -> None:
    assert parse_number(_format(value, ".", ","), "vi") == value
    assert parse_number(_format(value, "\u00a0", ","), "vi") == value


@given(decimals)
def test_english_format_round_trips(value: Decimal) -> None:
    assert parse_number(_format(value, ",", "."), "en") == value
    assert parse_number(_format(value, " ", "."), "en") == value


@given(decimals)
def test_plain_notation_round_trips(value: Decimal) -> None:
    assert parse_number(format(value, "f"), "en") == value


@given(decimals, st.sampled_from(["vi", "en"]))
def test_grouped_text_with_a_decimal_part_needs_no_lang(value: Decimal, lang: Lang) -> None:
    """Whenever both separators appear, the notation is unambiguous."""
    if abs(value) >= 1000 and value != value.to_integral_value():
        thousands, decimal = (".", ",") if lang == "vi" else (",", ".")
        assert parse_number(_format(value, thousands, decimal), None) == value


numberish = st.text(alphabet="0123456789.,+-\u2212 \u00a0\u202f\u2009eEnaif%", max_size=45)
anything = st.one_of(
    st.text(max_size=60),
    numberish,
    st.integers(),
    st.floats(),
    st.decimals(),
    st.booleans(),
    st.none(),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@given(anything, st.sampled_from(["vi", "en", None]))
def test_only_number_error_escapes(raw: object, lang: Lang | None) -> None:
    try:
        result = parse_number(raw, lang)
    except NumberError as exc:
        assert exc.code in {"not_a_number", "ambiguous_number", "non_finite", "too_large"}
        assert str(exc)
    else:
        assert isinstance(result, Decimal)
        assert result.is_finite()
        assert abs(result) <= MAX_MAGNITUDE


@pytest.mark.parametrize("raw", ["-0", "-0,0", "−0.000", -0.0, Decimal("-0"), Decimal("-0E+3"), "+0"])
def test_zero_has_no_sign(raw: object) -> None:
    value = parse_number(raw, "vi")
    assert value == 0 and not value.is_signed()
    assert not format(value, "f").startswith("-")


@pytest.mark.parametrize("raw", ["1E5", "1e5", "1e-400", "4,68e3", "1.5E+3", "0x10", "1_000"])
def test_text_with_an_exponent_is_not_a_number(raw: str) -> None:
    with pytest.raises(NumberError) as info:
        parse_number(raw, "en")
    assert info.value.code == "not_a_number"
