"""The sample provincial feeds: deterministic, realistic, every bad event broken for exactly its stated reason."""

import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from samples.feeds import REASONS, SampleEvent, generate_year, write_feeds
from shared.events import DecodeError, FeedEvent, SchemaError, decode_json, validate_event
from shared.feedfiles import read_feed_file
from shared.indicators import UnitMismatchError, UnknownIndicatorError, get_indicator
from shared.numbers import NumberError, parse_number
from shared.provinces import UnknownProvinceError, registry
from shared.units import UnknownUnitError, lookup_unit
from shared.vntime import VN_TZ, DateError, parse_as_of, quarter_of

SAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "samples" / "feeds-2024"
TOPIC_CODES = {
    "feed.bac-giang": "24",
    "feed.bac-ninh": "27",
    "feed.hai-phong": "31",
    "feed.lang-son": "20",
    "feed.hai-duong": "30",
    "feed.thai-nguyen": "19",
    "feed.da-nang": "48",
}
BILLION, TRILLION, MILLION = Decimal(10**9), Decimal(10**12), Decimal(10**6)


@dataclass(frozen=True)
class Figure:
    """A feed event reduced to what the totals need (value in the indicator's base unit)."""

    event: FeedEvent
    code: str
    as_of: datetime
    value: Decimal


class DeadLetterError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def figure(raw: bytes) -> Figure:
    """Check one event the way the ingest worker does; raise DeadLetterError with the dead-letter reason code."""
    try:
        event = validate_event(decode_json(raw))
    except DecodeError:
        raise DeadLetterError("not_json") from None
    except SchemaError as exc:
        raise DeadLetterError(exc.code) from None
    try:
        indicator = get_indicator(event.indicator)
    except UnknownIndicatorError:
        raise DeadLetterError("unknown_indicator") from None
    try:
        as_of = parse_as_of(event.as_of)
    except DateError:
        raise DeadLetterError("impossible_date") from None
    try:
        unit = lookup_unit(event.unit)
    except UnknownUnitError:
        raise DeadLetterError("unknown_unit") from None
    try:
        value = indicator.convert(parse_number(event.value, unit.lang), unit)
    except NumberError as exc:
        raise DeadLetterError("ambiguous_number" if exc.code == "ambiguous_number" else "invalid_number") from None
    except UnitMismatchError:
        raise DeadLetterError("unit_mismatch") from None
    if indicator.nonnegative and value < 0:
        raise DeadLetterError("negative_value")
    try:
        province = registry().resolve(event.province, as_of.astimezone(VN_TZ).date())
    except UnknownProvinceError:
        raise DeadLetterError("unknown_province") from None
    return Figure(event, province.code, as_of, value)


@pytest.fixture(scope="module")
def events() -> list[SampleEvent]:
    return generate_year()


@pytest.fixture(scope="module")
def figures(events: list[SampleEvent]) -> list[tuple[SampleEvent, Figure]]:
    return [(e, figure(e.value)) for e in events if e.kind != "bad"]


def latest(figures: list[tuple[SampleEvent, Figure]]) -> dict[tuple[str, str], Figure]:
    """The accepted figure per (topic, event_id): highest revision wins, duplicates dropped."""
    kept: dict[tuple[str, str], Figure] = {}
    for sample, fig in figures:
        key = (sample.topic, fig.event.event_id)
        if key not in kept or fig.event.revision > kept[key].event.revision:
            kept[key] = fig
    return kept


def test_deterministic(events: list[SampleEvent]) -> None:
    assert generate_year() == events
    assert generate_year(seed=7) != events


def test_counts_per_kind_and_reason(events: list[SampleEvent]) -> None:
    kinds = Counter(e.kind for e in events)
    assert 3_000 <= len(events) <= 6_000
    assert 0.025 <= kinds["duplicate"] / len(events) <= 0.035
    assert 0.015 <= kinds["bad"] / len(events) <= 0.025
    assert 10 <= kinds["correction"] <= 40
    reasons = Counter(e.expect_reason for e in events if e.kind == "bad")
    assert set(reasons) == set(REASONS)
    assert all(e.expect_reason is None for e in events if e.kind != "bad")
    assert set(Counter(e.topic for e in events)) == set(TOPIC_CODES)


def test_every_good_event_is_accepted(figures: list[tuple[SampleEvent, Figure]]) -> None:
    for sample, fig in figures:
        assert fig.code == TOPIC_CODES[sample.topic], sample.value
        assert fig.as_of.astimezone(VN_TZ).year == 2024


def test_every_bad_event_is_rejected_for_its_reason(events: list[SampleEvent]) -> None:
    for sample in (e for e in events if e.kind == "bad"):
        with pytest.raises(DeadLetterError) as caught:
            figure(sample.value)
        assert caught.value.reason == sample.expect_reason, sample.value
        assert b"\n" not in sample.value


def test_ids_duplicates_and_corrections(events: list[SampleEvent], figures: list[tuple[SampleEvent, Figure]]) -> None:
    originals: dict[tuple[str, str], bytes] = {}
    for sample, fig in figures:
        key = (sample.topic, fig.event.event_id)
        if sample.kind == "valid":
            assert key not in originals, f"event id used twice: {key}"
            originals[key] = sample.value
    by_key = {(s.topic, f.event.event_id, f.event.revision): f for s, f in figures if s.kind == "valid"}
    for sample, fig in figures:
        key = (sample.topic, fig.event.event_id)
        if sample.kind == "duplicate":
            original = by_key[(*key, fig.event.revision)]
            assert fig.event == original.event
        elif sample.kind == "correction":
            assert fig.event.revision == 1
            assert fig.value != by_key[(*key, 0)].value
    assert sum(1 for e in events if e.kind == "duplicate" and e.value in originals.values()) > 0


def test_events_come_in_send_order(figures: list[tuple[SampleEvent, Figure]]) -> None:
    firsts = [fig.as_of for sample, fig in figures if sample.kind == "valid"]
    assert firsts == sorted(firsts)


def test_year_to_date_series_never_fall(figures: list[tuple[SampleEvent, Figure]]) -> None:
    series: dict[tuple[str, str], list[Figure]] = defaultdict(list)
    for fig in latest(figures).values():
        if fig.event.mode == "ytd" and fig.event.indicator != "grdp_growth":
            series[(fig.code, fig.event.indicator)].append(fig)
    assert len(series) == 7 * 4 + 3
    for key, readings in series.items():
        values = [f.value for f in sorted(readings, key=lambda f: f.as_of)]
        assert values == sorted(values), key


def test_bac_giang_first_quarter_2024(figures: list[tuple[SampleEvent, Figure]]) -> None:
    """Seed 001: Bắc Giang's Q1 2024 review."""
    kept = [f for f in latest(figures).values() if f.code == "24"]

    def ytd(indicator: str, on: date) -> Decimal:
        (found,) = [f for f in kept if f.event.indicator == indicator and f.event.as_of == on.isoformat()]
        return found.value

    def q1(indicator: str) -> Decimal:
        return sum(
            (f.value for f in kept if f.event.indicator == indicator and quarter_of(f.as_of) == (2024, 1)),
            Decimal(0),
        )

    assert ytd("state_budget_revenue", date(2024, 3, 31)) == 4_680 * BILLION
    assert float(ytd("state_budget_revenue", date(2024, 3, 31)) / (14_356 * BILLION)) == pytest.approx(0.326, abs=0.001)
    ipv = ytd("industrial_production_value", date(2024, 3, 31))
    assert ipv > 150 * TRILLION
    assert float(ipv / (664 * TRILLION)) == pytest.approx(0.226, abs=0.0005)
    assert ytd("import_export_value", date(2024, 3, 31)) == Decimal("10.31") * 1000 * MILLION
    assert ytd("investment_attracted", date(2024, 3, 15)) == Decimal("624.26") * MILLION
    assert ytd("grdp_growth", date(2024, 3, 31)) == Decimal("14.18")
    assert q1("new_enterprises") == 310
    assert q1("registered_capital") > 2_500 * BILLION
    assert q1("new_jobs") > 8_900


def test_lang_son_disbursement_lags_and_trade_tops_5_billion(figures: list[tuple[SampleEvent, Figure]]) -> None:
    """Seed 004: Lạng Sơn's disbursement lags all year; its import-export exceeds 5 bn USD."""
    kept = [f for f in latest(figures).values() if f.code == "20"]
    disbursed = {f.event.as_of: f.value for f in kept if f.event.indicator == "public_investment_disbursed"}
    assert disbursed["2024-09-15"] == 1_395 * BILLION  # 31% of a 4,500 bn plan
    assert max(disbursed.values()) < Decimal("0.75") * 4_500 * BILLION
    trade = max(f.value for f in kept if f.event.indicator == "import_export_value")
    assert trade > 5_000 * MILLION


def test_hai_phong_site_clearance_behind(figures: list[tuple[SampleEvent, Figure]]) -> None:
    """Hải Phòng's site clearance (seed 002's key task) reaches well under half of a 1,200 ha plan."""
    kept = latest(figures).values()
    cleared = sum(f.value for f in kept if f.code == "31" and f.event.indicator == "site_clearance_area")
    assert 300 < cleared < 600
    on_track = sum(f.value for f in kept if f.code == "27" and f.event.indicator == "site_clearance_area")
    assert on_track > Decimal("0.85") * 900


def test_realistic_variety(events: list[SampleEvent], figures: list[tuple[SampleEvent, Figure]]) -> None:
    provinces = {f.event.province for _, f in figures}
    assert {"Bắc Giang", "Bac Giang", "BẮC GIANG", "Tỉnh Bắc Giang", "24"} <= provinces
    assert any(not unicodedata.is_normalized("NFC", p) for p in provinces)
    units = {f.event.unit for _, f in figures}
    assert {"tỷ đồng", "billion VND", "nghìn tỷ đồng", "trillion VND", "triệu USD", "million USD", "ha", "m2"} <= units
    written = [(f.event.value, lookup_unit(f.event.unit).lang) for _, f in figures]
    assert any(isinstance(v, str) and "." in v and lang == "vi" for v, lang in written)  # 4.680 tỷ đồng
    assert any(isinstance(v, str) and "," in v and lang == "en" for v, lang in written)  # 4,680 billion VND
    assert any(isinstance(v, int | float) for v, _ in written)
    disbursement = {f.event.mode for _, f in figures if f.event.indicator == "public_investment_disbursed"}
    assert disbursement == {"ytd", "delta"}
    assert any(f.as_of.astimezone(VN_TZ).month != f.as_of.month for _, f in figures)  # UTC stamps across a day


def test_written_files_match_and_read_back(tmp_path: Path, events: list[SampleEvent]) -> None:
    paths = write_feeds(events, tmp_path)
    assert [p.name for p in paths] == sorted(f"{topic}.jsonl" for topic in TOPIC_CODES)
    for path in paths:
        topic = path.name.removesuffix(".jsonl")
        assert [r.value for r in read_feed_file(path)] == [e.value for e in events if e.topic == topic]
        committed = SAMPLES / path.name
        assert committed.read_bytes() == path.read_bytes(), f"{committed} is stale: run python -m samples"
