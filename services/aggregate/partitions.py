"""Partition ownership of the aggregate worker: state recovered on assignment, released on revocation.

A rebalance and a batch never overlap: both hold the same lock, so a revoked partition's last batch is saved and
its offsets committed before the partition goes to another worker, and a batch only touches partitions whose state
is recovered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka import ConsumerRebalanceListener, TopicPartition

from services.aggregate.store import SeriesStore
from shared.config import KafkaSettings
from shared.logs import get_logger
from shared.reading import iter_to_end

log = get_logger("tiendo.aggregate")
#: States written to RocksDB per write batch during recovery.
RECOVERY_CHUNK = 10_000


async def recover(settings: KafkaSettings, store: SeriesStore, changelog: str, partitions: list[int]) -> int:
    """Open the RocksDB folders of ``partitions`` and apply their changelog partitions from each folder's checkpoint
    to the end (one reader for all); return the number of changelog records applied."""
    parts = {p: store.open(p) for p in partitions}
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


class Ownership(ConsumerRebalanceListener):
    """Recovers assigned partitions and releases revoked ones; ``lock`` also guards every batch."""

    def __init__(
        self, settings: KafkaSettings, store: SeriesStore, changelog: str, on_recovered: Callable[[int], None]
    ) -> None:
        self.settings, self.store, self.changelog, self.on_recovered = settings, store, changelog, on_recovered
        self.lock = asyncio.Lock()
        self.assignment: set[int] | None = None  # None: not joined, or in a rebalance
        #: Joined, and the state of every assigned partition is recovered.
        self.ready = False

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.assignment, self.ready = None, False
        async with self.lock:
            for tp in revoked:
                self.store.close(tp.partition)
        if revoked:
            log.info("partitions_revoked", partitions=sorted(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.assignment = {tp.partition for tp in assigned}
        try:
            await self.ensure_recovered()
        except Exception as exc:  # aiokafka would swallow it; the batch loop retries
            log.error("recovery_failed", error=repr(exc), retry="before the next batch")

    async def ensure_recovered(self) -> None:
        """Recover every assigned partition whose state is not open yet."""
        async with self.lock:
            missing = sorted((self.assignment or set()) - self.store.partitions.keys())
            if missing:
                started = time.monotonic()
                try:
                    applied = await recover(self.settings, self.store, self.changelog, missing)
                except BaseException:
                    for partition in missing:
                        self.store.close(partition)  # half recovered: reopened and replayed next time
                    raise
                log.info(
                    "partitions_recovered",
                    partitions=missing,
                    changelog_records=applied,
                    keys=self.store.keys,
                    seconds=round(time.monotonic() - started, 3),
                )
            if self.assignment is not None and not self.ready:
                self.ready = True
                log.info("partitions_assigned", partitions=sorted(self.store.partitions))
                self.on_recovered(self.store.keys)
