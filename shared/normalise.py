"""Feed event → normalised ``IndicatorUpdate``, or a typed ``Rejection`` saying why not. Pure, no Kafka."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from shared.events import DecodeError, SchemaError, decode_json, validate_event
from shared.indicators import UnitMismatchError, UnknownIndicatorError, get_indicator
from shared.numbers import NumberError, parse_number
from shared.provinces import UnknownProvinceError, registry
from shared.units import UnknownUnitError, lookup_unit
from shared.updates import IndicatorUpdate, Origin
from shared.vntime import VN_TZ, DateError, parse_as_of, quarter_of

#: Events dated before this year are impossible for this system (no plan data that old).
MIN_YEAR = 2000
#: How far past the broker timestamp an ``as_of`` may lie (clock skew between offices and the broker).
FUTURE_TOLERANCE = timedelta(days=1)
#: JSON numbers from this magnitude on cannot be held exactly by a float (and orjson reads integers beyond
#: 64 bits as floats): such values must come as strings.
_EXACT_FLOAT_LIMIT = 2.0**53
#: Largest message the worker parses; bigger ones go to the dead-letter topic unparsed.
MAX_EVENT_BYTES = 64 * 1024


class Reason(StrEnum):
    """Machine-readable dead-letter reason codes (a closed set: safe as a metric label)."""

    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_FIELD = "invalid_field"
    UNKNOWN_INDICATOR = "unknown_indicator"
    UNKNOWN_PROVINCE = "unknown_province"
    IMPOSSIBLE_DATE = "impossible_date"
    UNKNOWN_UNIT = "unknown_unit"
    UNIT_MISMATCH = "unit_mismatch"
    NEGATIVE_VALUE = "negative_value"
    AMBIGUOUS_NUMBER = "ambiguous_number"
    INVALID_NUMBER = "invalid_number"


@dataclass(frozen=True, slots=True)
class Rejection(Exception):  # noqa: N818 - a result as much as an error
    """Why an event cannot be used: a reason code and one human sentence."""

    reason: Reason
    message: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def normalise(raw: bytes | None, origin: Origin, received_at: datetime) -> IndicatorUpdate:
    """Validate and normalise one feed message; raise ``Rejection`` for anything unusable, nothing else."""
    if raw is None:
        raise Rejection(Reason.NOT_JSON, "the message has no value (null)")
    if len(raw) > MAX_EVENT_BYTES:
        raise Rejection(Reason.TOO_LARGE, f"event is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}")
    try:
        event = validate_event(decode_json(raw))
    except DecodeError as exc:
        raise Rejection(Reason.NOT_JSON, str(exc)) from None
    except SchemaError as exc:
        raise Rejection(Reason(exc.code), str(exc)) from None
    try:
        indicator = get_indicator(event.indicator)
    except UnknownIndicatorError as exc:
        raise Rejection(Reason.UNKNOWN_INDICATOR, str(exc)) from None
    try:
        as_of = parse_as_of(event.as_of)
    except DateError as exc:
        raise Rejection(Reason.IMPOSSIBLE_DATE, str(exc)) from None
    if as_of.year < MIN_YEAR:
        raise Rejection(Reason.IMPOSSIBLE_DATE, f"as_of {event.as_of} is before {MIN_YEAR}")
    if as_of > received_at + FUTURE_TOLERANCE:
        raise Rejection(
            Reason.IMPOSSIBLE_DATE,
            f"as_of {event.as_of} is more than a day after the broker received the event ({received_at:%Y-%m-%d})",
        )
    try:
        unit = lookup_unit(event.unit)
    except UnknownUnitError as exc:
        raise Rejection(Reason.UNKNOWN_UNIT, str(exc)) from None
    if isinstance(event.value, float) and abs(event.value) >= _EXACT_FLOAT_LIMIT:
        raise Rejection(
            Reason.INVALID_NUMBER,
            f"value {event.value!r} is too large for an exact JSON number; send numbers of 2^53 or more as strings",
        )
    try:
        value = indicator.convert(parse_number(event.value, unit.lang), unit)
    except NumberError as exc:
        reason = Reason.AMBIGUOUS_NUMBER if exc.code == "ambiguous_number" else Reason.INVALID_NUMBER
        raise Rejection(reason, f"value {event.value!r}: {exc}") from None
    except UnitMismatchError as exc:
        raise Rejection(Reason.UNIT_MISMATCH, str(exc)) from None
    if indicator.nonnegative and value < 0:
        raise Rejection(Reason.NEGATIVE_VALUE, f"{indicator.id} cannot be negative (value {event.value!r})")
    day = as_of.astimezone(VN_TZ).date()
    reg = registry()
    try:
        province = reg.resolve(event.province, on=day)
    except UnknownProvinceError as exc:
        raise Rejection(Reason.UNKNOWN_PROVINCE, str(exc)) from None
    year, quarter = quarter_of(as_of)
    return IndicatorUpdate(
        event_id=event.event_id,
        revision=event.revision,
        publisher=origin.topic,
        unit=province.uid,
        province_code=province.code,
        current_code=reg.rollup(province.code, on=day).code,
        indicator=indicator.id,
        mode=event.mode,
        value=value,
        as_of=as_of,
        year=year,
        quarter=quarter,
        source=event.source,
        origin=origin,
        received_at=received_at,
    )


class Seen(StrEnum):
    """What the dedupe state says about an update."""

    NEW = "new"
    CORRECTION = "correction"
    DUPLICATE = "duplicate"


def dedupe(revision: int, seen_revision: int | None) -> Seen:
    """Same ``event_id`` with the same or a lower revision is a duplicate; a higher one is a correction."""
    if seen_revision is None:
        return Seen.NEW
    return Seen.CORRECTION if revision > seen_revision else Seen.DUPLICATE


@dataclass(frozen=True, slots=True)
class RawEvent:
    """A feed message as read from Kafka: its value bytes, position and broker timestamp."""

    value: bytes | None
    origin: Origin
    received_at: datetime


@dataclass(slots=True)
class Triage:
    """A batch sorted into what to publish, what to dead-letter, and what the dedupe state must remember."""

    accepted: list[tuple[int, IndicatorUpdate, Seen]] = field(default_factory=list)
    rejected: list[tuple[int, Rejection]] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    #: identity → (highest revision now seen, index of the message that carried it)
    remember: dict[str, tuple[int, int]] = field(default_factory=dict)


def triage(batch: Sequence[RawEvent], seen_revision: Callable[[str], int | None]) -> Triage:
    """Normalise and deduplicate a batch in order; ``seen_revision`` looks an identity up in the dedupe state."""
    out = Triage()
    for index, raw in enumerate(batch):
        try:
            update = normalise(raw.value, raw.origin, raw.received_at)
        except Rejection as rejection:
            out.rejected.append((index, rejection))
            continue
        identity = update.identity
        known = out.remember.get(identity)
        seen = dedupe(update.revision, known[0] if known else seen_revision(identity))
        if seen is Seen.DUPLICATE:
            out.duplicates.append(index)
            continue
        out.accepted.append((index, update, seen))
        out.remember[identity] = (update.revision, index)
    return out
