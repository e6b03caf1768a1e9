"""Series states of the partitions a worker owns: RocksDB on local disk, recently used states decoded in memory.

One RocksDB folder per partition of ``indicator.updates`` holds the encoded state of every series read from that
partition, plus the offset of the changelog partition up to which it is complete (``CHECKPOINT``). RocksDB is
written once the batch that wrote the changelog is committed, so the local store may lag the committed changelog,
never lead it: recovery replays the changelog from the checkpoint, or from the beginning into an empty folder (a new
machine, a wiped disk, or a folder whose checkpoint is past the committed changelog's end).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path

import orjson
from rocksdict import Options, Rdict, WriteBatch

from shared.aggregation import SeriesState

#: Key of the changelog checkpoint; series keys (``unit|indicator|year``) never start with a NUL byte.
CHECKPOINT = b"\x00changelog-next-offset"


#: RocksDB memtable size per partition: the default (64 MB, up to two of them) would let four partitions hold
#: 512 MB of memtables; states are a few hundred bytes, so 8 MB memtables still batch thousands of writes per flush.
MEMTABLE_BYTES = 8 * 1024 * 1024


def _options() -> Options:
    options = Options(raw_mode=True)
    options.set_write_buffer_size(MEMTABLE_BYTES)
    options.set_max_write_buffer_number(2)
    return options


def encode_state(state: SeriesState) -> bytes:
    return state.encode()


def decode_state(raw: bytes) -> SeriesState:
    return SeriesState.from_dict(orjson.loads(raw))


class PartitionStore:
    """The RocksDB folder of one partition."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = Rdict(str(path), _options())
        raw = self.db.get(CHECKPOINT)
        #: The next changelog offset to apply: everything before it is in this store.
        self.next_offset = int(raw) if raw is not None else 0
        self.keys = self._count()

    def _count(self) -> int:
        return sum(1 for key in self.db.keys() if key != CHECKPOINT)  # noqa: SIM118 - Rdict iterates keys only via keys()

    def get(self, key: bytes) -> bytes | None:
        return self.db.get(key)

    def write(self, items: Mapping[bytes, bytes | None], next_offset: int) -> None:
        """Write encoded states (None deletes) and the new checkpoint atomically."""
        batch = WriteBatch(raw_mode=True)
        for key, value in items.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        batch.put(CHECKPOINT, str(next_offset).encode())
        self.db.write(batch)
        self.next_offset = next_offset

    def recount(self) -> int:
        self.keys = self._count()
        return self.keys

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return ((key, value) for key, value in self.db.items() if isinstance(key, bytes) and key != CHECKPOINT)

    def close(self) -> None:
        self.db.close()


class SeriesStore:
    """The states of every owned partition, with an LRU cache of decoded states (``cache_size`` series).

    Decoding a state costs far more than applying an update to it, so a batch reads RocksDB only for series it
    has not touched recently; the cache holds the same objects that were last written, never newer ones.
    """

    def __init__(self, folder: Path, cache_size: int) -> None:
        self.folder, self.cache_size = folder, cache_size
        self.partitions: dict[int, PartitionStore] = {}
        self._cache: OrderedDict[str, tuple[int, SeriesState]] = OrderedDict()

    def open(self, partition: int) -> PartitionStore:
        store = PartitionStore(self.folder / f"series-{partition}")
        self.partitions[partition] = store
        return store

    def wipe(self, partition: int) -> PartitionStore:
        """Empty an open partition's folder (to be rebuilt from the whole changelog) and reopen it."""
        self.close(partition)
        Rdict.destroy(str(self.folder / f"series-{partition}"), _options())
        return self.open(partition)

    def close(self, partition: int) -> None:
        """Release a partition (revoked): its folder stays for a later assignment, its cached states go."""
        store = self.partitions.pop(partition, None)
        if store is not None:
            store.close()
        for key in [k for k, (p, _) in self._cache.items() if p == partition]:
            del self._cache[key]

    def close_all(self) -> None:
        for partition in list(self.partitions):
            self.close(partition)

    def load(self, partition: int, key: str) -> SeriesState | None:
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached[1]
        raw = self.partitions[partition].get(key.encode())
        if raw is None:
            return None
        state = decode_state(raw)
        self._cache[key] = (partition, state)
        return state

    def save(self, partition: int, states: Mapping[str, tuple[bytes, SeriesState]], next_offset: int) -> int:
        """Write a batch's changed states of one partition (already in its changelog up to ``next_offset``);
        return how many series are new."""
        store = self.partitions[partition]
        new = sum(1 for key in states if key not in self._cache and store.get(key.encode()) is None)
        store.write({key.encode(): raw for key, (raw, _) in states.items()}, next_offset)
        store.keys += new
        for key, (_, state) in states.items():
            self._cache[key] = (partition, state)
            self._cache.move_to_end(key)
        return new

    def trim(self) -> None:
        """Evict the least recently used decoded states beyond ``cache_size``."""
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def forget_cached(self) -> None:
        """Drop every decoded state (after a failed batch: they may hold changes that were never written)."""
        self._cache.clear()

    @property
    def keys(self) -> int:
        return sum(store.keys for store in self.partitions.values())

    def items(self) -> Iterator[tuple[str, bytes]]:
        for store in list(self.partitions.values()):
            for key, raw in store.items():
                yield key.decode(), raw
