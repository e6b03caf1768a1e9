"""The raw aiokafka aggregate loop: the aggregate worker's work with nothing around it, as the yardstick.

getmany(max_records=2000) → ``decode_message`` → ``shared.aggregation.apply_batch`` into an in-memory
dict of series states → the same ``indicator.totals`` messages as the worker (unit view of every changed quarter,
current view of every changed series) sent without awaiting each → acknowledgements gathered → commit.

With ``"state": true`` it also does the worker's durability work the way a hand-written loop would: every series
the batch changed is serialised (``SeriesState.to_dict`` + orjson) and sent to a compacted changelog topic,
acknowledged before the commit (states stay in memory: it never reads them back).

Run as ``python -m bench.raw_aggregate CONFIG.json``; it stops after ``expect`` updates or ``budget`` seconds and
writes its timings to ``out``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from bench.procstat import memory_mb
from services.aggregate.batches import rolled_units, total_message
from shared.aggregation import BatchResult, QuarterTotal, SeriesState, apply_batch, rollup
from shared.contracts import View, series_key
from shared.topics import TOTALS, UPDATES
from shared.updates import IndicatorUpdate, Retraction, decode_message

#: The changelog topic of the ``state`` variant (namespaced).
CHANGELOG = "bench-raw-aggregate-state"


@dataclass(slots=True)
class BatchOutput:
    messages: list[tuple[bytes, bytes]]
    """(key, value) of the totals to publish."""
    result: BatchResult
    rejected: int


def process(records: list[ConsumerRecord], states: dict[str, SeriesState]) -> BatchOutput:
    """One batch applied to the in-memory states; the totals messages it produces."""
    batch: list[IndicatorUpdate | Retraction] = []
    rejected = 0
    for record in records:
        try:
            batch.append(decode_message(record.value))
        except (ValueError, KeyError, TypeError):
            rejected += 1
    result = apply_batch(states, batch, lambda _key: None)
    return BatchOutput(totals_messages(result, states.get), result, rejected + len(result.rejected))


def totals_messages(result: BatchResult, lookup: Callable[[str], SeriesState | None]) -> list[tuple[bytes, bytes]]:
    """The totals a batch publishes, as the worker: the unit view of every changed quarter and the current view of
    every changed series (``lookup`` finds the state of each unit rolling up into it)."""
    messages = []
    for key, quarter in sorted(result.changed_quarters):
        messages.append(total_message(View.UNIT, result.changed[key].quarter_total(quarter)))
    for current_code, indicator, year in {(s.current_code, s.indicator, s.year) for s in result.changed.values()}:
        parts: list[QuarterTotal] = []
        for unit in rolled_units(current_code):
            state = lookup(series_key(unit, indicator, year))
            if state is not None:
                parts.extend(state.totals())
        messages.extend(total_message(View.CURRENT, total) for total in rollup(parts, current_code))
    return messages


async def run(config: dict[str, Any]) -> dict[str, Any]:
    client = {"bootstrap_servers": config["bootstrap"]}
    namespace = config["namespace"]
    totals_topic, changelog = namespace + TOTALS.name, namespace + CHANGELOG
    consumer = AIOKafkaConsumer(
        **client,
        group_id=config["group"],
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    if config.get("assign"):  # fixed partitions: states in memory must not move (the pipeline's raw loop)
        consumer.assign([TopicPartition(namespace + UPDATES.name, partition) for partition in config["assign"]])
    else:
        consumer.subscribe([namespace + UPDATES.name])
    producer = AIOKafkaProducer(
        **client, acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
    )  # fmt: skip
    await consumer.start()
    await producer.start()
    states: dict[str, SeriesState] = {}
    stats: dict[str, Any] = {"events": 0, "batches": 0, "totals": 0, "rejected": 0, "state_writes": 0}
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
            out = process(records, states)
            futures = [await producer.send(totals_topic, value, key=key) for key, value in out.messages]
            await asyncio.gather(*futures)
            if config.get("state"):
                writes = [
                    await producer.send(changelog, orjson.dumps(states[key].to_dict()), key=key.encode())
                    for key in sorted(out.result.changed)
                ]
                await asyncio.gather(*writes)
                stats["state_writes"] += len(writes)
            await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batches.items()})
            last = time.time()
            stats["events"] += len(records)
            stats["batches"] += 1
            stats["totals"] += len(out.messages)
            stats["rejected"] += out.rejected
    finally:
        await producer.stop()
        await consumer.stop()
    stats["complete"] = stats["events"] >= config["expect"]
    stats["cpu_ms_per_event"] = round((time.process_time() - cpu) * 1000 / max(1, stats["events"]), 3)
    stats.update(first_consumed=first, last_acked=last, keys=len(states), **memory_mb())
    return stats


def main(path: str) -> None:
    config = orjson.loads(Path(path).read_bytes())
    stats = asyncio.run(run(config))
    Path(config["out"]).write_bytes(orjson.dumps(stats))


if __name__ == "__main__":
    main(sys.argv[1])
