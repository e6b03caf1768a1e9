"""The raw aiokafka ingest loop: the ingest worker's work with nothing around it, as the yardstick.

getmany(max_records=2000) → ``shared.normalise.triage`` (the same pure function, dedupe in an in-memory dict)
→ producer.send of every update and dead letter without awaiting each → all acknowledgements of the batch
gathered → dedupe dict updated → offsets committed. No Faust, no metrics, no dedupe topic.

Run as ``python -m bench.raw_ingest CONFIG.json``; it stops after ``expect`` input events or ``budget`` seconds and
writes its timings to ``out``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from bench.procstat import memory_mb
from shared.deadletter import DeadLetter
from shared.normalise import RawEvent, Triage, triage
from shared.topics import DLQ, UPDATES
from shared.updates import Origin


@dataclass(slots=True)
class BatchOutput:
    messages: list[tuple[str, bytes | None, bytes]]
    """(topic, key, value) to publish."""
    remember: dict[str, int]
    """identity → revision, to remember once the messages are acknowledged."""
    accepted: int
    rejected: int
    duplicates: int


def raw_events(records: Sequence[ConsumerRecord]) -> list[RawEvent]:
    """Feed records as ``triage`` takes them (received at = the record's broker timestamp, as the worker does)."""
    return [
        RawEvent(r.value, Origin(r.topic, r.partition, r.offset), datetime.fromtimestamp(r.timestamp / 1000, UTC))
        for r in records
    ]


def dead_letters(
    keys: Sequence[bytes | None], raws: list[RawEvent], result: Triage, dlq_topic: str, now: datetime
) -> list[tuple[str, bytes | None, bytes]]:
    """The (topic, key, value) dead letters of a triaged batch (``keys``: the records' keys)."""
    messages = []
    for index, rejection in result.rejected:
        raw = raws[index]
        letter = DeadLetter(
            rejection.reason, rejection.message, raw.origin, keys[index], raw.value, raw.received_at, now
        )
        messages.append((dlq_topic, keys[index], letter.encode()))
    return messages


def process(
    records: list[ConsumerRecord], seen: dict[str, int], updates_topic: str, dlq_topic: str, now: datetime
) -> BatchOutput:
    """One batch: normalise and dedupe (pure), the messages to send and the ids to remember."""
    raws = raw_events(records)
    result = triage(raws, seen.get, room=len(raws))  # no limit: every event may be new
    messages: list[tuple[str, bytes | None, bytes]] = [
        (updates_topic, u.key, u.encode()) for _, u, _ in result.accepted
    ]
    messages += dead_letters([r.key for r in records], raws, result, dlq_topic, now)
    return BatchOutput(
        messages,
        {identity: revision for identity, (revision, _) in result.remember.items()},
        len(result.accepted),
        len(result.rejected),
        len(result.duplicates),
    )


async def run(config: dict[str, Any]) -> dict[str, Any]:
    client = {"bootstrap_servers": config["bootstrap"]}
    namespace = config["namespace"]
    updates_topic, dlq_topic = namespace + UPDATES.name, namespace + DLQ.name
    consumer = AIOKafkaConsumer(
        **client,
        group_id=config["group"],
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=2000,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    if config.get("assign"):  # fixed partitions, no group rebalance (the pipeline's raw loop)
        consumer.assign([TopicPartition(topic, partition) for topic, partition in config["assign"]])
    else:
        consumer.subscribe(pattern=config["pattern"])
    producer = AIOKafkaProducer(**client, acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=256 * 1024)
    await consumer.start()
    await producer.start()
    seen: dict[str, int] = {}
    stats: dict[str, Any] = {"events": 0, "batches": 0, "accepted": 0, "rejected": 0, "duplicates": 0}
    first = last = None
    cpu = 0.0
    budget = config.get("budget") or float("inf")
    try:
        while stats["events"] < config["expect"] and (first is None or time.time() - first < budget):
            batches = await consumer.getmany(timeout_ms=100, max_records=config.get("batch_size", 2000))
            if not batches:
                continue
            if first is None:
                first, cpu = time.time(), time.process_time()
            records = [r for rs in batches.values() for r in rs]
            out = process(records, seen, updates_topic, dlq_topic, datetime.now(UTC))
            futures = [await producer.send(topic, value, key=key) for topic, key, value in out.messages]
            await asyncio.gather(*futures)
            seen.update(out.remember)
            await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batches.items()})
            last = time.time()
            stats["events"] += len(records)
            stats["batches"] += 1
            stats["accepted"] += out.accepted
            stats["rejected"] += out.rejected
            stats["duplicates"] += out.duplicates
    finally:
        await producer.stop()
        await consumer.stop()
    stats["complete"] = stats["events"] >= config["expect"]
    stats["cpu_ms_per_event"] = round((time.process_time() - cpu) * 1000 / max(1, stats["events"]), 3)
    stats.update(first_consumed=first, last_acked=last, **memory_mb())
    return stats


def main(path: str) -> None:
    config = orjson.loads(Path(path).read_bytes())
    stats = asyncio.run(run(config))
    Path(config["out"]).write_bytes(orjson.dumps(stats))


if __name__ == "__main__":
    main(sys.argv[1])
