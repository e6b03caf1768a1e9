"""The one place tiendo's Kafka clients are made, with the project's settings, and "send everything, wait for every
acknowledgement".

aiokafka clients must be created inside the running event loop; these functions only build them (call
``start()``)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Protocol, overload, runtime_checkable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import RecordMetadata, TopicPartition

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
    ...])``. A message without a partition goes where the producer's partitioner would put it (murmur2 of the key,
    as Java clients do; no key: any available partition). The messages go through aiokafka's batch API: per
    partition, in order, into as few record batches as ``max_batch_size`` allows (a larger message gets one of its
    own), each submitted as soon as it is full or the messages end (no linger: the caller waits for them all).
    That costs a C append per message instead of ``send()``'s coroutine, partitioner call and future; a message
    too large for a request is refused before anything is sent.
    """
    if isinstance(topic_or_messages, str):
        topic = topic_or_messages
        records: list[Message] = [(topic, key, value) for key, value in messages]
    else:
        records = list(topic_or_messages)
    for record in records:
        if _size(record[1], record[2]) > producer._max_request_size:
            raise MessageSizeTooLargeError(
                f"a {_size(record[1], record[2])}-byte message to {record[0]} exceeds the request size limit"
            )
    partitions = {topic: sorted(await producer.partitions_for(topic)) for topic in {r[0] for r in records}}
    batches: list[tuple[TopicPartition, BatchBuilder]] = []
    acks: dict[int, asyncio.Future[RecordMetadata]] = {}  # batch → its acknowledgement, in submission order
    open_batch: dict[TopicPartition, int] = {}
    placed: list[tuple[int, Any]] = []  # per message: its batch and its record metadata within it
    unkeyed: dict[str, int] = {}

    async def submit(index: int) -> None:
        tp, builder = batches[index]
        builder.close()
        acks[index] = await producer.send_batch(builder, tp.topic, partition=tp.partition)

    try:
        for record in records:
            topic, key, value = record[0], record[1], record[2]
            tp = TopicPartition(topic, _partition(producer, partitions[topic], record, unkeyed))
            index = open_batch.get(tp)
            if index is None or (meta := batches[index][1].append(timestamp=None, key=key, value=value)) is None:
                if index is not None:  # full
                    await submit(index)
                index = open_batch[tp] = len(batches)
                batches.append((tp, producer.create_batch()))
                meta = batches[index][1].append(timestamp=None, key=key, value=value)  # the first always fits
            placed.append((index, meta))
        for index in sorted(open_batch.values()):  # the last batch of each partition, not yet submitted
            await submit(index)
    except BaseException:
        await asyncio.gather(*acks.values(), return_exceptions=True)
        raise
    settled = dict(zip(acks, await asyncio.gather(*acks.values(), return_exceptions=True), strict=True))
    for result in settled.values():
        if isinstance(result, BaseException):
            raise result
    return [_record_metadata(settled[index], meta) for index, meta in placed]


def _size(key: bytes | None, value: bytes | None) -> int:
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, []))


def _partition(producer: AIOKafkaProducer, partitions: list[int], record: Message, unkeyed: dict[str, int]) -> int:
    """The record's own partition (checked), else the default partitioner's: murmur2 of the key, or for no key one
    available partition per topic and call (sticky, as Java clients: fewer, fuller batches)."""
    topic, key = record[0], record[1]
    chosen = record[3] if len(record) > 3 else None
    if chosen is not None:
        if chosen not in partitions:
            raise ValueError(f"{topic} has no partition {chosen} (it has {len(partitions)})")
        return chosen
    if len(partitions) == 1:
        return partitions[0]
    if key is None:
        if topic not in unkeyed:
            available = sorted(producer.client.cluster.available_partitions_for_topic(topic))
            unkeyed[topic] = random.choice(available or partitions)  # noqa: S311 (spreading load, not secrets)
        return unkeyed[topic]
    return partitions[_key_slot(key, len(partitions))]


@lru_cache(maxsize=65536)
def _key_slot(key: bytes, count: int) -> int:
    """Kafka's default partitioner for a key (``murmur2``, pure Python in aiokafka): computed once per key."""
    return int(murmur2(key) & 0x7FFFFFFF) % count


def _record_metadata(batch: RecordMetadata, meta: Any) -> RecordMetadata:
    """One message's metadata from its batch's (as aiokafka's per-message futures give it)."""
    timestamp = meta.timestamp if batch.timestamp == -1 else batch.timestamp
    return batch._replace(offset=batch.offset + meta.offset, timestamp=timestamp)
