"""Time as Vietnamese reports mean it: calendar quarters and years in Asia/Ho_Chi_Minh (UTC+7, no DST).

All functions work with aware datetimes; a naive datetime is rejected rather than guessed at, except
in ``parse_as_of`` where naive text is Vietnam local time by contract. Years outside
MIN_YEAR..MAX_YEAR (1900..2999) are rejected, which also keeps every conversion in datetime's range.
"""

import re
from datetime import UTC, datetime, time
from typing import Final
from zoneinfo import ZoneInfo

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "MONTH_NAMES",
    "PLAN_TAIL_QUARTER",
    "VN_TZ",
    "DateError",
    "elapsed_fraction",
    "iso",
    "parse_as_of",
    "parse_iso",
    "period_label",
    "previous_quarter",
    "quarter_bounds",
    "quarter_of",
    "year_bounds",
]

VN_TZ: Final = ZoneInfo("Asia/Ho_Chi_Minh")
#: English month names, for dates in alert texts and the digest ("31 December").
MONTH_NAMES: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
#: Quarter 5, "Q4+": January of year+1 as the tail of plan year ``year`` (capital of plan year N may be disbursed
#: until 31 January N+1).
PLAN_TAIL_QUARTER: Final = 5
MIN_YEAR: Final = 1900
MAX_YEAR: Final = 2999

_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATE_TIME: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?", re.ASCII
)


class DateError(ValueError):
    """An unusable date, time, year or quarter."""


def parse_as_of(text: str) -> datetime:
    """Parse an ``as_of`` ISO 8601 date or date-time into an aware datetime.

    A date (``2024-03-31``) means the end of that day in Vietnam (23:59:59.999999+07:00); a date-time
    with ``Z`` or an offset is kept as given; a naive date-time is Vietnam local time.
    """
    if not isinstance(text, str):
        raise DateError(f"as_of must be a string, not {type(text).__name__}")
    stripped = text.strip()
    date_only = _DATE.fullmatch(stripped) is not None
    if not (date_only or _DATE_TIME.fullmatch(stripped)):
        raise DateError(
            f"as_of {text[:60]!r} is not an ISO 8601 date (2024-03-31) or date-time (2024-03-31T17:00:00+07:00)"
        )
    if stripped.endswith("z"):  # the schema pattern allows [Zz]; fromisoformat knows only "Z"
        stripped = stripped[:-1] + "Z"
    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError as exc:
        raise DateError(f"as_of {text!r} is not a valid calendar date or time: {exc}") from exc
    _check_year(parsed.year)
    if date_only:
        return datetime.combine(parsed.date(), time.max, VN_TZ)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=VN_TZ)
    _check_year(parsed.astimezone(VN_TZ).year)
    return parsed


def quarter_of(instant: datetime) -> tuple[int, int]:
    """Return ``(year, quarter)`` of ``instant`` in Vietnam time."""
    local = _aware(instant, "instant").astimezone(VN_TZ)
    return local.year, (local.month - 1) // 3 + 1


def quarter_bounds(year: int, quarter: int) -> tuple[datetime, datetime]:
    """Return ``[start, end)`` of the quarter in Vietnam time; quarter 5 (Q4+) is January of ``year + 1``."""
    _check_year(year)
    _check_quarter(quarter, tail=True)
    if quarter == PLAN_TAIL_QUARTER:
        _check_year(year + 1)
        return datetime(year + 1, 1, 1, tzinfo=VN_TZ), datetime(year + 1, 2, 1, tzinfo=VN_TZ)
    start = datetime(year, 3 * quarter - 2, 1, tzinfo=VN_TZ)
    end = datetime(year + 1, 1, 1, tzinfo=VN_TZ) if quarter == 4 else datetime(year, 3 * quarter + 1, 1, tzinfo=VN_TZ)
    return start, end


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """Return ``[start, end)`` of the calendar year in Vietnam time."""
    _check_year(year)
    return datetime(year, 1, 1, tzinfo=VN_TZ), datetime(year + 1, 1, 1, tzinfo=VN_TZ)


def elapsed_fraction(instant: datetime, start: datetime, end: datetime) -> float:
    """Return the part of ``[start, end)`` elapsed at ``instant``, clamped to ``[0, 1]``."""
    now, lo, hi = (
        _aware(t, name).astimezone(UTC) for t, name in ((instant, "instant"), (start, "start"), (end, "end"))
    )
    if hi <= lo:
        raise DateError(f"period end {end.isoformat()} is not after its start {start.isoformat()}")
    return min(1.0, max(0.0, (now - lo) / (hi - lo)))


def previous_quarter(year: int, quarter: int) -> tuple[int, int]:
    """Return ``(year, quarter)`` of the quarter before the given one (before Q4+ comes Q4 of the same year)."""
    _check_year(year)
    _check_quarter(quarter, tail=True)
    return (year - 1, 4) if quarter == 1 else (year, quarter - 1)


def period_label(quarter: int) -> str:
    """The display name of a quarter: ``Q1`` .. ``Q4``, and ``Q4+`` for quarter 5 (January after the plan year)."""
    _check_quarter(quarter, tail=True)
    return "Q4+" if quarter == PLAN_TAIL_QUARTER else f"Q{quarter}"


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise DateError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.utcoffset() is None:
        raise DateError(f"{name} {value.isoformat()} is naive; give it a time zone")
    return value


def _check_year(year: int) -> None:
    if isinstance(year, bool) or not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR:
        raise DateError(f"year {year!r} is outside the supported range {MIN_YEAR}..{MAX_YEAR}")


def _check_quarter(quarter: int, *, tail: bool = False) -> None:
    last = PLAN_TAIL_QUARTER if tail else 4
    if isinstance(quarter, bool) or not isinstance(quarter, int) or not 1 <= quarter <= last:
        allowed = "1, 2, 3, 4 or 5 (Q4+)" if tail else "1, 2, 3 or 4"
        raise DateError(f"quarter {quarter!r} must be {allowed}")


def iso(at: datetime | None) -> str | None:
    """An instant as ISO 8601 text for JSON (None stays None); :func:`parse_iso` reads it back."""
    return None if at is None else at.isoformat()


def parse_iso(text: str | None) -> datetime | None:
    """The instant of :func:`iso`'s text (None stays None)."""
    return None if text is None else datetime.fromisoformat(text)
