"""The one place tiendo's Kafka clients are made, with the project's settings, and "send everything, wait for every
acknowledgement".

aiokafka clients must be created inside the running event loop; these functions only build them (call
``start()``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Protocol, overload, runtime_checkable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import RecordMetadata

from shared.config import KafkaSettings

#: Largest produce request, and so the largest message (the dead letter of a too-large event still fits).
MAX_REQUEST_BYTES = 4 * 1024 * 1024
#: A consumer fetches up to this much per partition: one message of the largest size fits.
MAX_PARTITION_FETCH_BYTES = 4 * 1024 * 1024

#: ``(key, value)`` for :func:`send_all` with one topic.
KeyValue = tuple[bytes | None, bytes | None]
#: ``(topic, key, value)`` or ``(topic, key, value, partition)``; partition None: the producer's partitioner.
Message = tuple[str, bytes | None, bytes | None] | tuple[str, bytes | None, bytes | None, int | None]


@runtime_checkable
class GroupMemberSettings(Protocol):
    """What a worker's settings add for its consumers (``shared.faustapp.WorkerSettings``)."""

    metadata_max_age_ms: int
    session_timeout_s: float

    def group_instance_id(self) -> str: ...


def producer(settings: KafkaSettings, client_id: str, **overrides: Any) -> AIOKafkaProducer:
    """A producer that never loses or duplicates an acknowledged message (acks=all, idempotent), batching for 5 ms
    up to 256 KiB per partition, requests up to 4 MiB; ``overrides`` replace any of these."""
    options: dict[str, Any] = {
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "max_request_size": MAX_REQUEST_BYTES,
    }
    return AIOKafkaProducer(**settings.client_kwargs(), **{**options, **overrides})


def consumer(
    settings: KafkaSettings, client_id: str, *, group: str | None = None, **overrides: Any
) -> AIOKafkaConsumer:
    """A consumer with manual commits, reading from the earliest offset when it has none, fetching up to 4 MiB per
    partition, reading committed records only (an aborted transaction's records are skipped, an open one's wait for
    its end); subscribe or assign it after making it.

    ``group`` is a project consumer group (the settings' namespace is prepended); None: no group. With a worker's
    settings (:class:`GroupMemberSettings`) it refreshes metadata every ``metadata_max_age_ms`` (new topics of a
    pattern subscription are seen within it) and, in a group, uses the worker's session timeout and static
    membership id. ``overrides`` replace any of these.
    """
    options: dict[str, Any] = {
        "client_id": client_id,
        "group_id": None if group is None else settings.topic(group),
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": MAX_PARTITION_FETCH_BYTES,
        "isolation_level": "read_committed",
    }
    if isinstance(settings, GroupMemberSettings):
        options["metadata_max_age_ms"] = settings.metadata_max_age_ms
        if group is not None:
            options["session_timeout_ms"] = int(settings.session_timeout_s * 1000)
            options["heartbeat_interval_ms"] = int(min(3.0, settings.session_timeout_s / 3) * 1000)
            options["group_instance_id"] = settings.group_instance_id()
    return AIOKafkaConsumer(**settings.client_kwargs(), **{**options, **overrides})


def transactional_producer(settings: KafkaSettings, client_id: str, transactional_id: str) -> AIOKafkaProducer:
    """A :func:`producer` whose writes commit or abort together; starting it fences (and aborts the open transaction
    of) any earlier producer with the same ``transactional_id``."""
    return producer(settings, client_id, transactional_id=transactional_id)


def admin(settings: KafkaSettings, client_id: str = "tiendo-admin") -> AIOKafkaAdminClient:
    """An admin client (create and describe topics, list offsets)."""
    return AIOKafkaAdminClient(**settings.client_kwargs(), client_id=client_id)


@overload
async def send_all(
    producer: AIOKafkaProducer, topic_or_messages: str, messages: Iterable[KeyValue], /
) -> list[RecordMetadata]: ...
@overload
async def send_all(producer: AIOKafkaProducer, topic_or_messages: Iterable[Message], /) -> list[RecordMetadata]: ...
async def send_all(
    producer: AIOKafkaProducer,
    topic_or_messages: str | Iterable[Message],
    messages: Iterable[KeyValue] = (),
    /,
) -> list[RecordMetadata]:
    """Send every message, wait for every acknowledgement, and return their metadata in sending order; raise the
    first error (in sending order) once every send has settled, so nothing is still in flight when this returns.

    ``send_all(producer, topic, [(key, value), ...])`` or ``send_all(producer, [(topic, key, value[, partition]),
    ...])``.
    """
    if isinstance(topic_or_messages, str):
        topic = topic_or_messages
        records: Iterable[Message] = ((topic, key, value) for key, value in messages)
    else:
        records = topic_or_messages
    futures: list[asyncio.Future[RecordMetadata]] = []
    try:
        for record in records:
            partition = record[3] if len(record) > 3 else None
            futures.append(await producer.send(record[0], record[2], key=record[1], partition=partition))
    except BaseException:
        await asyncio.gather(*futures, return_exceptions=True)
        raise
    results = await asyncio.gather(*futures, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
