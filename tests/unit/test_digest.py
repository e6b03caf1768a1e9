"""The weekly digest (shared.digest): ISO weeks, the Friday schedule, the model built from the alert worker's JSON,
and its HTML and Markdown."""

from __future__ import annotations

import copy
import itertools
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.digest import (
    Digest,
    DigestInputError,
    IsoWeek,
    build_digest,
    next_digest_at,
    parse_week,
    render_html,
    render_markdown,
)
from shared.vntime import VN_TZ
from tests.digest_sources import JUDGED, WEEK, sources

SOURCES = sources()


@pytest.fixture(scope="module")
def digest() -> Digest:
    return build_digest(WEEK, *SOURCES)


@pytest.fixture(scope="module")
def page(digest: Digest) -> str:
    return render_html(digest)


def test_parse_week() -> None:
    week = parse_week("2025-W38")
    assert (week.monday, week.friday, week.sunday, week.judged_on) == (
        date(2025, 9, 15),
        date(2025, 9, 19),
        date(2025, 9, 21),
        date(2025, 9, 18),
    )
    assert parse_week(" 2020w53 ").label == "2020-W53"  # 2020 has 53 ISO weeks
    assert IsoWeek.of(date(2026, 1, 1)).label == "2026-W01"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025-W54", "week 2025-W54: 2025 has weeks W01-W52"),
        ("2025-W53", "week 2025-W53: 2025 has weeks W01-W52"),
        ("2025-W00", "week 2025-W00: 2025 has weeks W01-W52"),
        ("2025-38", "week '2025-38' is not an ISO week such as 2025-W38"),
        ("next friday", "week 'next friday' is not an ISO week such as 2025-W38"),
    ],
)
def test_bad_weeks_are_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_week(text)


def test_next_digest_at_friday_0800_vietnam() -> None:
    thursday = datetime(2025, 9, 18, 12, tzinfo=VN_TZ)
    assert next_digest_at(thursday) == datetime(2025, 9, 19, 8, tzinfo=VN_TZ)
    at_eight = datetime(2025, 9, 19, 8, tzinfo=VN_TZ)
    assert next_digest_at(at_eight) == datetime(2025, 9, 26, 8, tzinfo=VN_TZ)  # strictly after
    # 01:00 UTC on Friday is 08:00 in Vietnam: that digest is due
    assert next_digest_at(datetime(2025, 9, 19, 0, 59, tzinfo=UTC)) == at_eight
    assert next_digest_at(thursday, weekday=0, hour=7, minute=30) == datetime(2025, 9, 22, 7, 30, tzinfo=VN_TZ)
    with pytest.raises(ValueError, match="aware"):
        next_digest_at(datetime(2025, 9, 18))
    with pytest.raises(ValueError, match="weekday 7"):
        next_digest_at(thursday, weekday=7)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_next_digest_at_is_the_next_friday_morning(now: datetime) -> None:
    at = next_digest_at(now)
    local = at.astimezone(VN_TZ)
    assert (local.weekday(), local.hour, local.minute, local.second) == (4, 8, 0, 0)
    assert now < at <= now + timedelta(days=7)


def test_sections_rows_and_national_figures(digest: Digest) -> None:
    rankings, forecasts, alerts, _ = SOURCES
    (section,) = digest.sections
    assert section.title == "Public investment capital disbursed, 2025 central plan"
    assert section.national_aggregate_percent == Decimal(rankings[0]["national_aggregate_percent"])
    assert [row.rank for row in section.rows] == sorted(row.rank for row in section.rows)
    assert len(section.rows) == 34
    assert digest.judged_on == JUDGED
    # every province has its year-end projection; shortfalls are the forecasts flagged so, furthest short first
    assert all(row.projection is not None for row in section.rows)
    flagged = {f["province_code"] for f in forecasts if f["shortfall"]}
    assert {row.province_code for row in section.shortfalls} == flagged
    ratios = [row.projection.ratio for row in section.shortfalls if row.projection]
    assert ratios == sorted(ratios)
    # movers: the largest rank changes, up first
    changes = [row.rank_change or 0 for row in section.movers]
    assert changes and changes[0] == max(r.rank_change or 0 for r in section.rows)
    assert min(changes) == min(r.rank_change or 0 for r in section.rows)
    # the section's alerts are its behind-plan ones; the stale feed is a reporting gap
    assert {a.rule for a in section.alerts} == {"TiendoBehindPlan"}
    assert len(digest.alerts) == len(alerts)
    assert digest.alerts[0].severity == "critical"
    stale = next(a for a in alerts if a["key"]["rule"] == "TiendoFeedStale")
    gap = next(g for g in digest.reporting if g.province_code == stale["labels"]["province"])
    assert "TiendoFeedStale (warning)" in gap.what
    assert "missing" in gap.what


def test_late_reports_are_listed() -> None:
    rankings, forecasts, _, _ = copy.deepcopy(SOURCES)
    for row in rankings[0]["rows"]:
        row["on_time_rate"] = None
    timeliness = [
        {"province_code": "20", "province": "Lạng Sơn", "indicator": "public_investment_disbursed", "expected": 8}
        | {"on_time": 5, "late": 2, "missing": 1, "rate": "0.625"},
        {"province_code": "01", "province": "Hà Nội", "indicator": "public_investment_disbursed", "expected": 8}
        | {"on_time": 8, "late": 0, "missing": 0, "rate": "1"},
    ]
    digest = build_digest(WEEK, rankings, forecasts, [], timeliness)
    assert [(g.province, g.what) for g in digest.reporting] == [
        ("Lạng Sơn", "2 of 8 reports late, 1 of 8 missing; on time 62 %")
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("rankings", 0, "rows", 3, "percent", "abc"), "rankings[0].rows[3].percent: 'abc' is not a decimal number"),
        (("rankings", 0, "rows", 0, "rank", "first"), "rankings[0].rows[0].rank: 'first' is not a whole number"),
        (("forecasts", 2, "year_end", "ratio_to_target", "NaN"), "forecasts[2].year_end.ratio_to_target: 'NaN'"),
        (("alerts", 0, "key", None), "alerts[0].key: expected an object, got NoneType"),
        (("rankings", 0, "rows", 1, "as_of", "yesterday"), "rankings[0].rows[1].as_of: 'yesterday' is not an ISO"),
    ],
)
def test_bad_sources_name_the_field(change: tuple, message: str) -> None:
    data = dict(zip(("rankings", "forecasts", "alerts", "timeliness"), copy.deepcopy(SOURCES), strict=True))
    *path, name, value = change
    target: object = data
    for step in path:
        target = target[step]  # type: ignore[index]
    target[name] = value  # type: ignore[index]
    with pytest.raises(DigestInputError, match=re.escape(message)):
        build_digest(WEEK, data["rankings"], data["forecasts"], data["alerts"], data["timeliness"])


def test_missing_field_and_not_a_list() -> None:
    rankings, forecasts, alerts, _ = copy.deepcopy(SOURCES)
    del rankings[0]["national_aggregate_percent"]
    with pytest.raises(DigestInputError, match=r"rankings\[0\]: the field 'national_aggregate_percent' is missing"):
        build_digest(WEEK, rankings, forecasts, alerts)
    with pytest.raises(DigestInputError, match="forecasts: expected a list, got dict"):
        build_digest(WEEK, SOURCES[0], {"forecasts": []}, alerts)  # type: ignore[arg-type]


def test_html_is_self_contained_with_tables_and_charts(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert "2025-W38 (15 September 2025 – 21 September 2025)" in page
    assert page.count("<table>") == 3  # progress, firing alerts, reports missing or late
    assert page.count('src="data:image/png;base64,') == 2  # ranking bars and small multiples
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    assert "Lạng Sơn" in page
    assert "on current pace" in page
    assert "behind plan (critical)" in page


def test_html_escapes_what_it_is_given() -> None:
    rankings, forecasts, alerts, _ = copy.deepcopy(SOURCES)
    rankings[0]["rows"][0]["province"] = "<script>alert(1)</script>"
    page = render_html(build_digest(WEEK, rankings, forecasts, alerts))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_markdown_tables(digest: Digest) -> None:
    text = render_markdown(digest, charts=False)
    lines = text.splitlines()
    assert lines[0] == "# tiendo weekly digest 2025-W38 (15 September 2025 – 21 September 2025)"
    header = lines.index(
        "| rank | move | province | % of plan | vs expected | standing | on time | "
        "projected year end (range) | alerts | reading of |"
    )
    body = list(itertools.takewhile(lambda line: line.startswith("| "), lines[header + 2 :]))
    assert len(body) == 34
    assert "data:image/png" not in text
    with_charts = render_markdown(digest)
    assert with_charts.count("](data:image/png;base64,") == 2


def test_empty_digest_says_so() -> None:
    digest = build_digest(WEEK, [], [], [])
    page = render_html(digest)
    assert "No plan has a reading yet" in page
    assert "every expected report arrived on time" in render_markdown(digest)


def test_the_rankings_on_time_rate_names_late_reporters_without_timeliness_counts() -> None:
    rankings, forecasts, _, _ = copy.deepcopy(SOURCES)
    for row in rankings[0]["rows"]:
        row["on_time_rate"] = "0.50" if row["province_code"] == "20" else "1.00"
    digest = build_digest(WEEK, rankings, forecasts, [])
    assert [(g.province, g.what) for g in digest.reporting] == [("Lạng Sơn", "on time 50 % of the reports due in 2025")]
