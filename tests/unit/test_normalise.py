"""The pure ingest core: ``normalise`` (event bytes → IndicatorUpdate or a typed Rejection) and ``triage`` (dedupe)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.events import FeedEvent
from shared.indicators import CATALOGUE
from shared.normalise import MAX_EVENT_BYTES, RawEvent, Reason, Rejection, Seen, normalise, triage
from shared.updates import IndicatorUpdate, Origin

#: Broker time of the events in the tables: after every as_of used there.
RECEIVED = datetime(2025, 12, 1, 3, 0, tzinfo=UTC)
ORIGIN = Origin("feed.bac-giang", 2, 41)


def body(**fields: Any) -> dict[str, Any]:
    """A valid event (Bắc Giang budget revenue, Q1 2024) with some fields replaced; ``None`` drops a field."""
    event = {
        "event_id": "bg-2024-q1-ngansach",
        "province": "Bắc Giang",
        "indicator": "state_budget_revenue",
        "as_of": "2024-03-31",
        "value": "4.680",
        "unit": "tỷ đồng",
        "mode": "ytd",
    }
    event.update(fields)
    return {k: v for k, v in event.items() if v is not None}


def ev(**fields: Any) -> bytes:
    return json.dumps(body(**fields), ensure_ascii=False).encode()  # stdlib json: integers of any size


def norm(raw: bytes | None, received_at: datetime = RECEIVED, origin: Origin = ORIGIN) -> IndicatorUpdate:
    return normalise(raw, origin, received_at)


def rejection(raw: bytes | None, received_at: datetime = RECEIVED) -> Rejection:
    with pytest.raises(Rejection) as info:
        norm(raw, received_at)
    return info.value


# --- valid events ------------------------------------------------------------------------------------------------

# (event fields, expected unit uid, exact base value, (year, quarter) in Vietnam time, current_code)
VALID: dict[str, tuple[dict[str, Any], str, Decimal, tuple[int, int], str]] = {
    "vi number, vi unit": ({}, "24", Decimal("4680e9"), (2024, 1), "24"),
    "en number, en unit": (
        {"province": "BAC GIANG", "value": "4,680", "unit": "billion VND"},
        "24",
        Decimal("4680e9"),
        (2024, 1),
        "24",
    ),
    "unit without diacritics": ({"province": "bac-giang", "unit": "ty dong"}, "24", Decimal("4680e9"), (2024, 1), "24"),
    "tỉ spelling, JSON integer": ({"value": 4680, "unit": "tỉ VND"}, "24", Decimal("4680e9"), (2024, 1), "24"),
    "nghìn tỷ": (
        {
            "province": "Tỉnh Bắc Giang",
            "indicator": "industrial_production_value",
            "value": 150,
            "unit": "nghìn tỷ đồng",
        },
        "24",
        Decimal("150e12"),
        (2024, 1),
        "24",
    ),
    "code, million USD": (
        {"province": "24", "indicator": "investment_attracted", "value": "624.26", "unit": "million USD"},
        "24",
        Decimal("624260000"),
        (2024, 1),
        "24",
    ),
    "triệu USD with vi decimal comma": (
        {"indicator": "import_export_value", "value": "1.234,5", "unit": "triệu USD"},
        "24",
        Decimal("1234500000"),
        (2024, 1),
        "24",
    ),
    "JSON float": (
        {"indicator": "investment_attracted", "value": 624.26, "unit": "USD million"},
        "24",
        Decimal("624260000"),
        (2024, 1),
        "24",
    ),
    "m² to ha": (
        {"province": "Lạng Sơn", "indicator": "site_clearance_area", "value": 12500, "unit": "m2", "mode": "delta"},
        "20",
        Decimal("1.25"),
        (2024, 1),
        "20",
    ),
    "km² to ha": (
        {"province": "Lang Son", "indicator": "site_clearance_area", "value": "0,5", "unit": "km²"},
        "20",
        Decimal("50"),
        (2024, 1),
        "20",
    ),
    "households": (
        {"province": "Hà Nội", "indicator": "site_clearance_households", "value": "1.250", "unit": "hộ dân"},
        "01",
        Decimal("1250"),
        (2024, 1),
        "01",
    ),
    "enterprises, en": (
        {"province": "Ha Noi", "indicator": "new_enterprises", "value": "1,250", "unit": "enterprises"},
        "01",
        Decimal("1250"),
        (2024, 1),
        "01",
    ),
    "VND with grouped digits": (
        {"value": "4.680.000.000", "unit": "VND"},
        "24",
        Decimal("4680000000"),
        (2024, 1),
        "24",
    ),
    "grdp growth in percent": (
        {"province": "TP.HCM", "indicator": "grdp_growth", "value": "7,5", "unit": "%"},
        "79",
        Decimal("7.5"),
        (2024, 1),
        "79",
    ),
    "UTC evening is next quarter in Vietnam": (
        {"province": "TPHCM", "value": "1,5", "unit": "nghìn tỷ đồng", "as_of": "2024-03-31T18:00:00Z"},
        "79",
        Decimal("1.5e12"),
        (2024, 2),
        "79",
    ),
    "naive date-time is Vietnam time": (
        {"as_of": "2024-06-30T23:30:00"},
        "24",
        Decimal("4680e9"),
        (2024, 2),
        "24",
    ),
    "offset date-time": ({"as_of": "2024-06-30T17:30:00Z"}, "24", Decimal("4680e9"), (2024, 3), "24"),
    "new year in Vietnam": ({"as_of": "2024-12-31T17:00:00Z"}, "24", Decimal("4680e9"), (2025, 1), "24"),
    "pre-merger unit rolls up": ({"province": "Bắc Ninh"}, "27", Decimal("4680e9"), (2024, 1), "24"),
    "last pre-merger day": ({"province": "Hải Dương", "as_of": "2025-06-30"}, "30", Decimal("4680e9"), (2025, 2), "31"),
    "merged unit from the merger date": (
        {"province": "Bac Ninh", "as_of": "2025-09-30"},
        "24@2025-07-01",
        Decimal("4680e9"),
        (2025, 3),
        "24",
    ),
    "pre-merger name after the merger, delta": (
        {"province": "Bắc Giang", "as_of": "2025-09-01", "mode": "delta"},
        "24@2025-07-01",
        Decimal("4680e9"),
        (2025, 3),
        "24",
    ),
    "merged away at the first Vietnam minute, delta": (
        {"province": "Hải Dương", "as_of": "2025-06-30T17:00:00Z", "mode": "delta"},
        "31@2025-07-01",
        Decimal("4680e9"),
        (2025, 3),
        "31",
    ),
    "year 2000": ({"as_of": "2000-01-01"}, "24", Decimal("4680e9"), (2000, 1), "24"),
}


@pytest.mark.parametrize(("fields", "uid", "value", "period", "current"), VALID.values(), ids=VALID.keys())
def test_valid_events(fields: dict, uid: str, value: Decimal, period: tuple[int, int], current: str) -> None:
    update = norm(ev(**fields))
    assert update.unit == uid
    assert update.value == value and isinstance(update.value, Decimal)
    assert (update.year, update.quarter) == period
    assert update.current_code == current
    assert update.province_code == uid.split("@", maxsplit=1)[0]


def test_update_fields_are_carried() -> None:
    raw = ev(mode="delta", revision=3, source="UBND tỉnh Bắc Giang, báo cáo quý I/2024", ghi_chu="ước tính")
    update = norm(raw)
    assert update.event_id == "bg-2024-q1-ngansach"
    assert update.revision == 3
    assert update.mode == "delta"
    assert update.source == "UBND tỉnh Bắc Giang, báo cáo quý I/2024"
    assert update.indicator == "state_budget_revenue"
    assert update.publisher == ORIGIN.topic and update.origin == ORIGIN
    assert update.identity == "feed.bac-giang/bg-2024-q1-ngansach"
    assert update.received_at == RECEIVED
    assert update.as_of == datetime(2024, 3, 31, 16, 59, 59, 999999, tzinfo=UTC)
    assert update.key == b"24|state_budget_revenue"
    assert IndicatorUpdate.decode(update.encode()) == update


def test_an_event_of_exactly_the_size_limit_is_read() -> None:
    raw = ev()
    padded = raw[:-1] + b" " * (MAX_EVENT_BYTES - len(raw)) + b"}"
    assert len(padded) == MAX_EVENT_BYTES
    assert norm(padded).value == Decimal("4680e9")


# --- one rejection per reason ------------------------------------------------------------------------------------

BAD: dict[Reason, list[bytes | None]] = {
    Reason.TOO_LARGE: [b" " * (MAX_EVENT_BYTES + 1), ev(source="x" * MAX_EVENT_BYTES)],
    Reason.NOT_JSON: [None, b"", b"{not json", b'{"event_id": "x"', b"\xff\xfe{}", ev() + b"{}"],
    Reason.NOT_AN_OBJECT: [b"[1, 2]", b'"text"', b"42", b"null", b"true"],
    Reason.MISSING_FIELD: [ev(unit=None), ev(event_id=None, province=None), b"{}"],
    Reason.WRONG_TYPE: [ev(value=True), ev(province=24), ev(revision="1"), ev(value=[1]), ev(mode=1)],
    Reason.INVALID_FIELD: [
        ev(mode="monthly"),
        ev(as_of="31/03/2024"),
        ev(revision=-1),
        ev(event_id=""),
        ev(value=""),
        ev(province="x" * 101),
    ],
    Reason.UNKNOWN_INDICATOR: [ev(indicator="gdp_happiness"), ev(indicator="State_Budget_Revenue")],
    Reason.UNKNOWN_PROVINCE: [ev(province="Bac Nimh"), ev(province="Atlantis"), ev(province="99")],
    Reason.IMPOSSIBLE_DATE: [
        ev(as_of="1999-12-31"),
        ev(as_of="2024-02-30"),
        ev(as_of="2024-13-01"),
        ev(as_of="1800-01-01"),
    ],
    Reason.UNKNOWN_UNIT: [ev(unit="gallons"), ev(unit="tỷ")],
    Reason.UNIT_MISMATCH: [
        ev(value=12, unit="ha"),
        ev(indicator="investment_attracted"),
        ev(indicator="new_jobs", value=3, unit="%"),
        ev(indicator="new_jobs", value=30, unit="doanh nghiệp"),
        ev(indicator="new_enterprises", value=30, unit="people"),
        ev(indicator="new_enterprises", value=30, unit="lao động"),
        ev(indicator="site_clearance_households", value=30, unit="enterprises"),
        ev(indicator="new_enterprises", value=30, unit="hộ"),
    ],
    Reason.NEGATIVE_VALUE: [ev(value=-5), ev(value="-4.680"), ev(indicator="new_jobs", value="−12", unit="người")],
    Reason.AMBIGUOUS_NUMBER: [
        ev(value="4,680", unit="VND"),
        ev(value="4.680", unit="ha", indicator="site_clearance_area"),
    ],
    Reason.INVALID_NUMBER: [
        ev(value="four"),
        ev(value="NaN"),
        ev(value=10**25),
        ev(value="1.2.3,4,5"),
        ev(value=1e300),
        b'{"value": 1e-400, ' + ev(value=None)[1:],
        ev(indicator="new_enterprises", value="1.234", unit="enterprises"),
        ev(indicator="new_enterprises", value=0.5, unit="enterprises"),
        ev(indicator="site_clearance_households", value="12,5", unit="hộ"),
    ],
    Reason.DUPLICATE_KEY: [
        ev()[:-1] + ', "unit": "nghìn tỷ đồng"}'.encode(),
        ev(meta={"a": 1})[:-2] + b', "a": 2}}',
    ],
    Reason.FORMER_PROVINCE: [
        ev(province="Bắc Giang", as_of="2025-09-30"),
        ev(province="27", as_of="2025-09-30"),
    ],
}
#: Reasons set around ``normalise`` (by ``triage`` or the aggregate worker); it never gives them.
NOT_FROM_NORMALISE = {Reason.IMPLAUSIBLE_VALUE, Reason.DEDUPE_FULL, Reason.SERIES_FULL}


def test_every_reason_has_cases() -> None:
    assert set(BAD) == set(Reason) - NOT_FROM_NORMALISE


@pytest.mark.parametrize(
    ("reason", "raw"),
    [(reason, raw) for reason, raws in BAD.items() for raw in raws],
    ids=[f"{reason}-{i}" for reason, raws in BAD.items() for i in range(len(raws))],
)
def test_rejections(reason: Reason, raw: bytes | None) -> None:
    rejected = rejection(raw)
    assert rejected.reason is reason, rejected.message
    assert rejected.message and str(rejected).startswith(f"{reason}: ")


def test_json_integers_beyond_64_bits_are_exact_or_rejected() -> None:
    big = 2**64 + 1  # orjson reads it as a float: rejected rather than silently rounded
    assert rejection(ev(value=big, unit="VND")).reason is Reason.INVALID_NUMBER
    assert norm(ev(value=str(big), unit="VND")).value == big
    assert norm(ev(value=2**53 - 1, unit="VND")).value == 2**53 - 1


def test_rejection_messages_help() -> None:
    assert "Bắc Ninh" in rejection(ev(province="Bac Nimh")).message
    assert "state_budget_revenue" in rejection(ev(indicator="state_budget_revenu")).message
    assert "'unit'" in rejection(ev(unit=None)).message
    assert "before 2000" in rejection(ev(as_of="1999-12-31")).message


# --- dates -------------------------------------------------------------------------------------------------------

BROKER = datetime(2024, 4, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "as_of",
    [
        "2024-04-01",  # end of the broker's day in Vietnam: 16:59:59 UTC
        "2024-04-01T23:59:59+07:00",
        "2024-04-02T00:00:00Z",  # exactly one day ahead
        "2024-04-02T06:59:59",  # naive = Vietnam time = 23:59:59 UTC the day before
        "2024-03-01",
    ],
)
def test_as_of_up_to_a_day_after_the_broker_timestamp_is_accepted(as_of: str) -> None:
    assert norm(ev(as_of=as_of), received_at=BROKER).as_of <= BROKER + timedelta(days=1)


@pytest.mark.parametrize("as_of", ["2024-04-02T00:00:01Z", "2024-04-02", "2024-04-03T00:00:00+07:00", "2026-01-01"])
def test_as_of_more_than_a_day_after_the_broker_timestamp_is_impossible(as_of: str) -> None:
    rejected = rejection(ev(as_of=as_of), received_at=BROKER)
    assert rejected.reason is Reason.IMPOSSIBLE_DATE
    assert "more than a day after" in rejected.message


@pytest.mark.parametrize(
    "as_of", ["1999-12-31", "1999-12-31T23:59:59+07:00", "1950-06-30", "1900-01-01", "2000-01-01T00:30:00+14:00"]
)
def test_dates_before_2000_are_impossible(as_of: str) -> None:
    assert rejection(ev(as_of=as_of)).reason is Reason.IMPOSSIBLE_DATE


# --- signs -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("indicator", [i.id for i in CATALOGUE.values() if i.nonnegative])
def test_nonnegative_indicators_reject_negative_values(indicator: str) -> None:
    unit = {"vnd": "tỷ đồng", "usd": "USD", "area_ha": "ha", "count": "count", "households": "hộ", "percent": "%"}
    fields = {"indicator": indicator, "unit": unit[CATALOGUE[indicator].dimension]}
    assert rejection(ev(value=-1, **fields)).reason is Reason.NEGATIVE_VALUE
    assert norm(ev(value=0, **fields)).value == 0


@pytest.mark.parametrize(("value", "expected"), [(-1.5, "-1.5"), ("-2,3", "-2.3"), ("−0,4", "-0.4"), (-3, "-3")])
def test_grdp_growth_may_be_negative(value: object, expected: str) -> None:
    update = norm(ev(indicator="grdp_growth", value=value, unit="%"))
    assert update.value == Decimal(expected)


# --- triage: dedupe within a batch and against the dedupe state ----------------------------------------------------


def raw_event(data: bytes | None, offset: int = 0, topic: str = "feed.bac-giang") -> RawEvent:
    return RawEvent(data, Origin(topic, 0, offset), RECEIVED)


def batch(*values: bytes | None, topic: str = "feed.bac-giang") -> list[RawEvent]:
    return [raw_event(v, i, topic) for i, v in enumerate(values)]


class Lookup:
    """A dedupe state: identity → highest revision seen; records every lookup."""

    def __init__(self, known: dict[str, int] | None = None) -> None:
        self.known = known or {}
        self.calls: list[str] = []

    def __call__(self, identity: str) -> int | None:
        self.calls.append(identity)
        return self.known.get(identity)


A, B = "feed.bac-giang/a", "feed.bac-giang/b"
ROOM = 1_000  # more new identities than any batch here


def test_triage_new_events_are_accepted_and_remembered() -> None:
    lookup = Lookup()
    out = triage(batch(ev(event_id="a"), ev(event_id="b", revision=2)), lookup, room=ROOM)
    assert [(i, u.event_id, s) for i, u, s in out.accepted] == [(0, "a", Seen.NEW), (1, "b", Seen.NEW)]
    assert out.remember == {A: (0, 0), B: (2, 1)}
    assert out.duplicates == [] and out.rejected == []
    assert lookup.calls == [A, B]


def test_triage_duplicate_within_a_batch() -> None:
    lookup = Lookup()
    out = triage(batch(ev(event_id="a"), ev(event_id="a"), ev(event_id="a", value="5.000")), lookup, room=ROOM)
    assert [i for i, _, _ in out.accepted] == [0]
    assert out.duplicates == [1, 2], "same revision: a duplicate even if the value differs"
    assert out.remember == {A: (0, 0)}
    assert lookup.calls == [A], "the batch's own ids are checked before the dedupe state"


def test_triage_correction_with_a_higher_revision() -> None:
    out = triage(batch(ev(event_id="a"), ev(event_id="a", revision=1, value="4.700")), Lookup(), room=ROOM)
    assert [(i, s) for i, _, s in out.accepted] == [(0, Seen.NEW), (1, Seen.CORRECTION)]
    assert out.accepted[1][1].value == Decimal("4700e9")
    assert out.remember == {A: (1, 1)}, "the highest revision and the message that carried it"


def test_triage_lower_revision_after_a_higher_one_is_dropped() -> None:
    out = triage(
        batch(ev(event_id="a", revision=2), ev(event_id="a", revision=1), ev(event_id="a")), Lookup(), room=ROOM
    )
    assert [i for i, _, _ in out.accepted] == [0]
    assert out.duplicates == [1, 2]
    assert out.remember == {A: (2, 0)}


def test_triage_uses_the_dedupe_state() -> None:
    lookup = Lookup({A: 1})
    out = triage(
        batch(ev(event_id="a"), ev(event_id="a", revision=1), ev(event_id="a", revision=2), ev(event_id="b")),
        lookup,
        room=ROOM,
    )
    assert out.duplicates == [0, 1], "revisions up to the remembered one are duplicates"
    assert [(i, s) for i, _, s in out.accepted] == [(2, Seen.CORRECTION), (3, Seen.NEW)]
    assert out.remember == {A: (2, 2), B: (0, 3)}
    assert lookup.calls == [A, A, A, B], "looked up until the batch itself remembers the id"


def test_triage_event_ids_are_unique_per_publisher() -> None:
    lookup = Lookup({A: 0})
    out = triage([raw_event(ev(event_id="a"), 0), raw_event(ev(event_id="a"), 0, "feed.lang-son")], lookup, room=ROOM)
    assert out.duplicates == [0]
    assert [(i, u.identity, s) for i, u, s in out.accepted] == [(1, "feed.lang-son/a", Seen.NEW)]


def test_triage_rejections_keep_their_index_and_skip_the_state() -> None:
    lookup = Lookup()
    out = triage(batch(b"{broken", ev(event_id="a"), ev(event_id="b", province="Atlantis")), lookup, room=ROOM)
    assert [(i, r.reason) for i, r in out.rejected] == [(0, Reason.NOT_JSON), (2, Reason.UNKNOWN_PROVINCE)]
    assert [i for i, _, _ in out.accepted] == [1]
    assert lookup.calls == [A]


def test_triage_dead_letters_new_ids_beyond_the_room_and_keeps_judging_known_ones() -> None:
    lookup = Lookup({A: 1})
    messages = [ev(event_id="b"), ev(event_id="c"), ev(event_id="a", revision=2), ev(event_id="a"), ev(event_id="b")]
    out = triage(batch(*messages), lookup, room=1)
    assert [(i, u.event_id, s) for i, u, s in out.accepted] == [(0, "b", Seen.NEW), (2, "a", Seen.CORRECTION)]
    assert [(i, r.reason) for i, r in out.rejected] == [(1, Reason.DEDUPE_FULL)]
    assert "TIENDO_DEDUPE_MAX_IDS" in out.rejected[0][1].message and "replay" in out.rejected[0][1].message
    assert out.duplicates == [3, 4], "duplicates of remembered ids, and of the batch's own, are still recognised"
    assert set(out.remember) == {A, B}
    full = triage(batch(ev(event_id="c"), ev(event_id="a", revision=3)), lookup, room=0)
    assert [r.reason for _, r in full.rejected] == [Reason.DEDUPE_FULL]
    assert [(u.event_id, s) for _, u, s in full.accepted] == [("a", Seen.CORRECTION)], "a full state still corrects"
    lowered = triage(batch(ev(event_id="c")), lookup, room=-3)  # a limit lowered below what the state holds
    assert [r.reason for _, r in lowered.rejected] == [Reason.DEDUPE_FULL] and lowered.accepted == []


def test_triage_of_an_empty_batch() -> None:
    out = triage([], Lookup(), room=ROOM)
    assert (out.accepted, out.rejected, out.duplicates, out.remember) == ([], [], [], {})


# --- properties: nothing but Rejection ever escapes ----------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.decimals(allow_nan=False, allow_infinity=False).map(float),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)

received = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)  # broker timestamps


def field_values(*likely: object) -> st.SearchStrategy[object]:
    """Mostly a plausible value (valid or not), sometimes any JSON value or text."""
    anything = json_values | st.text(max_size=60)
    return st.integers(0, 9).flatmap(lambda n: st.sampled_from(likely) if n < 8 else anything)


event_dicts = st.fixed_dictionaries(
    {
        "event_id": field_values("a", "bg-1", "x" * 200, "x" * 201),
        "province": field_values("Bắc Giang", "Bac Ninh", "TP.HCM", "24", "79", "Hải Dương", "Atlantis", "\x00"),
        "indicator": field_values(*CATALOGUE),
        "as_of": field_values(
            "2024-03-31",
            "2025-07-01",
            "2024-03-31T18:00:00Z",
            "2999-12-31T23:00:00-12:00",
            "0001-01-01",
            "9999-12-31",
            "2024-02-30",
            "2024-03-31T24:00:00",
        ),
        "value": field_values("4.680", "4,680", "1e400", "-0", "∞", 10**30, 1e308, "١٢٣"),
        "unit": field_values("tỷ đồng", "VND", "ha", "%", "m²", "hộ", "USD", "count"),
        "mode": field_values("ytd", "delta"),
        "source": field_values(None, "UBND"),
        "revision": field_values(0, 1, -1, 2**63, 10**30),
    },
    optional={"extra": json_values},
).flatmap(
    lambda event: (
        st.sets(st.sampled_from(sorted(event)), max_size=2).map(
            lambda dropped: {k: v for k, v in event.items() if k not in dropped}
        )
        | st.just(event)
    )
)


def outcome(raw: bytes | None, received_at: datetime) -> IndicatorUpdate | Rejection:
    try:
        return normalise(raw, ORIGIN, received_at)
    except Rejection as rejected:
        assert isinstance(rejected.reason, Reason) and rejected.message
        return rejected


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300), received)
def test_arbitrary_bytes_never_raise_anything_but_rejection(raw: bytes, received_at: datetime) -> None:
    outcome(raw, received_at)


@settings(max_examples=500, deadline=None)
@given(json_values, received)
def test_arbitrary_json_never_raises_anything_but_rejection(value: object, received_at: datetime) -> None:
    result = outcome(json.dumps(value, ensure_ascii=False).encode(), received_at)
    if not isinstance(value, dict):
        assert isinstance(result, Rejection)


@settings(max_examples=1500, deadline=None)
@given(event_dicts, received)
def test_events_with_random_fields_never_raise_anything_but_rejection(event: dict, received_at: datetime) -> None:
    result = outcome(json.dumps(event, ensure_ascii=False).encode(), received_at)
    if isinstance(result, IndicatorUpdate):
        parsed = FeedEvent.model_validate(event)
        assert (result.event_id, result.revision, result.mode) == (parsed.event_id, parsed.revision, parsed.mode)
        assert result.year >= 2000 and 1 <= result.quarter <= 4
        assert result.as_of <= received_at + timedelta(days=1)


valid_events = st.builds(
    lambda event_id, revision, province, value: ev(
        event_id=event_id, revision=revision, province=province, value=value
    ),
    st.sampled_from(["a", "b", "c"]),
    st.integers(0, 3),
    st.sampled_from(["Bắc Giang", "Lạng Sơn", "Atlantis"]),
    st.integers(-2, 10_000),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["feed.a", "feed.b"]), valid_events | st.binary(max_size=40) | st.none()),
        max_size=25,
    ),
    st.dictionaries(st.sampled_from([f"feed.{t}/{e}" for t in "ab" for e in "abc"]), st.integers(0, 3)),
    st.integers(0, 7),
)
def test_triage_never_raises_and_sorts_every_message_once(
    messages: list[tuple[str, bytes | None]], known: dict[str, int], room: int
) -> None:
    out = triage([raw_event(v, i, topic) for i, (topic, v) in enumerate(messages)], known.get, room=room)
    indices = [i for i, _, _ in out.accepted] + [i for i, _ in out.rejected] + out.duplicates
    assert sorted(indices) == list(range(len(messages)))
    best: dict[str, int] = {}
    for _, update, seen in out.accepted:
        previous = best.get(update.identity, known.get(update.identity))
        assert seen is (Seen.NEW if previous is None else Seen.CORRECTION)
        assert previous is None or update.revision > previous, "accepted revisions only go up"
        best[update.identity] = update.revision
    assert {k: rev for k, (rev, _) in out.remember.items()} == best
    for identity, (revision, index) in out.remember.items():
        carrier = next(u for i, u, _ in out.accepted if i == index)
        assert (carrier.identity, carrier.revision) == (identity, revision)
    new = sum(1 for _, _, seen in out.accepted if seen is Seen.NEW)
    full = [i for i, r in out.rejected if r.reason is Reason.DEDUPE_FULL]
    assert new <= room and (not full or new == room), "new ids fill the room, then are dead-lettered"
    for index in full:
        identity = normalise(messages[index][1], Origin(messages[index][0], 0, index), RECEIVED).identity
        assert identity not in known and identity not in out.remember, "only ids never remembered are refused"


# --- figures you can trust ---------------------------------------------------------------------------------------


def test_duplicate_key_names_the_key() -> None:
    rejected = rejection(ev()[:-1] + ', "unit": "nghìn tỷ đồng"}'.encode())
    assert rejected.reason is Reason.DUPLICATE_KEY and "'unit'" in rejected.message


def test_case_variant_key_is_an_ignored_unknown_field() -> None:
    assert norm(ev(Unit="nghìn tỷ đồng")).value == Decimal("4680e9")


@pytest.mark.parametrize(
    ("indicator", "value", "unit"),
    [
        ("new_enterprises", "1.234", "enterprises"),  # English notation: 1.234 enterprises
        ("new_enterprises", 0.5, "enterprises"),
        ("new_jobs", "8.900,5", "lao động"),
        ("site_clearance_households", "0,5", "hộ"),
    ],
)
def test_counts_take_whole_numbers_only(indicator: str, value: object, unit: str) -> None:
    rejected = rejection(ev(indicator=indicator, value=value, unit=unit))
    assert rejected.reason is Reason.INVALID_NUMBER and "whole numbers only" in rejected.message


@pytest.mark.parametrize(
    ("indicator", "value", "unit", "expected"),
    [
        ("new_enterprises", "1.234", "doanh nghiệp", Decimal(1234)),  # Vietnamese notation: 1.234 is 1234
        ("new_enterprises", 310, "doanh nghiệp", Decimal(310)),
        ("new_enterprises", 310.0, "businesses", Decimal(310)),
        ("new_jobs", "8.900", "lao động", Decimal(8900)),
        ("new_jobs", 8900, "people", Decimal(8900)),
        ("new_jobs", 8900, "việc làm", Decimal(8900)),
        ("new_jobs", 12, "cái", Decimal(12)),
        ("site_clearance_households", 40, "count", Decimal(40)),
    ],
)
def test_counts_in_units_that_count_the_same_things(
    indicator: str, value: object, unit: str, expected: Decimal
) -> None:
    assert norm(ev(indicator=indicator, value=value, unit=unit)).value == expected


@pytest.mark.parametrize(
    ("value", "indicator"), [("-0", "state_budget_revenue"), (-0.0, "grdp_growth"), ("-0,0", "grdp_growth")]
)
def test_no_negative_zero(value: object, indicator: str) -> None:
    update = norm(ev(value=value, indicator=indicator, unit="%" if indicator == "grdp_growth" else "tỷ đồng"))
    assert update.value == 0 and not update.value.is_signed()
    assert b'"-0' not in update.encode()


def test_underflowing_json_number_is_invalid_not_zero() -> None:
    rejected = rejection(ev(value=None)[:-1] + b', "value": 1e-400}')
    assert rejected.reason is Reason.INVALID_NUMBER and "1e-400" in rejected.message


@pytest.mark.parametrize("value", ["1E5", "1e-400", "4,68e3"])
def test_exponents_in_number_text_are_not_numbers(value: str) -> None:
    assert rejection(ev(value=value)).reason is Reason.INVALID_NUMBER


# --- former provinces after the merger ----------------------------------------------------------------------------


def test_ytd_for_a_former_part_of_a_merged_province_is_refused() -> None:
    rejected = rejection(ev(province="Bắc Giang", as_of="2025-09-30"))
    assert rejected.reason is Reason.FORMER_PROVINCE
    assert rejected.message == (
        "Bắc Giang became part of Bắc Ninh on 2025-07-01; a year-to-date figure must cover the whole province: "
        "send it for Bắc Ninh (or send this territory's increments with mode delta)"
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"province": "Bắc Giang", "as_of": "2025-09-30", "mode": "delta"},
        {"province": "27", "as_of": "2025-09-30", "mode": "delta"},
        {"province": "Bắc Ninh", "as_of": "2025-09-30"},
        {"province": "24", "as_of": "2025-09-30"},
        {"province": "Lạng Sơn", "as_of": "2025-09-30"},
        {"province": "Thừa Thiên Huế", "as_of": "2025-09-30"},
        {"province": "Bắc Giang", "as_of": "2025-06-30"},
    ],
)
def test_names_that_cover_their_whole_province_are_fine(fields: dict[str, str]) -> None:
    update = norm(ev(**fields))
    assert update.value == Decimal("4680e9")


@pytest.mark.parametrize("province", ["2.4", "2 4", "T 24", "1,2"])
def test_numeric_junk_is_an_unknown_province(province: str) -> None:
    assert rejection(ev(province=province)).reason is Reason.UNKNOWN_PROVINCE


# --- plan year: 13 months for disbursement --------------------------------------------------------------------------

DISBURSED = {"indicator": "public_investment_disbursed", "province": "Lạng Sơn", "value": "2.905,5"}


@pytest.mark.parametrize(
    ("fields", "period"),
    [
        ({"as_of": "2025-01-31", "plan_year": 2024}, (2024, 5)),
        ({"as_of": "2025-01-01T00:00:00+07:00", "plan_year": 2024}, (2024, 5)),
        ({"as_of": "2024-12-31T17:30:00Z", "plan_year": 2024}, (2024, 5)),  # 1 January 2025 in Vietnam
        ({"as_of": "2025-01-31"}, (2025, 1)),  # default: the as_of year
        ({"as_of": "2025-01-31", "plan_year": 2025}, (2025, 1)),
        ({"as_of": "2024-12-31", "plan_year": 2024}, (2024, 4)),
        ({"as_of": "2024-12-31T16:59:59Z", "plan_year": 2024}, (2024, 4)),
    ],
)
def test_plan_year_of_disbursement(fields: dict[str, Any], period: tuple[int, int]) -> None:
    update = norm(ev(**DISBURSED, **fields))
    assert (update.year, update.quarter) == period


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({**DISBURSED, "as_of": "2025-02-15", "plan_year": 2024}, "ended on 2025-01-31"),
        ({**DISBURSED, "as_of": "2025-02-01", "plan_year": 2024}, "ended on 2025-01-31"),
        ({**DISBURSED, "as_of": "2025-01-31", "plan_year": 2023}, "too old"),
        ({**DISBURSED, "as_of": "2025-01-31", "plan_year": 2026}, "after the year of as_of"),
        ({"as_of": "2025-01-15", "plan_year": 2024}, "only public investment disbursement"),
        ({"indicator": "new_jobs", "unit": "người", "value": 5, "as_of": "2025-01-15", "plan_year": 2024}, "ended"),
    ],
)
def test_impossible_plan_years(fields: dict[str, Any], words: str) -> None:
    rejected = rejection(ev(**fields))
    assert rejected.reason is Reason.INVALID_FIELD and words in rejected.message
    assert "plan_year" in rejected.message


@pytest.mark.parametrize("plan_year", ["2024", 2024.0, True, 1800, 3000])
def test_plan_year_is_a_strict_integer(plan_year: object) -> None:
    assert rejection(ev(plan_year=plan_year)).reason in {Reason.WRONG_TYPE, Reason.INVALID_FIELD}


def test_lower_case_z_is_accepted() -> None:
    update = norm(ev(as_of="2024-03-31T10:00:00z"))
    assert update.as_of == datetime(2024, 3, 31, 10, tzinfo=UTC)


def test_the_first_vietnam_minute_of_2000_is_accepted() -> None:
    update = norm(ev(as_of="1999-12-31T17:00:00Z"))
    assert (update.year, update.quarter) == (2000, 1)


@pytest.mark.parametrize(
    ("value", "unit"), [("1.000", "enterprises"), ("8,000", "lao động"), ("2.000", "jobs"), ("3,000", "hộ")]
)
def test_a_count_with_three_decimal_zeros_is_ambiguous_not_one_thousandth(value: str, unit: str) -> None:
    indicator = (
        "site_clearance_households" if unit == "hộ" else "new_jobs" if unit != "enterprises" else "new_enterprises"
    )
    rejected = rejection(ev(indicator=indicator, value=value, unit=unit))
    assert rejected.reason is Reason.AMBIGUOUS_NUMBER and "three decimal zeros" in rejected.message


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("1.000", "doanh nghiệp", 1000),
        ("1,000", "enterprises", 1000),
        ("12.0", "enterprises", 12),
        ("1.234.000", "người", 1234000),
    ],
)
def test_counts_read_in_their_notation(value: str, unit: str, expected: int) -> None:
    indicator = "new_enterprises" if "nghiệp" in unit or unit == "enterprises" else "new_jobs"
    assert norm(ev(indicator=indicator, value=value, unit=unit)).value == expected


def test_confirmed_is_carried_to_the_update_and_strictly_boolean() -> None:
    """An office confirms a figure the aggregate refused as implausible_value by re-sending it with "confirmed"."""
    assert norm(ev()).confirmed is False
    assert norm(ev(confirmed=True, revision=1)).confirmed is True
    for bad in ("yes", 1):
        rejected = rejection(ev(confirmed=bad))
        assert rejected.reason is Reason.WRONG_TYPE and "'confirmed'" in rejected.message


@pytest.mark.parametrize("value", [-1, -0.001, "-4.680", "\u22127", -0.5])
def test_a_negative_count_is_negative_before_it_is_a_fraction(value: object) -> None:
    assert rejection(ev(indicator="new_jobs", value=value, unit="người")).reason is Reason.NEGATIVE_VALUE
