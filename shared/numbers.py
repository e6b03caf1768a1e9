"""Exact parsing of the numbers provincial feeds publish, in Vietnamese or English notation.

Vietnamese writes ``1.234.567,5`` (dot groups thousands, comma marks decimals); English writes
``1,234,567.5``. Spaces (plain, no-break, thin) may also group thousands: ``1 234,5``. The notation is
read from the text itself whenever it is unambiguous; only a single separator followed by exactly three
digits (``4,680``, ``4.680``) needs the publisher's language to decide.

Text is digits, separators and an optional sign only: no exponent (``1E5``, ``1e-400`` are not numbers
here; a JSON number may use one, see ``shared.events.decode_json``), no currency or unit. Zero has no sign:
``-0`` and ``-0,0`` are 0.
"""

import math
import re
from decimal import Decimal
from typing import Final, Literal

__all__ = ["MAX_MAGNITUDE", "MAX_TEXT_LENGTH", "NumberError", "NumberErrorCode", "parse_number"]

NumberErrorCode = Literal["not_a_number", "ambiguous_number", "non_finite", "too_large"]

MAX_TEXT_LENGTH: Final = 40
MAX_MAGNITUDE: Final = Decimal(10**24)

_INT_LIMIT: Final = 10**24
_SPACES: Final = frozenset(" \u00a0\u2007\u2009\u202f")
_SPLIT: Final = re.compile(r"([.,\u0020\u00a0\u2007\u2009\u202f])")
_DIGITS: Final = re.compile(r"[0-9]+")
_NON_FINITE: Final = frozenset({"nan", "snan", "inf", "infinity"})
_DECIMAL_SEP: Final = {"en": ".", "vi": ","}


class NumberError(ValueError):
    """A value that is not an acceptable number; ``code`` says why, the message says it for humans."""

    def __init__(self, code: NumberErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: NumberErrorCode = code


def parse_number(raw: object, lang: Literal["vi", "en"] | None) -> Decimal:
    """Return ``raw`` (int, finite float, Decimal or numeric text) as an exact Decimal.

    ``lang`` only decides the ambiguous one-separator-three-digits case (``"4,680"``: en → 4680,
    vi → 4.68); with ``lang=None`` that case raises ``NumberError("ambiguous_number")``.
    Raises only NumberError.
    """
    if isinstance(raw, bool):
        raise NumberError("not_a_number", f"a boolean ({raw}) is not a number")
    if isinstance(raw, int):
        if abs(raw) > _INT_LIMIT:
            raise NumberError("too_large", "integer magnitude exceeds 10^24")
        return Decimal(raw)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise NumberError("non_finite", f"{raw!r} is not a finite number")
        return _bounded(Decimal(repr(raw)), repr(raw))
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            raise NumberError("non_finite", f"{raw!r} is not a finite number")
        return _bounded(raw, str(raw))
    if isinstance(raw, str):
        return _bounded(_parse_text(raw, lang), raw)
    raise NumberError("not_a_number", f"a value of type {type(raw).__name__} is not a number")


def _bounded(value: Decimal, shown: str) -> Decimal:
    if abs(value) > MAX_MAGNITUDE:
        raise NumberError("too_large", f"{shown!r} exceeds the largest accepted magnitude 10^24")
    return value.copy_abs() if value.is_zero() else value  # no negative zero: "-0" would print as "-0"


def _parse_text(raw: str, lang: Literal["vi", "en"] | None) -> Decimal:
    if len(raw) > MAX_TEXT_LENGTH:
        raise NumberError("not_a_number", f"number text is {len(raw)} characters long (at most 40)")
    text = raw.strip()
    if not text:
        raise NumberError("not_a_number", "empty text is not a number")
    sign = ""
    if text[0] in "+-\u2212":
        sign = "" if text[0] == "+" else "-"
        text = text[1:]
    if text.casefold() in _NON_FINITE:
        raise NumberError("non_finite", f"{raw!r} is not a finite number")
    tokens = _SPLIT.split(text)
    groups = tokens[0::2]
    if not all(_DIGITS.fullmatch(group) for group in groups):
        raise NumberError(
            "not_a_number",
            f"{raw!r} is not a number (expected digits with '.', ',' or space separators)",
        )
    seps = [" " if sep in _SPACES else sep for sep in tokens[1::2]]
    integer, fraction = _split_decimal(raw, groups, seps, lang)
    if len(integer) > 1 and not (
        1 <= len(integer[0]) <= 3 and integer[0][0] != "0" and all(len(g) == 3 for g in integer[1:])
    ):
        raise NumberError("not_a_number", f"{raw!r} has wrong digit grouping (groups of three expected)")
    digits = "".join(integer) + ("." + fraction if fraction is not None else "")
    return Decimal(sign + digits)


def _split_decimal(
    raw: str, groups: list[str], seps: list[str], lang: Literal["vi", "en"] | None
) -> tuple[list[str], str | None]:
    """Split digit groups into thousands groups and the fraction, deciding which separator is decimal."""
    if not seps:
        return groups, None
    last = seps[-1]
    others = set(seps[:-1])
    if last == " " or last in others:
        if others | {last} != {last}:
            raise NumberError("not_a_number", f"{raw!r} mixes different thousands separators")
        return groups, None
    if len(others) > 1:
        raise NumberError("not_a_number", f"{raw!r} mixes different thousands separators")
    if others:
        return groups[:-1], groups[-1]
    head, tail = groups
    if len(tail) != 3 or len(head) > 3 or head[0] == "0":
        return [head], tail
    if lang is None:
        as_decimal, as_thousands = f"{head}.{tail}", f"{head}{tail}"
        en, vi = (as_decimal, as_thousands) if last == "." else (as_thousands, as_decimal)
        raise NumberError(
            "ambiguous_number",
            f"{raw!r} is ambiguous: {en} in English notation but {vi} in Vietnamese notation; "
            "the publisher's language (vi or en) must decide",
        )
    return ([head], tail) if last == _DECIMAL_SEP[lang] else ([head, tail], None)
