"""The peers' small-state aggregation (``bench.peers.smallstate``) publishes what ``SeriesState`` publishes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.peers import smallstate
from bench.raw_aggregate import totals_messages
from shared.aggregation import SeriesState, apply_batch
from shared.updates import IndicatorUpdate, Origin, Retraction
from shared.vntime import VN_TZ, quarter_of

#: Bắc Giang (24) and Bắc Ninh (27) roll up into the current province 24: both views are published.
UNITS = ("24", "27")
INDICATORS = ("public_investment_disbursed", "grdp_growth", "grdp")
#: Few dates, so that readings and deltas share dates and ties are decided by the apply order.
DATES = [datetime(2024, 1, 1, tzinfo=VN_TZ) + timedelta(days=d) for d in (10, 40, 40.5, 100, 190, 300, 366)]


class JsonStore:
    """A store that keeps JSON bytes, as a state store does: no value is shared with its reader."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> Any:
        found = self.data.get(key)
        return None if found is None else orjson.loads(found)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = orjson.dumps(value)


@st.composite
def histories(draw: st.DrawFn) -> list[IndicatorUpdate | Retraction]:
    """Updates of a few identities over two units of one current province: revisions, moves between quarters and
    units (with the retraction ingest sends), readings 1,000× apart (implausible), duplicates."""
    indicator = draw(st.sampled_from(INDICATORS))
    messages: list[IndicatorUpdate | Retraction] = []
    where: dict[str, str] = {}
    for n in range(draw(st.integers(1, 40))):
        identity = draw(st.sampled_from("abcdefgh"))
        unit = draw(st.sampled_from(UNITS))
        as_of = draw(st.sampled_from(DATES))
        year, quarter = quarter_of(as_of)
        if year != 2024:
            year, quarter = 2024, 5  # the plan year's January tail
        revision = draw(st.integers(0, 3))
        update = IndicatorUpdate(
            event_id=identity, revision=revision, publisher="p", unit=unit, province_code=unit, current_code="24",
            indicator=indicator, mode=draw(st.sampled_from(("delta", "ytd"))),
            value=Decimal(draw(st.sampled_from((0, 1, 2, 5, 7, 1000, 2500, -3)))),
            as_of=as_of, year=year, quarter=quarter, source=draw(st.sampled_from(("s1", "s2", None))),
            origin=Origin("feed.x", 0, n), received_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
            confirmed=draw(st.booleans()) and draw(st.booleans()),
        )  # fmt: skip
        if identity in where and where[identity] != update.routing:
            messages.append(Retraction.of(where[identity], update))
        where[identity] = update.routing
        messages.append(update)
    return messages


@pytest.mark.parametrize("chunk", [1, 2, 50])
@settings(max_examples=150, deadline=None)
@given(history=histories())
def test_small_state_publishes_what_series_state_publishes(
    chunk: int, history: list[IndicatorUpdate | Retraction]
) -> None:
    """Message by message the same totals (bytes), and at the end the same figures for every quarter of every
    series, with reading lists of 1, 2 and 50 per chunk."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(smallstate, "_CHUNK", chunk)
        check(history)


def check(history: list[IndicatorUpdate | Retraction]) -> None:
    states: dict[str, SeriesState] = {}
    store = JsonStore()
    for message in history:
        expected = totals_messages(apply_batch(states, [message], lambda _key: None), states.get)
        assert smallstate.totals_of(store, message) == expected
    for key, state in states.items():
        small = smallstate.SmallSeries.load(store, key)
        if small is None:  # created, then nothing applied to it
            assert state.totals() == []
            continue
        assert [small.quarter_total(q) for q in range(1, 6)] == [state.quarter_total(q) for q in range(1, 6)]


def test_identity_cap_refuses_new_identities(monkeypatch: pytest.MonkeyPatch) -> None:
    """A full series refuses a new identity (nothing published) and still takes a correction."""
    monkeypatch.setattr(smallstate, "MAX_IDENTITIES", 2)
    store = JsonStore()

    def update(identity: str, revision: int = 0) -> IndicatorUpdate:
        return IndicatorUpdate(
            event_id=identity, revision=revision, publisher="p", unit="24", province_code="24", current_code="24",
            indicator="new_jobs", mode="delta", value=Decimal(1), as_of=DATES[0], year=2024, quarter=1, source=None,
            origin=Origin("feed.x", 0, 0), received_at=datetime(2024, 1, 2, tzinfo=UTC),
        )  # fmt: skip

    assert smallstate.totals_of(store, update("a"))
    assert smallstate.totals_of(store, update("b"))
    assert smallstate.totals_of(store, update("c")) == []
    assert smallstate.totals_of(store, update("a", revision=1))
