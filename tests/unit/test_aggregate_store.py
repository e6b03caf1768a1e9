"""The aggregate worker's local store: RocksDB per partition with a changelog checkpoint, and the decoded-state LRU."""

from __future__ import annotations

from pathlib import Path

from services.aggregate.store import CHECKPOINT, PartitionStore, SeriesStore, decode_state, encode_state
from shared.aggregation import SeriesState
from tests.unit.test_aggregation import upd


def series(year: int, value: int = 5) -> SeriesState:
    state = SeriesState.new("24", "24", "24", "new_enterprises", year)
    state.apply(upd("new_enterprises", value, f"{year}-02-01", event_id=f"e-{year}"))
    return state


def saved(states: list[SeriesState]) -> dict[str, tuple[bytes, SeriesState]]:
    return {s.key: (encode_state(s), s) for s in states}


def test_partition_store_keeps_states_and_checkpoint_across_reopen(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "p0")
    assert (store.next_offset, store.keys) == (0, 0)
    store.write({b"a|x|2024": b"1", b"b|x|2024": b"2"}, next_offset=7)
    store.write({b"a|x|2024": b"3", b"b|x|2024": None}, next_offset=9)  # overwrite and delete
    store.close()
    again = PartitionStore(tmp_path / "p0")
    assert again.next_offset == 9
    assert again.keys == 1, "the checkpoint is not a series"
    assert dict(again.items()) == {b"a|x|2024": b"3"}
    assert CHECKPOINT not in dict(again.items())
    again.close()


def test_save_counts_new_series_once_and_load_returns_saved_states(tmp_path: Path) -> None:
    store = SeriesStore(tmp_path, cache_size=10)
    store.open(2)
    first = [series(2023), series(2024)]
    assert store.save(2, saved(first), next_offset=2) == 2
    assert store.save(2, saved([series(2024, value=8)]), next_offset=3) == 0, "an update of a known series"
    assert store.keys == 2
    store.forget_cached()  # read back from RocksDB, decoded
    loaded = store.load(2, first[0].key)
    assert loaded is not None and loaded.to_dict() == first[0].to_dict()
    assert store.load(2, "24|new_enterprises|1999") is None
    assert store.partitions[2].next_offset == 3


def test_cache_evicts_least_recently_used_and_close_drops_a_partition(tmp_path: Path) -> None:
    store = SeriesStore(tmp_path, cache_size=2)
    store.open(0)
    store.open(1)
    a, b, c = series(2020), series(2021), series(2022)
    store.save(0, saved([a, b]), next_offset=2)
    store.save(1, saved([c]), next_offset=1)
    assert store.load(0, a.key) is a, "recently written states are served from the cache"
    store.trim()  # keeps a (used last) and c
    assert store.load(0, a.key) is a
    assert store.load(1, c.key) is c
    reloaded = store.load(0, b.key)
    assert reloaded is not b and reloaded is not None and reloaded.to_dict() == b.to_dict()
    store.close(1)
    assert 1 not in store.partitions and store.keys == 2
    store.open(1)
    assert store.load(1, c.key) is not c, "a reopened partition is read from disk"
    assert sorted(key for key, _ in store.items()) == sorted([a.key, b.key, c.key])
    store.close_all()


def test_encoded_state_round_trips() -> None:
    state = series(2024, value=12)
    assert decode_state(encode_state(state)).to_dict() == state.to_dict()
