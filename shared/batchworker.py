"""The one batch loop every worker runs; a worker is a :class:`Stage` of domain work plugged into it.

::

    fetch a batch ─▶ keep the partitions owned and recovered ─▶ stage.process(records, producer) ─▶ commit ─▶ metrics
         ▲                 (rebalance lock held)                  │ pure domain step                       lag, latency,
         │                                                        │ outputs sent, every ack awaited        batch size
         └──────── a Kafka error: nothing committed, ◀────────────┘ then state written
                   the batch is read again

A rebalance waits for the batch in flight (one lock), then ``stage.on_revoked``; on assignment ``stage.on_assigned``
recovers the new partitions' state before any of their records is processed, and ``ready`` (the worker's /health)
is False until it has. Only records of partitions still assigned are processed and committed: the others are read
again by their new owner, which every stage tolerates (its outputs are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord

from shared import kafkaclients
from shared.faustapp import Outputs, WorkerSettings
from shared.logs import get_logger
from shared.metrics import WorkerMetrics
from shared.reading import TopicStalledError

log = get_logger("tiendo.worker")

Batches = dict[TopicPartition, list[ConsumerRecord]]
#: Pause before a failed batch is read and processed again.
RETRY_S = 1.0
#: What makes a batch fail and be read again (its outputs or state writes were not all acknowledged).
RETRIED = (KafkaError, TopicStalledError)


class Stage(Protocol):
    """A worker's domain work on its input batches."""

    async def start(self) -> None:
        """Before the worker joins its group (load what the stage needs whatever it is assigned)."""

    async def on_assigned(self, partitions: set[int]) -> None:
        """Recover the state of newly assigned input partitions; raise to have it tried again before the next batch."""

    async def on_revoked(self, partitions: set[int]) -> None:
        """Release the state of revoked partitions (their last batch is committed)."""

    async def process(self, records: list[ConsumerRecord], producer: AIOKafkaProducer) -> None:
        """The domain step, then every output sent and acknowledged, then state written; raise a ``RETRIED`` error
        for anything not acknowledged, and the batch is read again."""

    def close(self) -> None:
        """After the loop stopped."""


class BatchWorker(ConsumerRebalanceListener):
    """Runs a :class:`Stage` on the batches of its consumer group, from a Faust task (``await worker.run()``)."""

    def __init__(
        self,
        settings: WorkerSettings,
        stage: Stage,
        metrics: WorkerMetrics,
        outputs: Outputs,
        *,
        group: str,
        topics: Sequence[str] = (),
        pattern: str | None = None,
        ready_unassigned: bool = False,
    ) -> None:
        """``ready_unassigned``: ready once consuming, before any assignment (a stage without partition state whose
        pattern subscription may match no topic yet); otherwise ready once assigned and recovered."""
        self.settings, self.stage, self.metrics, self.outputs = settings, stage, metrics, outputs
        self.group, self.topics, self.pattern = group, tuple(topics), pattern
        self.ready_unassigned = ready_unassigned
        self.lock = asyncio.Lock()
        self._consuming = False
        self._assigned: set[int] | None = None  # None: not joined, or in a rebalance
        self._recovered: set[int] = set()

    @property
    def joined(self) -> bool:
        """Consuming and in the group (or ``ready_unassigned``), whatever its partitions' state."""
        return self._consuming and (self._assigned is not None or self.ready_unassigned)

    @property
    def ready(self) -> bool:
        """Consuming, and the state of every assigned partition recovered (see ``ready_unassigned``)."""
        if not self._consuming:
            return False
        if self._assigned is None:
            return self.ready_unassigned
        return self._assigned <= self._recovered

    async def run(self) -> None:
        """Consume until cancelled."""
        producer = await self.outputs.producer()  # creates the worker's topics first
        await self.stage.start()
        consumer = kafkaclients.consumer(self.settings, self.group, group=self.group)
        if self.pattern is not None:
            consumer.subscribe(pattern=self.pattern, listener=self)
        else:
            consumer.subscribe(list(self.topics), listener=self)
        await consumer.start()
        self._consuming = True
        try:
            while True:
                fetched = await consumer.getmany(
                    timeout_ms=int(self.settings.batch_wait_s * 1000), max_records=self.settings.batch_size
                )
                try:
                    await self._recover()
                    async with self.lock:
                        await self._process(consumer, fetched, producer)
                except RETRIED as exc:
                    log.error("batch_failed", error=repr(exc), retry_in_s=RETRY_S)
                    _rewind(consumer, fetched)
                    await asyncio.sleep(RETRY_S)
                positions = {tp: await consumer.position(tp) for tp in consumer.assignment()}
                self.metrics.record_lag(consumer.highwater, positions)
        finally:
            self._consuming = False
            await consumer.stop()
            await self.outputs.stop()
            self.stage.close()

    async def _process(self, consumer: AIOKafkaConsumer, fetched: Batches, producer: AIOKafkaProducer) -> None:
        """Process and commit the records of owned, recovered partitions; the others are read again (later, or by
        their new owner)."""
        assignment = consumer.assignment()
        ready = {tp: rs for tp, rs in fetched.items() if tp in assignment and tp.partition in self._recovered}
        _rewind(consumer, {tp: rs for tp, rs in fetched.items() if tp not in ready})
        if not ready:
            return
        records = [record for rs in ready.values() for record in rs]
        await self.stage.process(records, producer)
        await _commit(consumer, ready)
        done = time.time()
        self.metrics.batch_size.observe(len(records))
        for record in records:
            self.metrics.latency.observe(max(0.0, done - record.timestamp / 1000))

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._assigned = None
        async with self.lock:  # the batch in flight is committed first
            partitions = {tp.partition for tp in revoked}
            await self.stage.on_revoked(partitions)
            self._recovered -= partitions
            for tp in revoked:  # the new owner reports their lag (a stale sample here would be summed with it)
                with contextlib.suppress(KeyError):
                    self.metrics.lag.remove(tp.topic, str(tp.partition))
        if revoked:
            log.info("partitions_revoked", partitions=sorted(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._assigned = {tp.partition for tp in assigned}
        try:
            await self._recover()
        except Exception as exc:  # aiokafka would swallow it; the batch loop tries again
            log.error("recovery_failed", error=repr(exc), retry="before the next batch")

    async def _recover(self) -> None:
        async with self.lock:
            missing = (self._assigned or set()) - self._recovered
            if missing:
                await self.stage.on_assigned(missing)
                self._recovered |= missing
                log.info("partitions_assigned", partitions=sorted(self._assigned or ()))


def _rewind(consumer: AIOKafkaConsumer, batches: Batches) -> None:
    """Read these records again (partitions no longer assigned restart from their committed offsets anyway)."""
    assignment = consumer.assignment()
    for tp, records in batches.items():
        if tp in assignment and records:
            consumer.seek(tp, records[0].offset)


async def _commit(consumer: AIOKafkaConsumer, batches: Batches) -> None:
    """Commit the offsets after these records. A commit the group refuses because it rebalanced is logged: the
    partition's next owner reads those records again, which every stage tolerates."""
    offsets = {tp: records[-1].offset + 1 for tp, records in batches.items() if records}
    try:
        await consumer.commit(offsets)
    except (CommitFailedError, IllegalStateError) as exc:
        log.warning("commit_failed", error=str(exc))
