"""The pipeline as a raw aiokafka loop: the ceiling for Python.

One partition: a single loop, no internal topic — getmany(2000) from the feeds → ``triage`` (dedupe in a dict)
→ ``apply_batch`` (states in a dict) → totals and dead letters sent without awaiting each → acknowledgements
gathered → offsets committed. More partitions (one process each, partition i of every topic to process i, no
group rebalance): the states of a series must live in one process, so each process runs the raw ingest loop
(``bench.raw_ingest``: feeds → ``indicator.updates``, keyed like the worker's) and the raw aggregate loop
(``bench.raw_aggregate``: ``indicator.updates`` → totals) side by side.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench import raw_aggregate, raw_ingest
from bench.peers import load_config
from shared.aggregation import SeriesState, apply_batch
from shared.normalise import triage
from shared.topics import DLQ, TOTALS

#: A run never stops by itself: the benchmark terminates it.
FOREVER = 10**15


async def single(config: dict[str, Any]) -> None:
    """Feeds → totals in one loop (one process)."""
    client = {"bootstrap_servers": config["bootstrap"]}
    namespace = config["namespace"]
    dlq_topic, totals_topic = namespace + DLQ.name, namespace + TOTALS.name
    consumer = AIOKafkaConsumer(
        *config["feeds"],
        **client,
        group_id=f"{namespace}raw-pipeline",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(
        **client, acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
    )  # fmt: skip
    await consumer.start()
    await producer.start()
    seen: dict[str, int] = {}
    states: dict[str, SeriesState] = {}
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=2000)
            if not batches:
                continue
            records = [r for rs in batches.values() for r in rs]
            raws = raw_ingest.raw_events(records)
            triaged = triage(raws, seen.get, room=len(raws))  # no limit: every event may be new
            result = apply_batch(states, [u for _, u, _ in triaged.accepted], lambda _key: None)
            messages = [(totals_topic, k, v) for k, v in raw_aggregate.totals_messages(result, states.get)]
            messages += raw_ingest.dead_letters([r.key for r in records], raws, triaged, dlq_topic, datetime.now(UTC))
            await asyncio.gather(*[await producer.send(topic, value, key=key) for topic, key, value in messages])
            seen.update({identity: revision for identity, (revision, _) in triaged.remember.items()})
            await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batches.items()})
    finally:
        await producer.stop()
        await consumer.stop()


async def split(config: dict[str, Any]) -> None:
    """The raw ingest and aggregate loops side by side, repartitioned through ``indicator.updates``; process i
    reads partition i of every topic (fixed assignment: its states live in memory and must not move)."""
    common = {"bootstrap": config["bootstrap"], "namespace": config["namespace"], "expect": FOREVER, "budget": None}
    index = config["index"]
    await asyncio.gather(
        raw_ingest.run(
            {**common, "assign": [[t, index] for t in config["feeds"]], "group": f"{config['namespace']}raw-feeds"}
        ),
        raw_aggregate.run({**common, "assign": [index], "group": f"{config['namespace']}raw-updates"}),
    )


def main() -> None:
    settings = load_config()
    asyncio.run(single(settings) if settings["partitions"] == 1 else split(settings))


if __name__ == "__main__":
    main()
