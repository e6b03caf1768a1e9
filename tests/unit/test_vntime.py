"""Vietnam time: as_of parsing, quarters and periods in Asia/Ho_Chi_Minh."""

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.vntime import (
    PLAN_TAIL_QUARTER,
    VN_TZ,
    DateError,
    elapsed_fraction,
    parse_as_of,
    period_label,
    previous_quarter,
    quarter_bounds,
    quarter_of,
    year_bounds,
)

ICT = timezone(timedelta(hours=7))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-31", datetime(2024, 3, 31, 23, 59, 59, 999999, tzinfo=ICT)),
        (" 2024-03-31 ", datetime(2024, 3, 31, 23, 59, 59, 999999, tzinfo=ICT)),
        ("2024-03-31T17:30:00Z", datetime(2024, 3, 31, 17, 30, tzinfo=UTC)),
        ("2024-03-31T17:30Z", datetime(2024, 3, 31, 17, 30, tzinfo=UTC)),
        ("2024-03-31T10:00:00+07:00", datetime(2024, 3, 31, 3, tzinfo=UTC)),
        ("2024-03-31T10:00:00-0500", datetime(2024, 3, 31, 15, tzinfo=UTC)),
        ("2024-03-31T10:00:00", datetime(2024, 3, 31, 3, tzinfo=UTC)),
        ("2024-03-31 10:00", datetime(2024, 3, 31, 3, tzinfo=UTC)),
        ("2024-03-31T10:00:00.25", datetime(2024, 3, 31, 3, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_parse_as_of(text: str, expected: datetime) -> None:
    parsed = parse_as_of(text)
    assert parsed.tzinfo is not None
    assert parsed == expected


def test_date_only_is_end_of_day_in_vietnam() -> None:
    parsed = parse_as_of("2024-03-31")
    assert parsed.tzinfo is VN_TZ
    assert parsed.utcoffset() == timedelta(hours=7)
    assert (parsed.hour, parsed.minute, parsed.second, parsed.microsecond) == (23, 59, 59, 999999)
    assert quarter_of(parsed) == (2024, 1)
    assert parsed + timedelta(microseconds=1) == quarter_bounds(2024, 2)[0]


def test_naive_date_time_is_vietnam_local() -> None:
    assert parse_as_of("2024-03-31T23:30:00").tzinfo is VN_TZ
    assert quarter_of(parse_as_of("2024-03-31T23:30:00")) == (2024, 1)
    assert quarter_of(parse_as_of("2024-03-31T23:30:00Z")) == (2024, 2)


def test_offset_is_kept_as_given() -> None:
    assert parse_as_of("2024-03-31T10:00:00-05:00").utcoffset() == timedelta(hours=-5)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "31/03/2024",
        "2024-3-31",
        "20240331",
        "2024-W13-7",
        "2024-02-30",
        "2023-02-29",
        "2024-13-01",
        "2024-03-31T24:00",
        "2024-03-31T10:61",
        "2024-03-31T10:00+25:00",
        "2024-03-31T10:00:00.1234567",
        "0000-01-01",
        "1899-12-31",
        "3000-01-01",
        "2999-12-31T23:00:00-05:00",
        "2024-03-31T10:00:00 +07:00",
        "x" * 1000,
    ],
)
def test_parse_as_of_rejects(text: str) -> None:
    with pytest.raises(DateError) as info:
        parse_as_of(text)
    assert str(info.value)


@pytest.mark.parametrize("value", [None, 20240331, b"2024-03-31", datetime(2024, 3, 31, tzinfo=UTC)])
def test_parse_as_of_rejects_non_strings(value: object) -> None:
    with pytest.raises(DateError, match="string"):
        parse_as_of(value)  # type: ignore[arg-type]


@given(st.text(max_size=40))
def test_parse_as_of_raises_only_date_error(text: str) -> None:
    try:
        parsed = parse_as_of(text)
    except DateError:
        return
    assert parsed.utcoffset() is not None


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (datetime(2024, 3, 31, 17, 30, tzinfo=UTC), (2024, 2)),
        (datetime(2024, 3, 31, 16, 59, 59, tzinfo=UTC), (2024, 1)),
        (datetime(2024, 3, 31, 17, 0, tzinfo=UTC), (2024, 2)),
        (datetime(2024, 3, 31, 18, 0, tzinfo=UTC), (2024, 2)),
        (datetime(2023, 12, 31, 17, 0, tzinfo=UTC), (2024, 1)),
        (datetime(2024, 1, 1, 0, 0, tzinfo=VN_TZ), (2024, 1)),
        (datetime(2024, 12, 31, 23, 59, tzinfo=VN_TZ), (2024, 4)),
        (datetime(2024, 7, 1, 0, 30, tzinfo=timezone(timedelta(hours=9))), (2024, 2)),
    ],
)
def test_quarter_of(instant: datetime, expected: tuple[int, int]) -> None:
    assert quarter_of(instant) == expected


def test_quarter_of_rejects_naive() -> None:
    with pytest.raises(DateError, match="naive"):
        quarter_of(datetime(2024, 3, 31))


instants = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 12, 31),
    timezones=st.one_of(
        st.sampled_from([UTC, VN_TZ, ICT]),
        st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-12 * 60, 14 * 60)),
        st.timezones(),
    ),
)


@given(instants)
def test_quarter_bounds_contain_the_instant(instant: datetime) -> None:
    start, end = quarter_bounds(*quarter_of(instant))
    assert start <= instant < end


@given(instants)
def test_elapsed_fraction_is_clamped(instant: datetime) -> None:
    start, end = quarter_bounds(2024, 2)
    fraction = elapsed_fraction(instant, start, end)
    assert 0.0 <= fraction <= 1.0
    if instant < start:
        assert fraction == 0.0
    if instant >= end:
        assert fraction == 1.0


def test_quarter_bounds() -> None:
    assert quarter_bounds(2024, 1) == (datetime(2024, 1, 1, tzinfo=VN_TZ), datetime(2024, 4, 1, tzinfo=VN_TZ))
    assert quarter_bounds(2024, 4) == (
        datetime(2024, 10, 1, tzinfo=VN_TZ),
        datetime(2025, 1, 1, tzinfo=VN_TZ),
    )
    start, _ = quarter_bounds(2024, 2)
    assert start == datetime(2024, 3, 31, 17, tzinfo=UTC)


@pytest.mark.parametrize("year", [2021, 2024, 2025])
def test_quarters_tile_the_year(year: int) -> None:
    bounds = [quarter_bounds(year, q) for q in range(1, 5)]
    assert (bounds[0][0], bounds[-1][1]) == year_bounds(year)
    for (_, end), (start, _) in itertools.pairwise(bounds):
        assert end == start


def test_year_bounds() -> None:
    assert year_bounds(2024) == (datetime(2024, 1, 1, tzinfo=VN_TZ), datetime(2025, 1, 1, tzinfo=VN_TZ))
    assert year_bounds(2024)[0] == datetime(2023, 12, 31, 17, tzinfo=UTC)


@pytest.mark.parametrize("quarter", [0, 6, -1, True, 1.0, "1", 5.0])
def test_quarter_is_validated(quarter: object) -> None:
    with pytest.raises(DateError, match="quarter"):
        quarter_bounds(2024, quarter)  # type: ignore[arg-type]
    with pytest.raises(DateError, match="quarter"):
        previous_quarter(2024, quarter)  # type: ignore[arg-type]


@pytest.mark.parametrize("year", [1899, 3000, True, "2024"])
def test_year_is_validated(year: object) -> None:
    with pytest.raises(DateError, match="year"):
        year_bounds(year)  # type: ignore[arg-type]
    with pytest.raises(DateError, match="year"):
        quarter_bounds(year, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given_", "expected"),
    [((2024, 1), (2023, 4)), ((2024, 2), (2024, 1)), ((2024, 4), (2024, 3)), ((2024, 5), (2024, 4))],
)
def test_previous_quarter(given_: tuple[int, int], expected: tuple[int, int]) -> None:
    assert previous_quarter(*given_) == expected


def test_elapsed_fraction() -> None:
    start, end = quarter_bounds(2024, 1)
    assert elapsed_fraction(start, start, end) == 0.0
    assert elapsed_fraction(end, start, end) == 1.0
    assert elapsed_fraction(datetime(2024, 2, 15, 12, tzinfo=VN_TZ), start, end) == pytest.approx(0.5)
    assert elapsed_fraction(datetime(2023, 6, 1, tzinfo=UTC), start, end) == 0.0
    assert elapsed_fraction(datetime(2030, 6, 1, tzinfo=UTC), start, end) == 1.0
    assert elapsed_fraction(datetime(2024, 1, 1, 5, tzinfo=UTC), start, end) == pytest.approx(12 / (91 * 24))


def test_elapsed_fraction_rejects_bad_periods() -> None:
    start, end = quarter_bounds(2024, 1)
    with pytest.raises(DateError):
        elapsed_fraction(start, end, start)
    with pytest.raises(DateError):
        elapsed_fraction(start, start, start)
    with pytest.raises(DateError, match="naive"):
        elapsed_fraction(datetime(2024, 2, 1), start, end)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-31T10:00:00z", datetime(2024, 3, 31, 10, tzinfo=UTC)),
        ("2024-03-31t10:00:00z", datetime(2024, 3, 31, 10, tzinfo=UTC)),
        ("2024-03-31 10:00z", datetime(2024, 3, 31, 10, tzinfo=UTC)),
        ("2024-03-31T10:00:00.25z", datetime(2024, 3, 31, 10, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_lower_case_z_is_utc_as_the_schema_allows(text: str, expected: datetime) -> None:
    assert parse_as_of(text) == expected


def test_period_labels() -> None:
    assert [period_label(q) for q in range(1, 6)] == ["Q1", "Q2", "Q3", "Q4", "Q4+"]
    assert PLAN_TAIL_QUARTER == 5
    with pytest.raises(DateError):
        period_label(6)


def test_q4_plus_is_january_of_the_next_year() -> None:
    assert quarter_bounds(2024, 5) == (datetime(2025, 1, 1, tzinfo=VN_TZ), datetime(2025, 2, 1, tzinfo=VN_TZ))
    assert quarter_bounds(2024, 5)[0] == quarter_bounds(2024, 4)[1]
    with pytest.raises(DateError, match="year"):
        quarter_bounds(2999, 5)
