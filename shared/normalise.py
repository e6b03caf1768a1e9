"""Feed event → normalised ``IndicatorUpdate``, or a typed ``Rejection`` saying why not. Pure, no Kafka."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Final

from shared.events import (
    DecodeError,
    DuplicateKeyError,
    FeedEvent,
    InexactNumberError,
    SchemaError,
    decode_json,
    validate_event,
)
from shared.indicators import (
    FractionalCountError,
    Indicator,
    UnitMismatchError,
    UnknownIndicatorError,
    get_indicator,
)
from shared.numbers import NumberError, parse_number
from shared.provinces import UnknownProvinceError, registry
from shared.units import UnknownUnitError, lookup_unit
from shared.updates import IndicatorUpdate, Origin
from shared.vntime import PLAN_TAIL_QUARTER, VN_TZ, DateError, parse_as_of, quarter_of

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
    DUPLICATE_KEY = "duplicate_key"
    """A JSON object names one key twice: which value was meant is unknowable."""
    FORMER_PROVINCE = "former_province"
    """A year-to-date figure for a former province that is now only part of a merged one."""
    IMPLAUSIBLE_VALUE = "implausible_value"
    """A reading the aggregate worker finds implausible against the series (set there, not by ``normalise``)."""
    DEDUPE_FULL = "dedupe_full"
    """A new event id while ingest's dedupe state holds its limit of ids (set by ``triage``): replayable."""
    SERIES_FULL = "series_full"
    """A new event identity for a series that already remembers its limit (set by the aggregate worker)."""


AFTER_INGEST: Final = frozenset({Reason.IMPLAUSIBLE_VALUE, Reason.SERIES_FULL})
"""Reasons the aggregate worker sets on updates ingest accepted: replaying them to their feed would be a duplicate."""


@dataclass(frozen=True, slots=True)
class Rejection(Exception):  # noqa: N818 - a result as much as an error
    """Why an event cannot be used: a reason code and one human sentence."""

    reason: Reason
    message: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def normalise(raw: bytes | None, origin: Origin, received_at: datetime) -> IndicatorUpdate:
    """Validate and normalise one feed message; raise ``Rejection`` for anything unusable, nothing else."""
    event = _decode(raw)
    try:
        indicator = get_indicator(event.indicator)
    except UnknownIndicatorError as exc:
        raise Rejection(Reason.UNKNOWN_INDICATOR, str(exc)) from None
    as_of = _as_of(event.as_of, received_at)
    day = as_of.astimezone(VN_TZ).date()
    plan_year = _plan_year(event.plan_year, indicator, day)
    value = _value(event.value, event.unit, indicator)
    reg = registry()
    try:
        province = reg.resolve(event.province, on=day)
        former = reg.former_part(event.province, on=day) if event.mode == "ytd" else None
    except UnknownProvinceError as exc:
        raise Rejection(Reason.UNKNOWN_PROVINCE, str(exc)) from None
    if former is not None:
        raise Rejection(
            Reason.FORMER_PROVINCE,
            f"{former.name} became part of {province.name} on {former.valid_to}; a year-to-date figure must cover "
            f"the whole province: send it for {province.name} (or send this territory's increments with mode delta)",
        )
    year, quarter = (plan_year, PLAN_TAIL_QUARTER) if plan_year < day.year else quarter_of(as_of)
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
        confirmed=event.confirmed,
    )


def _decode(raw: bytes | None) -> FeedEvent:
    if raw is None:
        raise Rejection(Reason.NOT_JSON, "the message has no value (null)")
    if len(raw) > MAX_EVENT_BYTES:
        raise Rejection(Reason.TOO_LARGE, f"event is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}")
    try:
        return validate_event(decode_json(raw))
    except DuplicateKeyError as exc:
        raise Rejection(Reason.DUPLICATE_KEY, str(exc)) from None
    except InexactNumberError as exc:
        raise Rejection(Reason.INVALID_NUMBER, str(exc)) from None
    except DecodeError as exc:
        raise Rejection(Reason.NOT_JSON, str(exc)) from None
    except SchemaError as exc:
        raise Rejection(Reason(exc.code), str(exc)) from None


def _as_of(text: str, received_at: datetime) -> datetime:
    try:
        as_of = parse_as_of(text)
    except DateError as exc:
        raise Rejection(Reason.IMPOSSIBLE_DATE, str(exc)) from None
    if as_of.astimezone(VN_TZ).year < MIN_YEAR:  # the year in Vietnam, as quarters are
        raise Rejection(Reason.IMPOSSIBLE_DATE, f"as_of {text} is before {MIN_YEAR} in Vietnam time")
    if as_of > received_at + FUTURE_TOLERANCE:
        raise Rejection(
            Reason.IMPOSSIBLE_DATE,
            f"as_of {text} is more than a day after the broker received the event ({received_at:%Y-%m-%d})",
        )
    return as_of


def _plan_year(given: int | None, indicator: Indicator, day: date) -> int:
    """The plan year of a figure dated ``day`` (Vietnam): ``given`` if allowed, else the year of ``day``."""
    if given is None or given == day.year:
        return day.year
    if given > day.year:
        raise Rejection(Reason.INVALID_FIELD, f"plan_year {given} is after the year of as_of ({day.isoformat()})")
    if given < day.year - 1:
        raise Rejection(
            Reason.INVALID_FIELD,
            f"plan_year {given} is too old for as_of {day.isoformat()}: at most one year before the as_of year",
        )
    end = indicator.plan_year_end(given)
    if end.year == given:
        raise Rejection(
            Reason.INVALID_FIELD,
            f"plan_year {given} of {indicator.id} ended on {end.isoformat()}, before as_of {day.isoformat()}; "
            "only public investment disbursement runs past 31 December",
        )
    if day > end:
        raise Rejection(
            Reason.INVALID_FIELD,
            f"plan_year {given} of {indicator.id} ended on {end.isoformat()}, before as_of {day.isoformat()}",
        )
    return given


def _check_count_text(raw: str) -> None:
    """A count read as ``1.000`` or ``1,000`` with three decimal zeros is 1 only in one notation and 1000 in the
    other: counts are whole, so nobody writes three decimals on purpose; refuse rather than read 1000 as 1."""
    try:
        parse_number(raw, None)
    except NumberError as exc:
        if exc.code == "ambiguous_number":
            raise NumberError(
                "ambiguous_number",
                f"{exc} (the unit's language reads it with three decimal zeros, which a count never has; "
                "write the whole number without separators)",
            ) from None


def _value(raw: int | float | str, unit_text: str, indicator: Indicator) -> Decimal:
    try:
        unit = lookup_unit(unit_text)
    except UnknownUnitError as exc:
        raise Rejection(Reason.UNKNOWN_UNIT, str(exc)) from None
    if isinstance(raw, float) and abs(raw) >= _EXACT_FLOAT_LIMIT:
        raise Rejection(
            Reason.INVALID_NUMBER,
            f"value {raw!r} is too large for an exact JSON number; send numbers of 2^53 or more as strings",
        )
    try:
        number = parse_number(raw, unit.lang)
        value = indicator.convert(number, unit)
        if not (indicator.nonnegative and value < 0):  # the plainer problem first: -0.5 jobs is negative
            indicator.check_whole(value)
            if indicator.whole_numbers and isinstance(raw, str) and number.as_tuple().exponent == -3:
                _check_count_text(raw)
    except FractionalCountError as exc:
        raise Rejection(Reason.INVALID_NUMBER, f"value {raw!r}: {exc}") from None
    except NumberError as exc:
        reason = Reason.AMBIGUOUS_NUMBER if exc.code == "ambiguous_number" else Reason.INVALID_NUMBER
        raise Rejection(reason, f"value {raw!r}: {exc}") from None
    except UnitMismatchError as exc:
        raise Rejection(Reason.UNIT_MISMATCH, str(exc)) from None
    if indicator.nonnegative and value < 0:
        raise Rejection(Reason.NEGATIVE_VALUE, f"{indicator.id} cannot be negative (value {raw!r})")
    return value


_DEDUPE_FULL: Final = Rejection(
    Reason.DEDUPE_FULL,
    "the dedupe state holds its limit of event ids (TIENDO_DEDUPE_MAX_IDS), so a redelivery of this new one could "
    "not be recognised; replay it (tiendo dlq replay --reason dedupe_full) once expired ids make room or the "
    "limit is raised",
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


def triage(batch: Sequence[RawEvent], seen_revision: Callable[[str], int | None], *, room: int) -> Triage:
    """Normalise and deduplicate a batch in order; ``seen_revision`` looks an identity up in the dedupe state,
    which can remember ``room`` more identities (none if ``room`` ≤ 0). A new identity beyond that is dead-lettered
    (``DEDUPE_FULL``): accepting it unremembered would let its redelivery count twice."""
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
        if seen is Seen.NEW:
            if room <= 0:
                out.rejected.append((index, _DEDUPE_FULL))
                continue
            room -= 1
        out.accepted.append((index, update, seen))
        out.remember[identity] = (update.revision, index)
    return out
