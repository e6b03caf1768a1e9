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

Two guarantees (``processing_guarantee``). **exactly_once** (the default): each input partition has its own
transactional producer (``transactional.id`` = ``<group>-<topic>-<partition>``), made when the partition is assigned
and before its state is recovered; a partition's batch — its outputs, its state writes and its input offsets —
commits in one transaction. A new owner's producer fences the previous one, so a paused replica that wakes up
after losing its partitions has its next write refused (``ProducerFenced``, counted in
``tiendo_<worker>_fenced_batches_total``) and its open transaction aborted; readers see committed records only. A
failed or fenced transaction releases the partition's state, which is recovered again from the committed changelog
before the partition's next batch (a fenced partition's only once the group assigns it again). **at_least_once**:
one producer; the whole batch's outputs are acknowledged, then its offsets committed.

Test hook: with ``TIENDO_TEST_PAUSE_AFTER_FETCH`` naming a file, a worker that finds that file right after fetching
records deletes it and stops itself (SIGSTOP), so a test can wake it as a zombie holding a fetched batch; unset (as
in production), nothing happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError, ProducerFenced
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
#: What a stage's ``process`` may return: work to do once the batch is committed (e.g. writing local state).
Committed = Callable[[], None]
#: See the module's test hook; never set in production.
PAUSE_AFTER_FETCH = "TIENDO_TEST_PAUSE_AFTER_FETCH"


class Stage(Protocol):
    """A worker's domain work on its input batches."""

    async def start(self) -> None:
        """Before the worker joins its group (load what the stage needs whatever it is assigned)."""

    async def on_assigned(self, partitions: set[int]) -> None:
        """Recover the state of newly assigned input partitions; raise to have it tried again before the next batch."""

    async def on_revoked(self, partitions: set[int]) -> None:
        """Release the state of revoked partitions (their last batch is committed)."""

    async def process(self, records: list[ConsumerRecord], producer: AIOKafkaProducer) -> Committed | None:
        """The domain step, then every output sent and acknowledged, then state written; raise a ``RETRIED`` error
        for anything not acknowledged, and the batch is read again. Local state that must not outlive an aborted
        transaction is written by the returned callable, called once the batch is committed."""

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
        self.exactly_once = settings.processing_guarantee == "exactly_once"
        self.lock = asyncio.Lock()
        self._consuming = False
        self._assigned: set[int] | None = None  # None: not joined, or in a rebalance
        self._assignment: set[TopicPartition] = set()
        self._recovered: set[int] = set()
        self._producers: dict[TopicPartition, AIOKafkaProducer] = {}  # exactly once: one per input partition
        self._fenced: set[TopicPartition] = set()  # taken over by a newer owner: not written until assigned again
        pause = os.environ.get(PAUSE_AFTER_FETCH)
        self._pause_file = Path(pause) if pause else None

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
                if fetched and self._pause_file is not None and self._pause_file.exists():
                    self._pause_file.unlink()
                    log.warning("test_pause_after_fetch", records=sum(len(rs) for rs in fetched.values()))
                    os.kill(os.getpid(), signal.SIGSTOP)
                try:
                    await self._recover()
                    async with self.lock:
                        if self.exactly_once:
                            retry = await self._process_transactions(consumer, fetched)
                        else:
                            retry = await self._process(consumer, fetched, producer)
                except RETRIED as exc:
                    log.error("batch_failed", error=repr(exc), retry_in_s=RETRY_S)
                    _rewind(consumer, fetched)
                    retry = True
                if retry:
                    await asyncio.sleep(RETRY_S)
                positions = {tp: await consumer.position(tp) for tp in consumer.assignment()}
                # Only partitions still owned: in a rebalance the consumer's assignment is the old one until the new
                # one is set, and a sample left for a revoked partition would stay (its new owner reports it).
                owned = self._assignment if self._assigned is not None else set()
                self.metrics.record_lag(consumer.highwater, {tp: p for tp, p in positions.items() if tp in owned})
        finally:
            self._consuming = False
            await consumer.stop()
            for tp in list(self._producers):
                await self._close_producer(tp)
            await self.outputs.stop()
            self.stage.close()

    def _ready(self, consumer: AIOKafkaConsumer, fetched: Batches) -> Batches:
        """The records of owned, recovered (and, exactly once, unfenced) partitions; the others are read again
        (later, or by their new owner)."""
        assignment = consumer.assignment()
        ready = {
            tp: rs
            for tp, rs in fetched.items()
            if rs
            and tp in assignment
            and tp.partition in self._recovered
            and (not self.exactly_once or tp in self._producers)
        }
        _rewind(consumer, {tp: rs for tp, rs in fetched.items() if tp not in ready})
        return ready

    async def _process(self, consumer: AIOKafkaConsumer, fetched: Batches, producer: AIOKafkaProducer) -> bool:
        """At least once: the whole batch processed, then its offsets committed; False (a failure raises)."""
        ready = self._ready(consumer, fetched)
        if not ready:
            return False
        records = [record for rs in ready.values() for record in rs]
        committed = await self.stage.process(records, producer)
        await _commit(consumer, ready)
        if committed is not None:
            committed()
        self._observe(records)
        return False

    async def _process_transactions(self, consumer: AIOKafkaConsumer, fetched: Batches) -> bool:
        """Exactly once: one transaction per input partition (outputs, state writes, its offsets); True if one
        failed (it is read again, its partition's state recovered first)."""
        failed = False
        for tp, records in self._ready(consumer, fetched).items():
            producer = self._producers[tp]
            try:
                await producer.begin_transaction()
                committed = await self.stage.process(records, producer)
                await producer.send_offsets_to_transaction({tp: records[-1].offset + 1}, self._group_id)
                await producer.commit_transaction()
            except ProducerFenced:
                self.metrics.fenced.inc()
                log.warning("batch_fenced", topic=tp.topic, partition=tp.partition, records=len(records))
                self._fenced.add(tp)
                await self._release(consumer, tp, records)
                continue
            except BaseException as exc:
                if isinstance(exc, RETRIED):
                    log.error("batch_failed", topic=tp.topic, partition=tp.partition, error=repr(exc))
                    failed = True
                await self._release(consumer, tp, records)
                if not isinstance(exc, RETRIED):
                    raise
                continue
            if committed is not None:
                committed()
            self._observe(records)
        return failed

    async def _release(self, consumer: AIOKafkaConsumer, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        """After a transaction that did not commit: its producer goes (aborting what it can), the partition's state
        is released to be recovered from the committed changelog, and its records are read again."""
        await self._close_producer(tp)
        await self.stage.on_revoked({tp.partition})
        self._recovered.discard(tp.partition)
        _rewind(consumer, {tp: records})

    def _observe(self, records: list[ConsumerRecord]) -> None:
        done = time.time()
        self.metrics.batch_size.observe(len(records))
        for record in records:
            self.metrics.latency.observe(max(0.0, done - record.timestamp / 1000))

    @property
    def _group_id(self) -> str:
        return self.settings.topic(self.group)

    async def _open_producers(self) -> None:
        """Exactly once: a transactional producer for each assigned partition without one; starting it fences the
        partition's previous owner and aborts its open transaction, so recovery then reads a settled changelog."""
        for tp in sorted(self._assignment - self._producers.keys() - self._fenced):
            producer = kafkaclients.transactional_producer(
                self.settings, f"{self.group}-txn", f"{self._group_id}-{tp.topic}-{tp.partition}"
            )
            await producer.start()
            self._producers[tp] = producer

    async def _close_producer(self, tp: TopicPartition) -> None:
        producer = self._producers.pop(tp, None)
        if producer is None:
            return
        if producer._txn_manager is not None and producer._txn_manager.is_in_transaction():
            with contextlib.suppress(KafkaError):  # fenced: the new owner's producer aborted it already
                await producer.abort_transaction()
        with contextlib.suppress(KafkaError):
            await producer.stop()

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._assigned = None
        async with self.lock:  # the batch in flight is committed first
            partitions = {tp.partition for tp in revoked}
            await self.stage.on_revoked(partitions)
            self._recovered -= partitions
            for tp in revoked:
                await self._close_producer(tp)
            self._assignment -= revoked
            self._fenced -= revoked
            for tp in revoked:  # the new owner reports their lag (a stale sample here would be summed with it)
                with contextlib.suppress(KeyError):
                    self.metrics.lag.remove(tp.topic, str(tp.partition))
        if revoked:
            log.info("partitions_revoked", partitions=sorted(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._assigned = {tp.partition for tp in assigned}
        self._assignment = set(assigned)
        self._fenced -= self._assignment  # the group gave them to this replica again: it may fence the other
        try:
            await self._recover()
        except Exception as exc:  # aiokafka would swallow it; the batch loop tries again
            log.error("recovery_failed", error=repr(exc), retry="before the next batch")

    async def _recover(self) -> None:
        async with self.lock:
            if self.exactly_once and self._assigned is not None:
                await self._open_producers()
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
