"""The workers' input consumer groups, and the consumer that joins them (committing only what the worker says is
done: see ``shared.batchworker``)."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer

from shared.faustapp import WorkerSettings

#: Consumer groups of the workers' own input consumers (the namespace is prepended). Not the Faust app ids: Faust's
#: own consumer joins a group named after the app, and sharing it would make each rebalance wait for the other.
INGEST_GROUP = "tiendo-ingest-feeds"
AGGREGATE_GROUP = "tiendo-aggregate-updates"


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
