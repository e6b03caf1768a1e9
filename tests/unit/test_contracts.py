"""Topic keys and values are built and read in one place, and round-trip."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.contracts import (
    TotalsKey,
    View,
    decode_total,
    encode_total,
    figures_key,
    parse_series_key,
    parse_totals_key,
    series_key,
    totals_key,
)
from shared.vntime import iso, parse_iso


def test_series_key_round_trips() -> None:
    assert series_key("24@2025-07-01", "new_jobs", 2025) == "24@2025-07-01|new_jobs|2025"
    assert parse_series_key("24@2025-07-01|new_jobs|2025") == ("24@2025-07-01", "new_jobs", 2025)


@pytest.mark.parametrize(("quarter", "label"), [(1, "Q1"), (4, "Q4"), (5, "Q4+")])
def test_totals_key_round_trips(quarter: int, label: str) -> None:
    key = totals_key(View.CURRENT, "24", "state_budget_revenue", 2024, quarter)
    assert key == f"current/24|state_budget_revenue|2024|{label}".encode()
    assert parse_totals_key(key) == TotalsKey(View.CURRENT, "24", "state_budget_revenue", 2024, quarter)
    assert key.decode().startswith(figures_key(View.CURRENT, "24", "state_budget_revenue", 2024) + "|")


@pytest.mark.parametrize("bad", [b"sideways/24|x|2024|Q1", b"unit/24|x|2024", b"unit/24|x|year|Q1"])
def test_a_foreign_totals_key_is_refused(bad: bytes) -> None:
    with pytest.raises(ValueError):
        parse_totals_key(bad)


def test_totals_value_carries_its_view() -> None:
    raw = encode_total(View.UNIT, {"unit": "24", "value": "1.5"})
    assert decode_total(raw) == {"view": "unit", "unit": "24", "value": "1.5"}


def test_iso_round_trips_and_keeps_none() -> None:
    at = datetime(2024, 3, 31, 17, 30, tzinfo=UTC)
    assert parse_iso(iso(at)) == at and iso(None) is None and parse_iso(None) is None
