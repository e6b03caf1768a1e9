"""The aggregate stage: batches of ``indicator.updates`` applied to the series states, written out in the order that
keeps them safe; the states of assigned partitions recovered from the changelog.

Order of writes, each acknowledged before the next: (1) every changed quarter total to ``indicator.totals`` and
every update refused (implausible, series full) to ``indicator.dlq``,
(2) every changed series state to its changelog partition; the batch worker then commits the input offsets (exactly
once: (1), (2) and the offsets in one transaction per partition), and only then (3) are the states and the changelog
checkpoint written to RocksDB, so RocksDB never holds a state an aborted transaction wrote. A crash anywhere replays
the batch: the states remember the applied ``(event_id, revision)`` identities, so updates already in a saved state
are duplicates and change nothing, and totals of updates applied again are published again with the same values.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from services.aggregate.metrics import AggregateMetrics
from services.aggregate.partitions import recover
from services.aggregate.store import SeriesStore, encode_state
from shared.aggregation import BatchResult, QuarterTotal, SeriesState, apply_batch, rollup
from shared.batchworker import Committed
from shared.config import KafkaSettings
from shared.contracts import View, encode_total, series_key, totals_key
from shared.deadletter import DeadLetter
from shared.kafkaclients import send_all
from shared.logs import get_logger
from shared.normalise import Reason
from shared.provinces import MERGER_DATE, registry
from shared.updates import IndicatorUpdate, Retraction, decode_message

log = get_logger("tiendo.aggregate")


def total_message(view: View, total: QuarterTotal) -> tuple[bytes, bytes]:
    """The ``indicator.totals`` key and value of a quarter total in a view."""
    return (
        totals_key(view, total.unit, total.indicator, total.year, total.quarter),
        encode_total(view, total.to_dict()),
    )


@cache
def rolled_units(current_code: str) -> tuple[str, ...]:
    """Unit ids whose figures roll up into a current province: its pre-merger constituents and itself (the
    registry never changes, so each province is worked out once, not per changed series of every batch)."""
    reg = registry()
    units = {p.uid for p in reg.constituents(current_code)}
    units.add(reg.get(current_code, on=MERGER_DATE).uid)
    return tuple(sorted(units))


@dataclass(frozen=True, slots=True)
class Topics:
    totals: str
    changelog: str
    dlq: str


def refused_letter(reason: Reason, update: IndicatorUpdate, why: str) -> DeadLetter:
    """The dead letter of an update the aggregate refused (implausible, series full): the normalised update, traced
    to its feed message."""
    return DeadLetter.bounded(
        reason,
        why,
        update.origin,
        key=update.key,
        value=update.encode(),
        received_at=update.received_at,
        rejected_at=datetime.now(UTC),
    )


class AggregateStage:
    """Applies batches of update records to a :class:`SeriesStore` and publishes the results."""

    def __init__(self, settings: KafkaSettings, store: SeriesStore, topics: Topics, metrics: AggregateMetrics) -> None:
        self.settings, self.store, self.topics, self.metrics = settings, store, topics, metrics
        self._started = time.monotonic()
        self._first = True

    async def start(self) -> None:
        """Nothing before joining: state is per partition."""

    async def on_assigned(self, partitions: set[int]) -> None:
        """Open the partitions' RocksDB folders and replay their changelog partitions from each checkpoint."""
        started = time.monotonic()
        missing = sorted(partitions)
        try:
            applied = await recover(self.settings, self.store, self.topics.changelog, missing)
        except BaseException:
            for partition in missing:
                self.store.close(partition)  # half recovered: reopened and replayed next time
            raise
        keys = self.store.keys
        log.info(
            "partitions_recovered",
            partitions=missing,
            changelog_records=applied,
            keys=keys,
            seconds=round(time.monotonic() - started, 3),
        )
        if self._first:  # how long the worker took to be ready
            self._first = False
            self.metrics.recovery.set(time.monotonic() - self._started)
            log.info("recovered", seconds=round(time.monotonic() - self._started, 3), keys=keys)
        self.metrics.keys.set(keys)

    async def on_revoked(self, partitions: set[int]) -> None:
        for partition in partitions:
            self.store.close(partition)

    def close(self) -> None:
        self.store.close_all()

    async def process(self, records: list[ConsumerRecord], producer: AIOKafkaProducer) -> Committed | None:
        """Apply and publish one batch; return its RocksDB write, for once it is committed. On an error nothing is
        saved and the cached states are dropped."""
        try:
            return await self._process(records, producer)
        except BaseException:
            self.store.forget_cached()
            raise
        finally:
            self.store.trim()

    async def _process(self, records: list[ConsumerRecord], producer: AIOKafkaProducer) -> Committed:
        messages: list[IndicatorUpdate | Retraction] = []
        partition_of: dict[str, int] = {}  # series key → partition (all of a current province's units share one)
        undecodable = 0
        for record in records:
            try:
                message = decode_message(record.value)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                log.error("undecodable_update", partition=record.partition, offset=record.offset, error=str(exc))
                undecodable += 1
                continue
            messages.append(message)
            partition_of[message.series] = record.partition
        states: dict[str, SeriesState] = {}
        result = apply_batch(states, messages, lambda key: self.store.load(partition_of[key], key))
        for update, why in result.rejected:
            log.error("update_rejected", event_id=update.event_id, publisher=update.publisher, error=why)
        for update, why in result.implausible:
            log.warning("update_implausible", event_id=update.event_id, publisher=update.publisher, error=why)
        if result.overflow:  # a flood when it happens: one line per batch
            series = sorted({update.series for update, _ in result.overflow})
            log.error("series_full", updates=len(result.overflow), series=series[:5], more_series=len(series[5:]))
        current = self._current_totals(result, partition_of, states)
        await self._publish_totals(result, current, partition_of, producer)
        save = await self._save(result, partition_of, producer)

        def committed() -> None:
            save()
            self.metrics.updates.labels("rejected").inc(undecodable)
            self.metrics.observe_batch(result)
            self.metrics.observe_current(sorted((t for _, t in current), key=lambda t: (t.year, t.quarter)))
            self.metrics.keys.set(self.store.keys)

        return committed

    def _current_totals(
        self, result: BatchResult, partition_of: dict[str, int], states: dict[str, SeriesState]
    ) -> list[tuple[int, QuarterTotal]]:
        """The post-merger view of every (current province, indicator, year) the batch changed, with its partition."""
        totals: list[tuple[int, QuarterTotal]] = []
        for current_code, indicator, year, partition in sorted(
            {(s.current_code, s.indicator, s.year, partition_of[k]) for k, s in result.changed.items()}
        ):
            parts: list[QuarterTotal] = []
            for unit in rolled_units(current_code):
                key = series_key(unit, indicator, year)
                state = states.get(key) or self.store.load(partition, key)
                if state is not None:
                    parts.extend(state.totals())
            totals.extend((partition, total) for total in rollup(parts, current_code))
        return totals

    async def _publish_totals(
        self,
        result: BatchResult,
        current: list[tuple[int, QuarterTotal]],
        partition_of: dict[str, int],
        producer: AIOKafkaProducer,
    ) -> None:
        """Totals go to the partition of their updates (``indicator.totals`` is co-partitioned with
        ``indicator.updates``), so the alert replica owning a province's updates partition owns its totals."""
        changed = sorted(result.changed_quarters)
        totals = [
            (partition_of[key], *total_message(View.UNIT, result.changed[key].quarter_total(q))) for key, q in changed
        ]
        totals += [(partition, *total_message(View.CURRENT, total)) for partition, total in current]
        letters = [refused_letter(Reason.IMPLAUSIBLE_VALUE, update, why) for update, why in result.implausible]
        letters += [refused_letter(Reason.SERIES_FULL, update, why) for update, why in result.overflow]
        await send_all(
            producer,
            [
                *((self.topics.totals, key, value, partition) for partition, key, value in totals),
                *((self.topics.dlq, letter.key, letter.encode()) for letter in letters),
            ],
        )
        self.metrics.totals_published.inc(len(totals))

    async def _save(self, result: BatchResult, partition_of: dict[str, int], producer: AIOKafkaProducer) -> Committed:
        """Changed states to the changelog (acknowledged); return their RocksDB write with the changelog's next
        offset."""
        by_partition: dict[int, dict[str, tuple[bytes, SeriesState]]] = defaultdict(dict)
        for key, state in result.changed.items():
            by_partition[partition_of[key]][key] = (encode_state(state), state)
        acked = await send_all(
            producer,
            [
                (self.topics.changelog, key.encode(), raw, partition)
                for partition, states in by_partition.items()
                for key, (raw, _) in states.items()
            ],
        )
        next_offset: dict[int, int] = {}
        for meta in acked:
            next_offset[meta.partition] = max(next_offset.get(meta.partition, 0), meta.offset + 1)

        def save() -> None:
            for partition, states in by_partition.items():
                self.store.save(partition, states, next_offset[partition])

        return save
