"""Feed event schema v1 (the contract provincial feeds publish) and the orjson codec.

The schema checks shape and JSON types only; meaning (known indicator, unit, province, parsable number
and date) is checked downstream with ``shared.indicators``, ``shared.units``, ``shared.numbers`` and
``shared.vntime``. Unknown fields are accepted and ignored, so publishers may add their own metadata
without being rejected; they are not carried further.
"""

import json
import re
import sys
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from shared.indicators import CATALOGUE

__all__ = [
    "SCHEMA_ID",
    "DecodeError",
    "DuplicateKeyError",
    "FeedEvent",
    "InexactNumberError",
    "SchemaError",
    "SchemaErrorCode",
    "decode_json",
    "encode_json",
    "event_json_schema",
    "validate_event",
]

SCHEMA_ID: Final = "urn:tiendo:schema:feed-event:v1"
SchemaErrorCode = Literal["not_an_object", "missing_field", "wrong_type", "invalid_field"]

_AS_OF_PATTERN: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})?)?$"
)

_EXAMPLES: Final[tuple[dict[str, Any], ...]] = (
    {
        "event_id": "bg-2024-q1-ngansach",
        "province": "Bắc Giang",
        "indicator": "state_budget_revenue",
        "as_of": "2024-03-31",
        "value": "4.680",
        "unit": "tỷ đồng",
        "mode": "ytd",
        "source": "UBND tỉnh Bắc Giang, báo cáo quý I/2024",
    },
    {
        "event_id": "bacgiang-fdi-2024-03-15",
        "province": "Bac Giang province",
        "indicator": "investment_attracted",
        "as_of": "2024-03-15",
        "value": "624.26",
        "unit": "million USD",
        "mode": "ytd",
        "source": "Bac Giang People's Committee, Q1 2024 review",
    },
    {
        "event_id": "hp-giaingan-2024-w12",
        "province": "Hải Phòng",
        "indicator": "public_investment_disbursed",
        "as_of": "2024-03-22T17:00:00+07:00",
        "value": 120,
        "unit": "tỷ đồng",
        "mode": "delta",
        "revision": 1,
    },
    {
        "event_id": "ls-giaingan-von2024-2025-01-31",
        "province": "Lạng Sơn",
        "indicator": "public_investment_disbursed",
        "as_of": "2025-01-31",
        "plan_year": 2024,
        "value": "2.905,5",
        "unit": "tỷ đồng",
        "mode": "ytd",
        "source": "Vốn năm 2024 giải ngân đến 31/01/2025",
    },
)


class FeedEvent(BaseModel):
    """One figure a provincial feed publishes (schema v1). Strict JSON types; unknown fields ignored."""

    model_config = ConfigDict(
        strict=True,
        frozen=True,
        extra="ignore",
        title="tiendo feed event v1",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": SCHEMA_ID,
            "description": (
                "Một số liệu chỉ tiêu kế hoạch do một tỉnh/thành phố công bố. "
                "One plan-indicator figure published by a province. "
                "Trường lạ được chấp nhận và bỏ qua / unknown fields are accepted and ignored."
            ),
            "additionalProperties": True,
            "examples": list(_EXAMPLES),
        },
    )

    event_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            description=(
                "Mã sự kiện, duy nhất với mỗi nguồn công bố; gửi lại cùng mã là trùng lặp. "
                "Event id, unique per publisher; resending the same id is a duplicate."
            ),
        ),
    ]
    province: Annotated[
        str,
        Field(
            min_length=1,
            max_length=100,
            description=("Tỉnh/thành phố: tên (mọi cách viết) hoặc mã. Province name in any spelling, or its code."),
            examples=["Bắc Giang", "Bac Giang", "TP.HCM", "24"],
        ),
    ]
    indicator: Annotated[
        str,
        Field(
            min_length=1,
            max_length=100,
            description="Mã chỉ tiêu trong danh mục. Indicator id from the catalogue.",
            examples=list(CATALOGUE),
        ),
    ]
    as_of: Annotated[
        str,
        Field(
            min_length=10,
            max_length=40,
            pattern=_AS_OF_PATTERN,
            description=(
                "Thời điểm số liệu áp dụng, ISO 8601. Ngày (2024-03-31) là cuối ngày giờ Việt Nam; "
                "giờ không có múi giờ là giờ Việt Nam. "
                "When the figure applies, ISO 8601. A date means the end of that day in Vietnam time; "
                "a date-time without offset is Vietnam local time."
            ),
            examples=["2024-03-31", "2024-03-31T17:00:00+07:00", "2024-03-31T10:00:00Z"],
        ),
    ]
    value: Annotated[
        int | Annotated[float, Field(allow_inf_nan=False)] | Annotated[str, Field(min_length=1, max_length=40)],
        Field(
            description=(
                "Giá trị: số JSON hoặc chuỗi số kiểu Việt (4.680 ; 1.234,5) hoặc Anh (4,680 ; 1,234.5). "
                "Số lớn hơn 2^53 nên gửi dạng chuỗi. "
                "Value: a JSON number or a numeric string in Vietnamese or English notation; "
                "send integers above 2^53 as strings. Booleans are rejected."
            ),
            examples=[4680, 624.26, "4.680", "1.234,5", "1,234.5"],
        ),
    ]
    unit: Annotated[
        str,
        Field(
            min_length=1,
            max_length=50,
            description="Đơn vị. Unit, e.g. tỷ đồng, billion VND, triệu USD, ha, hộ, %.",
            examples=["tỷ đồng", "billion VND", "triệu USD", "ha", "hộ", "%"],
        ),
    ]
    mode: Annotated[
        Literal["delta", "ytd"],
        Field(
            description=(
                "delta: phần tăng thêm; ytd: lũy kế từ đầu năm. "
                "delta: an increment; ytd: the cumulative year-to-date total."
            )
        ),
    ]
    source: Annotated[
        str | None,
        Field(
            max_length=500,
            description="Nguồn số liệu (văn bản, báo cáo). Where the figure comes from.",
        ),
    ] = None
    plan_year: Annotated[
        int | None,
        Field(
            ge=1900,
            le=2999,
            description=(
                "Năm kế hoạch của số liệu; mặc định là năm của as_of (giờ Việt Nam). Chỉ được sớm hơn năm "
                "của as_of một năm với chỉ tiêu có năm kế hoạch kéo dài qua 31/12: vốn đầu tư công năm N giải ngân "
                "đến 31/01/N+1 (public_investment_disbursed). "
                "Plan year the figure belongs to; default: the year of as_of in Vietnam time. It may be one year "
                "before the as_of year only for an indicator whose plan year runs past 31 December: capital of "
                "plan year N is disbursed until 31 January N+1 (public_investment_disbursed)."
            ),
            examples=[2024],
        ),
    ] = None
    revision: Annotated[
        int,
        Field(
            ge=0,
            description=(
                "Lần sửa đổi; bản có số lớn hơn thay thế bản trước cùng event_id. "
                "Revision number; a higher revision replaces the earlier one with the same event_id."
            ),
        ),
    ] = 0
    confirmed: Annotated[
        bool,
        Field(
            description=(
                "Xác nhận số liệu bất thường: gửi lại (với revision cao hơn) một số liệu bị từ chối vì lệch "
                "khoảng 1000 lần so với số liệu trước của chuỗi (implausible_value) khi số liệu đó là đúng. "
                "Confirms a figure refused as implausible_value (about 1000x off the series' previous reading): "
                "re-send it with a higher revision and confirmed true when it is right."
            ),
        ),
    ] = False


_FIELDS: Final = tuple(FeedEvent.model_fields)
_EXPECTED: Final[Mapping[str, str]] = {
    "value": "a number or a numeric string",
    "mode": "the string 'delta' or 'ytd'",
    "source": "a string or null",
    "revision": "a non-negative integer",
    "plan_year": "an integer year or null",
    "confirmed": "true or false",
}
_JSON_TYPE: Final[Mapping[type, str]] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


class SchemaError(ValueError):
    """An event that does not match schema v1; ``code`` is machine-readable, ``fields`` names the culprits."""

    def __init__(self, code: SchemaErrorCode, message: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.code: SchemaErrorCode = code
        self.fields = fields


class DecodeError(ValueError):
    """Bytes that are not a single valid JSON document."""


class DuplicateKeyError(DecodeError):
    """A JSON object names the same key twice (at any depth); ``key`` is that key.

    JSON parsers silently keep one of the two values (orjson the last), so such an event cannot be trusted.
    """

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key!r} occurs twice in one JSON object; which value was meant is unknowable")
        self.key = key


class InexactNumberError(DecodeError):
    """A JSON number a float cannot hold as written (``1e-400`` would read as 0, ``0.1000000000000000001`` as 0.1).

    ``token`` is the number as written.
    """

    def __init__(self, token: str) -> None:
        shown = token if len(token) <= 40 else token[:40] + "…"
        super().__init__(
            f"the JSON number {shown} cannot be read exactly (it would become {float(token)!r}); "
            'send it as a string such as "0.5" or "1.234,5"'
        )
        self.token = token


def validate_event(obj: object) -> FeedEvent:
    """Validate a decoded JSON value as a FeedEvent; raise SchemaError naming the first bad field."""
    if not isinstance(obj, dict):
        raise SchemaError("not_an_object", f"an event must be a JSON object, not {_json_type(obj)}")
    try:
        return FeedEvent.model_validate(obj)
    except ValidationError as exc:
        raise _schema_error(exc.errors(include_url=False)) from exc


def event_json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of FeedEvent v1."""
    return FeedEvent.model_json_schema()


def decode_json(raw: bytes) -> object:
    """Parse one JSON document; raise DecodeError with orjson's position message otherwise.

    Stricter than JSON parsers: a key repeated in one object (at any depth) raises DuplicateKeyError, and a
    number a float cannot hold as written (underflow to 0 or a subnormal, more significant digits than a float
    keeps) raises InexactNumberError. orjson parses; cheap counts of the keys and a look at the floats decide
    whether the exact re-check with the standard library (which sees every key and number token) must run.
    """
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not valid JSON: {exc}") from exc
    keys, floats = _scan(obj)
    if (
        floats == _SUSPECT
        or (floats == _SOME_FLOATS and _LONG_RUN in raw.translate(_DIGIT_RUNS))
        or _written_keys_bound(raw) != keys
    ):
        _exact_check(raw)
    return obj


#: Digits and points to "0", everything else to a space: 16 zeros in a row mean a number of 16 or more significant
#: digits may have been written (more than a float keeps), and the exact re-check must look.
_DIGIT_RUNS: Final = bytes(48 if chr(i) in "0123456789." else 32 for i in range(256))
_LONG_RUN: Final = b"0" * 16
_FLOAT_MIN: Final = sys.float_info.min
_NO_FLOATS, _SOME_FLOATS, _SUSPECT = 0, 1, 2


def _written_keys_bound(raw: bytes) -> int:
    """An upper bound of the keys written in ``raw``: quote-colon pairs once whitespace is gone. JSON text has
    a quote then a colon only at a key's end or as an escaped quote in a string, so the bound equals the parsed
    key count only when no object repeats a key."""
    return raw.translate(None, b" \t\r\n").count(b'":')


def _scan(obj: object) -> tuple[int, int]:
    """Count the keys of every object; say whether there are floats and whether one may have underflowed."""
    keys, floats, stack = 0, _NO_FLOATS, [obj]
    while stack:
        item = stack.pop()
        values = item.values() if type(item) is dict else item if type(item) is list else (item,)
        if type(item) is dict:
            keys += len(item)
        for value in values:
            kind = type(value)
            if isinstance(value, float):
                floats = max(floats, _SUSPECT if -_FLOAT_MIN < value < _FLOAT_MIN else _SOME_FLOATS)
            elif kind is dict or kind is list:
                stack.append(value)
    return keys, floats


#: The tokens of valid JSON text that matter to the exact check: strings, brackets, colons and numbers.
_TOKENS: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]:]|-?[0-9][0-9.eE+-]*', re.DOTALL)


def _exact_check(raw: bytes) -> None:
    """Raise DuplicateKeyError for a key repeated in one object of ``raw`` (valid JSON: orjson read it),
    InexactNumberError for a number a float cannot hold as written.

    The standard library's parser sees every key pair and float token (~5 µs for an event); nesting too deep for
    its recursion falls back to a token walk with an explicit stack (~15 µs for an event, any depth).
    """
    try:
        json.loads(raw, object_pairs_hook=_unique_pairs, parse_float=_exact_float)
    except RecursionError:
        _walk_tokens(raw)
    except (DuplicateKeyError, InexactNumberError):
        raise
    except ValueError as exc:  # orjson accepted it: only limits differ (e.g. integers of over 4,300 digits)
        raise DecodeError(f"not valid JSON: {exc}") from exc


def _unique_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return out


def _exact_float(token: str) -> float:
    value = float(token)
    if Decimal(token) != Decimal(repr(value)):
        raise InexactNumberError(token)
    return value


def _walk_tokens(raw: bytes) -> None:
    """The exact check over the tokens of valid JSON ``raw``, with an explicit stack of open objects."""
    objects: list[set[str] | None] = []
    previous = b""
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token == b":":
            key = orjson.loads(previous)  # the string token before a colon: the key, escapes decoded
            keys = objects[-1]
            if keys is not None:
                if key in keys:
                    raise DuplicateKeyError(key)
                keys.add(key)
        elif token == b"{":
            objects.append(set())
        elif token == b"[":
            objects.append(None)
        elif token in (b"}", b"]"):
            objects.pop()
        elif token[0] != 0x22 and (b"." in token or b"e" in token or b"E" in token):
            _exact_float(token.decode("ascii"))
        previous = token


def encode_json(obj: object) -> bytes:
    """Serialise to JSON bytes: Decimal as a plain-notation string (zero unsigned), pydantic models as objects.

    date and datetime are written natively by orjson as ISO 8601 / RFC 3339 text.
    """
    return orjson.dumps(obj, default=_default)


def _default(obj: object) -> object:
    if isinstance(obj, Decimal):
        return format(obj.copy_abs() if obj.is_zero() else obj, "f")  # no "-0"
    if isinstance(obj, BaseModel):
        return obj.model_dump()
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def _json_type(value: object) -> str:
    return _JSON_TYPE.get(type(value), type(value).__name__)


def _schema_error(errors: list[ErrorDetails]) -> SchemaError:
    by_field: dict[str, ErrorDetails] = {}
    for error in errors:
        field = str(error["loc"][0]) if error["loc"] else "event"
        current = by_field.get(field)
        # For the value union, prefer a constraint error of the matching branch over type errors.
        if current is None or (_is_type_error(current) and not _is_type_error(error)):
            by_field[field] = error
    ordered = sorted(by_field, key=lambda f: _FIELDS.index(f) if f in _FIELDS else len(_FIELDS))
    first = by_field[ordered[0]]
    kind = first["type"]
    if kind == "missing":
        missing = tuple(f for f in ordered if by_field[f]["type"] == "missing")
        code: SchemaErrorCode = "missing_field"
        message = f"missing required field{'s' if len(missing) > 1 else ''} {_names(missing)}"
    elif _is_type_error(first):
        code = "wrong_type"
        expected = _EXPECTED.get(ordered[0], "a string")
        message = f"field '{ordered[0]}' must be {expected}, not {_json_type(first['input'])}"
    else:
        code = "invalid_field"
        message = f"field '{ordered[0]}' is invalid: {_describe(ordered[0], first)}"
    others = [f for f in ordered[1:] if not (code == "missing_field" and by_field[f]["type"] == "missing")]
    if others:
        message += f" (also invalid: {_names(others)})"
    return SchemaError(code, message, tuple(ordered))


def _names(fields: Iterable[str]) -> str:
    return ", ".join(f"'{field}'" for field in fields)


def _is_type_error(error: ErrorDetails) -> bool:
    kind = error["type"]
    return kind.endswith("_type") or (kind == "literal_error" and not isinstance(error["input"], str))


def _describe(field: str, error: ErrorDetails) -> str:
    if error["type"] == "string_pattern_mismatch" and field == "as_of":
        return "expected an ISO 8601 date (2024-03-31) or date-time (2024-03-31T17:00:00+07:00)"
    return error["msg"][0].lower() + error["msg"][1:]
