"""The workers' own input consumer: a consumer-group member that commits only what the worker says is done."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import ConsumerRecord

from shared.faustapp import WorkerSettings
from shared.logs import get_logger

log = get_logger("tiendo.consuming")

#: Consumer groups of the workers' own input consumers (the namespace is prepended). Not the Faust app ids: Faust's
#: own consumer joins a group named after the app, and sharing it would make each rebalance wait for the other.
INGEST_GROUP = "tiendo-ingest-feeds"
AGGREGATE_GROUP = "tiendo-aggregate-updates"

Batches = dict[TopicPartition, list[ConsumerRecord]]
#: Pause before a failed batch is read and processed again.
RETRY_S = 1.0


def group_consumer(settings: WorkerSettings, group: str, client_id: str, **kwargs: Any) -> AIOKafkaConsumer:
    """A consumer of ``{namespace}{group}`` with manual commits, reading from the earliest offset when the group has
    none, with the worker's session timeout, metadata refresh and static membership id (``kwargs`` adds settings)."""
    return AIOKafkaConsumer(
        **settings.client_kwargs(),
        group_id=f"{settings.namespace}{group}",
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=settings.metadata_max_age_ms,
        session_timeout_ms=int(settings.session_timeout_s * 1000),
        heartbeat_interval_ms=int(min(3.0, settings.session_timeout_s / 3) * 1000),
        max_partition_fetch_bytes=4 * 1024 * 1024,
        group_instance_id=settings.group_instance_id(),
        **kwargs,
    )


class BatchLock(ConsumerRebalanceListener):
    """Hold ``lock`` while a batch is processed and committed: a rebalance then waits for the batch in flight, so
    the partitions it read are revoked only after its offsets are committed."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.lock:
            pass

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Nothing to do: the next batch reads the new partitions."""


def owned(consumer: AIOKafkaConsumer, batches: Batches) -> Batches:
    """The records of partitions still assigned (a rebalance between fetching and processing revokes others)."""
    assignment = consumer.assignment()
    return {tp: records for tp, records in batches.items() if tp in assignment}


def rewind(consumer: AIOKafkaConsumer, batches: Batches) -> None:
    """Read these records again (partitions no longer assigned restart from their committed offsets anyway)."""
    for tp, records in owned(consumer, batches).items():
        consumer.seek(tp, records[0].offset)


async def retry_later(consumer: AIOKafkaConsumer, batches: Batches, error: Exception) -> None:
    """After a batch failed on Kafka (nothing of it committed): log it, and read it again after ``RETRY_S``."""
    log.error("batch_failed", error=repr(error), retry_in_s=RETRY_S)
    rewind(consumer, batches)
    await asyncio.sleep(RETRY_S)


async def commit(consumer: AIOKafkaConsumer, batches: Batches) -> None:
    """Commit the offsets after these records for partitions still assigned. A commit the group refuses because it
    rebalanced is logged: the partition's next owner reads those records again, which every stage tolerates."""
    offsets = {tp: records[-1].offset + 1 for tp, records in owned(consumer, batches).items()}
    if not offsets:
        return
    try:
        await consumer.commit(offsets)
    except (CommitFailedError, IllegalStateError) as exc:
        log.warning("commit_failed", error=str(exc))
