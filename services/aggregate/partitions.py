"""Recovery of the aggregate worker's partitions: RocksDB folders brought up to date from the series changelog."""

from __future__ import annotations

import asyncio

from services.aggregate.store import SeriesStore
from shared.config import KafkaSettings
from shared.logs import get_logger
from shared.reading import end_offsets, iter_to_end

log = get_logger("tiendo.aggregate")

#: States written to RocksDB per write batch during recovery.
RECOVERY_CHUNK = 10_000


async def recover(settings: KafkaSettings, store: SeriesStore, changelog: str, partitions: list[int]) -> int:
    """Open the RocksDB folders of ``partitions`` and apply their committed changelog records from each folder's
    checkpoint to the end (one reader for all); a folder whose checkpoint is past the committed end is emptied and
    rebuilt from the beginning. Return the number of changelog records applied."""
    parts = {p: store.open(p) for p in partitions}
    ends = await end_offsets(settings, changelog, partitions)
    for p, part in list(parts.items()):
        if part.next_offset > ends.get(p, 0):  # not from this changelog's committed records: rebuilt whole
            log.warning("state_ahead_of_changelog", partition=p, checkpoint=part.next_offset, committed=ends.get(p, 0))
            parts[p] = store.wipe(p)
    pending: dict[int, dict[bytes, bytes | None]] = {p: {} for p in partitions}
    last: dict[int, int] = {}
    applied = 0
    async for record in iter_to_end(
        settings,
        changelog,
        partitions=partitions,
        start={p: part.next_offset for p, part in parts.items()},
        max_records=RECOVERY_CHUNK,
    ):
        batch = pending[record.partition]
        batch[record.key] = record.value
        last[record.partition] = record.offset
        applied += 1
        if len(batch) >= RECOVERY_CHUNK:
            parts[record.partition].write(batch, record.offset + 1)
            batch.clear()
            await asyncio.sleep(0)  # let heartbeats and HTTP through
    for p, offset in last.items():
        parts[p].write(pending[p], offset + 1)
        parts[p].recount()
    return applied
