"""Feed event schema v1, SchemaError codes, JSON Schema export and the orjson codec."""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.events import (
    SCHEMA_ID,
    DecodeError,
    DuplicateKeyError,
    FeedEvent,
    InexactNumberError,
    SchemaError,
    decode_json,
    encode_json,
    event_json_schema,
    validate_event,
)
from shared.indicators import get_indicator
from shared.numbers import parse_number
from shared.units import lookup_unit
from shared.vntime import parse_as_of, quarter_of

BAC_GIANG = {
    "event_id": "bg-2024-q1-ngansach",
    "province": "Bắc Giang",
    "indicator": "state_budget_revenue",
    "as_of": "2024-03-31",
    "value": "4.680",
    "unit": "tỷ đồng",
    "mode": "ytd",
    "source": "UBND tỉnh Bắc Giang, báo cáo quý I/2024",
}
REQUIRED = ["event_id", "province", "indicator", "as_of", "value", "unit", "mode"]


def test_valid_event() -> None:
    event = validate_event(BAC_GIANG)
    assert event.event_id == "bg-2024-q1-ngansach"
    assert event.value == "4.680"
    assert event.mode == "ytd"
    assert event.revision == 0


def test_event_from_bytes_to_base_units() -> None:
    """The published example carries 4,680 billion VND of budget revenue in Q1 2024."""
    event = validate_event(decode_json(encode_json(BAC_GIANG)))
    unit = lookup_unit(event.unit)
    amount = get_indicator(event.indicator).convert(parse_number(event.value, unit.lang), unit)
    assert amount == Decimal(4_680_000_000_000)
    assert quarter_of(parse_as_of(event.as_of)) == (2024, 1)


def test_defaults_and_optional_fields() -> None:
    event = validate_event({k: v for k, v in BAC_GIANG.items() if k != "source"})
    assert event.source is None
    assert validate_event({**BAC_GIANG, "source": None}).source is None
    assert validate_event({**BAC_GIANG, "revision": 3}).revision == 3


@pytest.mark.parametrize("value", [4680, -12, 624.26, 0.0, "1.234,5", "4,680"])
def test_value_keeps_its_json_type(value: object) -> None:
    event = validate_event({**BAC_GIANG, "value": value})
    assert event.value == value
    assert type(event.value) is type(value)


def test_unknown_fields_are_ignored() -> None:
    event = validate_event({**BAC_GIANG, "publisher_note": "x", "nested": {"a": [1]}})
    assert "publisher_note" not in event.model_dump()


def test_event_is_frozen() -> None:
    event = validate_event(BAC_GIANG)
    with pytest.raises(ValueError):
        event.value = "1"  # type: ignore[misc]


@pytest.mark.parametrize("obj", [None, [], [BAC_GIANG], "event", 5, True])
def test_not_an_object(obj: object) -> None:
    with pytest.raises(SchemaError) as info:
        validate_event(obj)
    assert info.value.code == "not_an_object"


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_field(field: str) -> None:
    with pytest.raises(SchemaError) as info:
        validate_event({k: v for k, v in BAC_GIANG.items() if k != field})
    assert info.value.code == "missing_field"
    assert info.value.fields == (field,)
    assert f"'{field}'" in str(info.value)


def test_all_missing_fields_are_named() -> None:
    with pytest.raises(SchemaError) as info:
        validate_event({"event_id": "x"})
    assert info.value.code == "missing_field"
    for field in REQUIRED[1:]:
        assert f"'{field}'" in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("value", True),
        ("value", False),
        ("value", None),
        ("value", [1]),
        ("value", {"amount": 1}),
        ("event_id", 17),
        ("province", 24),
        ("indicator", None),
        ("as_of", 20240331),
        ("unit", 1e9),
        ("mode", 1),
        ("mode", None),
        ("source", 5),
        ("revision", True),
        ("revision", "1"),
        ("revision", 1.0),
        ("revision", None),
    ],
)
def test_wrong_type(field: str, value: object) -> None:
    with pytest.raises(SchemaError) as info:
        validate_event({**BAC_GIANG, field: value})
    assert info.value.code == "wrong_type"
    assert info.value.fields[0] == field
    assert f"'{field}'" in str(info.value)


def test_bool_value_message() -> None:
    with pytest.raises(SchemaError, match=r"'value' must be a number or a numeric string, not boolean"):
        validate_event({**BAC_GIANG, "value": True})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", ""),
        ("event_id", "x" * 201),
        ("province", ""),
        ("province", "x" * 101),
        ("indicator", ""),
        ("as_of", "31/03/2024"),
        ("as_of", "Q1 2024"),
        ("value", ""),
        ("value", "1" * 41),
        ("value", float("nan")),
        ("value", float("inf")),
        ("unit", ""),
        ("mode", "monthly"),
        ("mode", "YTD"),
        ("source", "x" * 501),
        ("revision", -1),
    ],
)
def test_invalid_field(field: str, value: object) -> None:
    with pytest.raises(SchemaError) as info:
        validate_event({**BAC_GIANG, field: value})
    assert info.value.code == "invalid_field"
    assert info.value.fields == (field,)
    assert f"'{field}'" in str(info.value)


def test_as_of_pattern_message_is_readable() -> None:
    with pytest.raises(SchemaError, match="ISO 8601"):
        validate_event({**BAC_GIANG, "as_of": "31/03/2024"})


def test_first_error_decides_and_others_are_named() -> None:
    with pytest.raises(SchemaError) as info:
        validate_event({**BAC_GIANG, "event_id": 5, "mode": "monthly", "revision": -1})
    assert info.value.code == "wrong_type"
    assert info.value.fields == ("event_id", "mode", "revision")
    message = str(info.value)
    assert message.startswith("field 'event_id'")
    assert "'mode'" in message
    assert "'revision'" in message


def test_no_silent_coercion() -> None:
    with pytest.raises(SchemaError):
        validate_event({**BAC_GIANG, "event_id": 123})
    with pytest.raises(SchemaError):
        validate_event({**BAC_GIANG, "revision": "2"})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)


@given(
    st.dictionaries(st.sampled_from([*REQUIRED, "source", "revision", "extra"]), json_values, max_size=9) | json_values,
    st.booleans(),
)
def test_validate_event_raises_only_schema_error(obj: Any, base: bool) -> None:
    if base and isinstance(obj, dict):
        obj = {**BAC_GIANG, **obj}
    try:
        event = validate_event(obj)
    except SchemaError as exc:
        assert exc.code in {"not_an_object", "missing_field", "wrong_type", "invalid_field"}
        assert str(exc)
    else:
        assert isinstance(event, FeedEvent)


def test_json_schema() -> None:
    schema = event_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_ID
    assert schema["title"] == "tiendo feed event v1"
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {*REQUIRED, "source", "plan_year", "revision", "confirmed"}
    assert sorted(schema["required"]) == sorted(REQUIRED)
    assert schema["additionalProperties"] is True
    assert "tỉnh" in schema["description"]
    assert "province" in schema["description"]
    assert BAC_GIANG in schema["examples"]
    for prop in schema["properties"].values():
        assert prop.get("description")
    assert schema["properties"]["mode"]["enum"] == ["delta", "ytd"]
    assert schema["properties"]["revision"]["minimum"] == 0


def test_json_schema_examples_validate() -> None:
    for example in event_json_schema()["examples"]:
        validate_event(example)


def test_json_schema_is_json() -> None:
    schema = event_json_schema()
    assert decode_json(encode_json(schema)) == schema


@pytest.mark.parametrize("raw", [b"", b"{", b"{'a': 1}", b"NaN", b"[1,]", b"\xff\xfe", b"1e400", 5, None])
def test_decode_errors(raw: object) -> None:
    with pytest.raises(DecodeError) as info:
        decode_json(raw)  # type: ignore[arg-type]
    assert str(info.value).startswith("not valid JSON")


def test_decode() -> None:
    assert decode_json(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    assert decode_json('{"tỉnh": "Bắc Giang"}'.encode()) == {"tỉnh": "Bắc Giang"}


def test_encode() -> None:
    payload = {
        "amount": Decimal("4.68E+12"),
        "small": Decimal("0.0001"),
        "at": datetime(2024, 3, 31, 17, 30, tzinfo=UTC),
        "day": date(2024, 3, 31),
    }
    assert decode_json(encode_json(payload)) == {
        "amount": "4680000000000",
        "small": "0.0001",
        "at": "2024-03-31T17:30:00+00:00",
        "day": "2024-03-31",
    }


def test_encode_model() -> None:
    event = validate_event(BAC_GIANG)
    assert decode_json(encode_json(event)) == {**BAC_GIANG, "plan_year": None, "revision": 0, "confirmed": False}


def test_encode_rejects_unknown_objects() -> None:
    with pytest.raises(TypeError):
        encode_json(object())


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_encoded_decimal_parses_back(value: Decimal) -> None:
    text = decode_json(encode_json(value))
    assert isinstance(text, str)
    assert Decimal(text) == value
    assert not text.startswith("-") or value < 0  # no "-0"


@pytest.mark.parametrize("value", [Decimal("-0"), Decimal("-0.00"), Decimal("-0E+5")])
def test_negative_zero_is_encoded_unsigned(value: Decimal) -> None:
    assert not decode_json(encode_json({"v": value}))["v"].startswith("-")  # type: ignore[index]


# --- duplicate keys and inexact numbers: no last-key-wins, no silent rounding -------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ('{"unit": "đồng", "value": 4680, "unit": "nghìn tỷ đồng"}', "unit"),
        ('{"unit":"đồng","unit":"đồng"}', "unit"),  # same value twice is still a repeat
        ('{"a": {"b": 1, "b" : 2}}', "b"),
        ('[{"x": 1}, [{"y": 1, "z": 2,\n "y"\t: 3}]]', "y"),
        ('{"s": "quoted \\": inside", "v": 1, "v": 2}', "v"),  # an escaped quote-colon does not hide it
        ('{"a" :1,"b":"\\":","a":2}', "a"),
    ],
)
def test_duplicate_keys_at_any_depth_are_refused(raw: str, key: str) -> None:
    with pytest.raises(DuplicateKeyError) as info:
        decode_json(raw.encode())
    assert info.value.key == key and repr(key) in str(info.value)
    assert isinstance(info.value, DecodeError)


@pytest.mark.parametrize(
    "raw",
    [
        '{"Unit": "đồng", "unit": "tỷ đồng"}',  # JSON keys are case-sensitive: "Unit" is another (unknown) field
        '[{"a": 1}, {"a": 1}]',
        '{"a": {"a": {"a": 1}}}',
        '{"s": "\\":\\":\\":", "t": 1}',
        '{"k": "v" , "l" : "w"}',
    ],
)
def test_distinct_keys_are_fine(raw: str) -> None:
    assert decode_json(raw.encode()) == orjson.loads(raw)


def test_case_variant_of_a_field_is_an_ignored_unknown_field() -> None:
    event = validate_event(decode_json(encode_json({**BAC_GIANG, "Unit": "nghìn tỷ đồng"})))
    assert event.unit == "tỷ đồng"


@pytest.mark.parametrize(
    "token",
    ["1e-400", "-1e-400", "2e-324", "4.9e-324", "1.0000000000000000001", "624.260000000000000001"],
)
def test_numbers_a_float_cannot_hold_are_refused(token: str) -> None:
    with pytest.raises(InexactNumberError) as info:
        decode_json(f'{{"value": {token}}}'.encode())
    assert token in str(info.value) and "string" in str(info.value)
    with pytest.raises(InexactNumberError):
        decode_json(token.encode())


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("0", 0),
        ("-0", 0),
        ("0.0", 0.0),
        ("0e10", 0.0),
        ("-0.0", -0.0),
        ("1E5", 1e5),
        ("2.2250738585072014e-308", 2.2250738585072014e-308),
        ("0.30000000000000004", 0.30000000000000004),
        ("1234567890123.25", 1234567890123.25),
        ("624.26", 624.26),
        ("12345678901234567890", 12345678901234567890),
    ],
)
def test_numbers_held_exactly_are_read(token: str, expected: object) -> None:
    assert decode_json(f'{{"value": {token}, "id": "1234567890123456789"}}'.encode()) == {
        "value": expected,
        "id": "1234567890123456789",
    }


def test_plan_year_is_an_optional_strict_integer() -> None:
    assert validate_event(BAC_GIANG).plan_year is None
    assert validate_event({**BAC_GIANG, "plan_year": 2024}).plan_year == 2024
    assert validate_event({**BAC_GIANG, "plan_year": None}).plan_year is None
    for bad, code in (("2024", "wrong_type"), (2024.0, "wrong_type"), (True, "wrong_type"), (1800, "invalid_field")):
        with pytest.raises(SchemaError) as info:
            validate_event({**BAC_GIANG, "plan_year": bad})
        assert info.value.code == code and "plan_year" in str(info.value)


def test_plan_year_is_documented_in_both_languages() -> None:
    field = event_json_schema()["properties"]["plan_year"]
    assert "Năm kế hoạch" in field["description"] and "Plan year" in field["description"]
    assert {"type": "integer", "minimum": 1900, "maximum": 2999} in field["anyOf"]


def test_exact_check_works_at_any_depth_orjson_accepts() -> None:
    assert decode_json(b"[" * 1000 + b"0.0" + b"]" * 1000) is not None  # beyond the stdlib parser's recursion
    with pytest.raises(DuplicateKeyError):
        decode_json(b'{"a":' * 1000 + b'1,"a":2' + b"}" * 1000)
    with pytest.raises(InexactNumberError):
        decode_json(b"[" * 1000 + b"1e-400" + b"]" * 1000)
    assert decode_json(b'{"a":' * 1000 + b'1,"b":0.0' + b"}" * 1000) is not None
