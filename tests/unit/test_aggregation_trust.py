"""Aggregation rules that keep figures trustworthy: one contribution per event identity wherever corrections move
it, the merged provinces' year-to-date readings, the plan year's January tail, implausible readings."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from services.aggregate.batches import total_message
from shared.aggregation import (
    Outcome,
    SeriesState,
    apply_batch,
    merged_unit,
    rollup,
)
from shared.contracts import View
from shared.updates import IndicatorUpdate, Origin, Retraction, decode_message, moved_contributions
from shared.vntime import parse_as_of, quarter_of

BN = Decimal(10**9)
_n = itertools.count()


def upd(
    value: Decimal | int,
    as_of: str,
    *,
    unit: str = "24",
    province: str | None = None,
    current: str = "24",
    indicator: str = "state_budget_revenue",
    mode: str = "ytd",
    event_id: str | None = None,
    revision: int = 0,
    plan_year: int | None = None,
) -> IndicatorUpdate:
    """An update as ingest publishes it (``plan_year`` N with a January N+1 ``as_of`` is quarter 5, "Q4+")."""
    when = parse_as_of(as_of)
    year, quarter = quarter_of(when)
    if plan_year is not None and plan_year == year - 1:
        year, quarter = plan_year, 5
    n = next(_n)
    return IndicatorUpdate(
        event_id=event_id or f"e{n}",
        revision=revision,
        publisher="feed.bac-giang",
        unit=unit,
        province_code=province or unit.split("@", maxsplit=1)[0],
        current_code=current,
        indicator=indicator,
        mode=mode,  # type: ignore[arg-type]
        value=Decimal(value),
        as_of=when,
        year=year,
        quarter=quarter,
        source=f"feed.{unit}",
        origin=Origin("feed.bac-giang", 0, n),
        received_at=datetime.now(UTC),
    )


def run(*batches: list[IndicatorUpdate], seen: dict[str, str] | None = None) -> dict[str, SeriesState]:
    """Ingest's part (retractions for corrections that move) and the aggregate's, batch by batch, one store."""
    store: dict[str, SeriesState] = {}
    routing = {} if seen is None else seen
    for batch in batches:
        retractions = dict(moved_contributions(batch, routing.get))
        messages: list[IndicatorUpdate | Retraction] = []
        for position, update in enumerate(batch):
            messages.append(update)
            if position in retractions:
                messages.append(retractions[position])
            routing[update.identity] = update.routing
        # Through the wire format, as the aggregate worker reads them.
        decoded = [decode_message(m.encode()) for m in messages]
        states: dict[str, SeriesState] = {}
        apply_batch(states, decoded, store.get)
        store.update(states)
    return store


def ytd(store: dict[str, SeriesState], series: str, quarter: int) -> Decimal:
    state = store.get(series)
    return Decimal(0) if state is None else state.quarter_total(quarter).ytd


# -- one contribution per identity, wherever a correction moves it ------------------------------------------------


def test_a_correction_into_the_next_year_leaves_the_old_year() -> None:
    rev0 = upd(100 * BN, "2024-12-31", mode="delta", event_id="hp-w53")
    rev1 = replace(upd(100 * BN, "2025-01-02", mode="delta"), event_id="hp-w53", revision=1)
    for batches in ([[rev0], [rev1]], [[rev0, rev1]]):
        store = run(*batches)
        assert ytd(store, "24|state_budget_revenue|2024", 4) == 0
        assert ytd(store, "24|state_budget_revenue|2025", 1) == 100 * BN


def test_a_province_fixed_from_bac_ninh_to_bac_giang_counts_once() -> None:
    wrong = upd(500 * BN, "2024-03-31", unit="27", event_id="q1")
    fixed = replace(upd(500 * BN, "2024-03-31", unit="24"), event_id="q1", revision=1)
    store = run([wrong], [fixed])
    assert ytd(store, "27|state_budget_revenue|2024", 1) == 0
    assert ytd(store, "24|state_budget_revenue|2024", 1) == 500 * BN
    current = rollup([t for s in store.values() for t in s.totals()], "24")
    assert [t.ytd for t in current] == [500 * BN]


def test_a_changed_indicator_moves_the_contribution() -> None:
    wrong = upd(310, "2024-03-31", indicator="new_jobs", event_id="dn-q1")
    fixed = replace(upd(310, "2024-03-31", indicator="new_enterprises"), event_id="dn-q1", revision=1)
    store = run([wrong], [fixed])
    assert ytd(store, "24|new_jobs|2024", 1) == 0
    assert ytd(store, "24|new_enterprises|2024", 1) == 310


def test_retractions_are_idempotent_and_a_late_old_revision_is_a_duplicate() -> None:
    rev0 = upd(100 * BN, "2024-12-31", event_id="x")
    rev1 = replace(upd(120 * BN, "2025-01-31"), event_id="x", revision=1)
    retraction = Retraction.of(rev0.routing, rev1)
    old_series: dict[str, SeriesState] = {}
    apply_batch(old_series, [rev0], lambda key: None)
    outcomes = [apply_batch(old_series, [m], old_series.get).counts for m in (retraction, retraction, rev0)]
    assert outcomes[0][Outcome.RETRACTED] == 1
    assert outcomes[1][Outcome.DUPLICATE] == 1
    assert outcomes[2][Outcome.DUPLICATE] == 1
    assert old_series["24|state_budget_revenue|2024"].quarter_total(4).ytd == 0
    # and the state keeps the retraction through its encoding
    again = SeriesState.from_dict(old_series["24|state_budget_revenue|2024"].to_dict())
    assert again.apply(rev0) is Outcome.DUPLICATE


def test_a_correction_moving_back_counts_once() -> None:
    rev0 = upd(100 * BN, "2024-12-31", event_id="x")
    rev1 = replace(upd(100 * BN, "2025-01-05"), event_id="x", revision=1)
    rev2 = replace(upd(90 * BN, "2024-12-30"), event_id="x", revision=2)
    store = run([rev0], [rev1], [rev2])
    assert ytd(store, "24|state_budget_revenue|2024", 4) == 90 * BN
    assert ytd(store, "24|state_budget_revenue|2025", 1) == 0


def test_a_retraction_for_an_unknown_series_changes_nothing() -> None:
    rev1 = replace(upd(1, "2025-01-05"), event_id="x", revision=1)
    result = apply_batch({}, [Retraction.of("24|24|24|state_budget_revenue|2024", rev1)], lambda key: None)
    assert not result.changed and result.counts[Outcome.DUPLICATE] == 1


_SERIES = [
    {"unit": "24", "as_of": "2024-05-31", "indicator": "state_budget_revenue"},
    {"unit": "27", "as_of": "2024-05-31", "indicator": "state_budget_revenue"},
    {"unit": "24", "as_of": "2025-02-28", "indicator": "state_budget_revenue"},
    {"unit": "24", "as_of": "2024-08-31", "indicator": "registered_capital"},
    {"unit": "24@2025-07-01", "as_of": "2025-08-31", "indicator": "state_budget_revenue", "province": "24"},
]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, len(_SERIES) - 1),
            st.integers(100, 1000),  # within IMPLAUSIBLE_FACTOR of each other: this is about moves
            st.sampled_from(["delta", "ytd"]),
        ),
        min_size=1,
        max_size=25,
    ),
    st.lists(st.integers(1, 6), min_size=1, max_size=8),
)
def test_property_each_identity_owns_exactly_its_latest_revision(
    sends: list[tuple[int, int, int, str]], cuts: list[int]
) -> None:
    """Any sequence of revisions of a few identities, moving between years, units and indicators, cut into any
    batches: every series holds exactly the latest revision of the identities whose latest revision is there."""
    revisions: dict[str, int] = {}
    updates: list[IndicatorUpdate] = []
    for identity, where, value, mode in sends:
        event_id = f"id{identity}"
        revision = revisions.get(event_id, -1) + 1
        revisions[event_id] = revision
        updates.append(upd(value, **_SERIES[where], mode=mode, event_id=event_id, revision=revision))
    batches, start = [], 0
    for cut in itertools.cycle(cuts):
        if start >= len(updates):
            break
        batches.append(updates[start : start + cut])
        start += cut
    store = run(*batches)
    latest = {u.identity: u for u in updates}  # the last revision sent of each identity wins
    for key, state in store.items():
        owners = {i for i, u in latest.items() if u.series == key}
        expected = {i: latest[i] for i in owners}
        contributing = {
            i for i in (u.identity for u in updates) if state.applied_quarter(i) is not None and i in latest
        }
        assert contributing == set(expected), key
        for identity, update in expected.items():
            assert state.applied_quarter(identity) == update.quarter


# -- the 2025 merger: year-to-date readings of merged provinces ----------------------------------------------------


MERGED = "24@2025-07-01"


def _current(*updates: IndicatorUpdate) -> dict[int, tuple[Decimal, Decimal]]:
    store = run(list(updates))
    return {t.quarter: (t.value, t.ytd) for t in rollup([t for s in store.values() for t in s.totals()], "24")}


def test_merged_province_nine_month_reading_covers_its_constituents_first_half() -> None:
    assert merged_unit("24") == MERGED and merged_unit("20") is None and merged_unit("46") is None
    current = _current(
        upd(6_000 * BN, "2025-06-30", unit="24"),  # Bắc Giang, H1
        upd(20_000 * BN, "2025-06-30", unit="27"),  # old Bắc Ninh, H1
        upd(30_000 * BN, "2025-09-30", unit=MERGED),  # merged Bắc Ninh, 9 months, whole territory
    )
    assert current[2] == (26_000 * BN, 26_000 * BN)
    assert current[3] == (4_000 * BN, 30_000 * BN)  # not 56,000


def test_merged_province_increments_add_to_its_constituents() -> None:
    current = _current(
        upd(2_000 * BN, "2025-03-31", unit="24", mode="delta"),
        upd(5_000 * BN, "2025-05-31", unit="27", mode="delta"),
        upd(700 * BN, "2025-08-15", unit=MERGED, mode="delta"),
        upd(300 * BN, "2025-09-15", unit=MERGED, mode="delta"),
    )
    assert current[3] == (1_000 * BN, 8_000 * BN)


def test_merged_province_mixed_reading_then_increments() -> None:
    current = _current(
        upd(6_000 * BN, "2025-06-30", unit="24"),
        upd(20_000 * BN, "2025-06-30", unit="27"),
        upd(500 * BN, "2025-08-10", unit=MERGED, mode="delta"),  # on top of the constituents' 26,000
        upd(30_000 * BN, "2025-09-30", unit=MERGED),  # the whole territory's 9-month figure
        upd(800 * BN, "2025-11-10", unit=MERGED, mode="delta"),
    )
    assert current[3][1] == 30_000 * BN
    assert current[4] == (800 * BN, 30_800 * BN)


def test_a_late_first_half_correction_does_not_move_the_merged_reading() -> None:
    current = _current(
        upd(6_000 * BN, "2025-06-30", unit="24", event_id="bg-h1"),
        upd(20_000 * BN, "2025-06-30", unit="27"),
        upd(30_000 * BN, "2025-09-30", unit=MERGED),
        replace(upd(6_500 * BN, "2025-06-30", unit="24"), event_id="bg-h1", revision=1),
    )
    assert current[2][1] == 26_500 * BN
    assert current[3] == (3_500 * BN, 30_000 * BN)


def test_a_correction_across_the_merger_date_moves_once() -> None:
    june = upd(20_000 * BN, "2025-06-30", unit="27", event_id="bn-h1")
    july = replace(upd(20_100 * BN, "2025-07-02", unit=MERGED), event_id="bn-h1", revision=1)
    store = run([upd(6_000 * BN, "2025-06-30", unit="24"), june], [july])
    assert ytd(store, "27|state_budget_revenue|2025", 2) == 0
    current = {t.quarter: t.ytd for t in rollup([t for s in store.values() for t in s.totals()], "24")}
    assert current[2] == 6_000 * BN
    assert current[3] == 20_100 * BN  # the merged province's reading covers the whole territory


def test_other_years_of_a_merged_province_simply_add_up() -> None:
    current = {
        t.quarter: t.ytd
        for t in rollup(
            [
                *run([upd(6_000 * BN, "2024-06-30", unit="24"), upd(20_000 * BN, "2024-06-30", unit="27")])[
                    "24|state_budget_revenue|2024"
                ].totals(),
                *run([upd(20_000 * BN, "2024-06-30", unit="27")])["27|state_budget_revenue|2024"].totals(),
            ],
            "24",
        )
    }
    assert current == {1: 0, 2: 26_000 * BN}


# -- the plan year's January tail ("Q4+") ---------------------------------------------------------------------------


def test_january_reading_of_the_previous_plan_year_extends_it_past_q4() -> None:
    store = run(
        [
            upd(900 * BN, "2024-12-31", indicator="public_investment_disbursed"),
            upd(1_000 * BN, "2025-01-31", indicator="public_investment_disbursed", plan_year=2024),
            upd(40 * BN, "2025-01-31", indicator="public_investment_disbursed"),  # plan year 2025's January
        ]
    )
    old = store["24|public_investment_disbursed|2024"].totals()
    assert [(t.quarter, t.value, t.ytd) for t in old][-2:] == [(4, 900 * BN, 900 * BN), (5, 100 * BN, 1_000 * BN)]
    assert total_message(View.UNIT, old[-1])[0] == b"unit/24|public_investment_disbursed|2024|Q4+"
    new = store["24|public_investment_disbursed|2025"].totals()
    assert [(t.quarter, t.ytd) for t in new] == [(1, 40 * BN)]


def test_a_state_saved_with_four_quarters_still_loads() -> None:
    state = run([upd(900 * BN, "2024-03-31")])["24|state_budget_revenue|2024"]
    saved = state.to_dict()
    saved["quarters"] = saved["quarters"][:4]
    assert SeriesState.from_dict(saved).quarter_total(1).ytd == 900 * BN


# -- implausible readings ------------------------------------------------------------------------------------------


def test_a_reading_misread_a_thousand_times_too_small_is_refused_with_why() -> None:
    states: dict[str, SeriesState] = {}
    apply_batch(states, [upd(4_000 * BN, "2024-03-31")], lambda key: None)
    misread = upd(Decimal("4.68") * BN, "2024-06-30")  # "4,680" tỷ đồng read in Vietnamese notation
    result = apply_batch(states, [misread], states.get)
    assert result.counts[Outcome.IMPLAUSIBLE] == 1 and not result.changed
    [(refused, why)] = result.implausible
    assert refused is misread
    assert "1/855 of" in why and "4000000000000" in why and '"confirmed": true' in why
    assert states["24|state_budget_revenue|2024"].quarter_total(2).ytd == 4_000 * BN
    confirmed = replace(misread, revision=1, confirmed=True)
    assert apply_batch(states, [confirmed], states.get).counts[Outcome.APPLIED] == 1


def test_a_thousand_times_too_large_reading_and_a_late_older_one_are_refused() -> None:
    states: dict[str, SeriesState] = {}
    apply_batch(states, [upd(4_000 * BN, "2024-06-30")], lambda key: None)
    too_big = apply_batch(states, [upd(4_680_000 * BN, "2024-09-30")], states.get)
    late_and_big = apply_batch(states, [upd(4_000_000 * BN, "2024-03-31")], states.get)
    assert too_big.counts[Outcome.IMPLAUSIBLE] == late_and_big.counts[Outcome.IMPLAUSIBLE] == 1


def test_plausible_growth_increments_and_first_readings_are_applied() -> None:
    states: dict[str, SeriesState] = {}
    batch = [
        upd(Decimal("0.5") * BN, "2024-01-05"),  # a tiny first reading: nothing to compare with
        upd(200 * BN, "2024-06-30"),  # 400x in half a year: fast, not a notation error
        upd(Decimal("0.001") * BN, "2024-07-01", mode="delta"),  # increments are not compared
        upd(150 * BN, "2024-03-31"),  # a late older reading below the latest: normal
    ]
    result = apply_batch(states, batch, lambda key: None)
    assert result.counts[Outcome.APPLIED] == 4 and not result.implausible
