"""SIGKILL the ingest and aggregate workers at random moments of a run; restarted with the same state folder, the
pipeline ends with the oracle's totals, every bad event dead-lettered once with its reason, every offset accounted.

CI: 20,000 feed events, 5 kills; ``--long``: 100,000 events, 20 kills. The events go out in rounds (one per kill,
plus a last one), each published in slices so that the workers are busy when the kill comes: a round picks a
victim at random, waits until it processed a random part of the round, sleeps a random fraction of a second and
SIGKILLs it, then restarts it on the same state folder. The next kill comes only once the restarted worker has
processed something again.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from shared.config import KafkaSettings
from shared.topics import UPDATES, TopicSpec
from tests.faults.pipeline import (
    AGGREGATED,
    INGESTED,
    Stack,
    check_accounting,
    check_topic_totals,
    committed_all,
    differences,
    generate,
    oracle,
    processed,
    publish,
    settled_totals,
)

pytestmark = pytest.mark.kafka

SEED = 20240630


async def test_random_sigkills_of_ingest_and_aggregate_lose_nothing_and_count_nothing_twice(
    kafka_settings: KafkaSettings, unique: str, tmp_path: Path, long_mode: bool, record_property
) -> None:
    n, kills = (100_000, 20) if long_mode else (20_000, 5)
    rng = random.Random(SEED + n)
    stack = Stack(kafka_settings.bootstrap_servers, unique, tmp_path)
    feeds = tuple(TopicSpec(stack.feed(name), p) for name, p in (("bac-ninh", 2), ("lang-son", 1), ("hcm", 3)))
    await stack.create_topics(feeds)
    messages = generate(rng, n, [f.name for f in feeds])
    expected = oracle(messages)
    # Small ingest batches: each is committed after its outputs, so a kill lands inside one more often.
    ingest = stack.ingest(TIENDO_BATCH_SIZE="500")
    aggregate = stack.aggregate()
    roles = {"ingest": (ingest, INGESTED), "aggregate": (aggregate, AGGREGATED)}
    started = time.monotonic()
    log: list[str] = []
    origins: list = []
    try:
        ingest.start()
        aggregate.start()
        await asyncio.to_thread(ingest.wait_ready, 180)
        await asyncio.to_thread(aggregate.wait_ready, 180)
        chunk = -(-n // (kills + 1))
        victims = ["ingest", "aggregate"] + [rng.choice(sorted(roles)) for _ in range(kills - 2)]
        rng.shuffle(victims)  # random, with each worker killed at least once
        restarted: str | None = None
        restarts: list[float] = []
        for round_ in range(kills + 1):
            part = messages[round_ * chunk : (round_ + 1) * chunk]
            sending = asyncio.create_task(publish(stack.plain, part, slices=10, pause=0.2))
            if restarted is not None:  # the last victim works again before anything else happens
                worker, metric = roles[restarted]
                await stack.progress(worker, metric, 1, f"{restarted} after its restart")
            if round_ == kills:
                origins += await sending
                break
            victim = victims[round_]
            worker, metric = roles[victim]
            base = processed(worker, metric)
            target = base + rng.randint(chunk // 5, chunk // 2)
            await stack.progress(worker, metric, target, f"round {round_}")
            await asyncio.sleep(rng.uniform(0, 0.3))
            at_kill = processed(worker, metric)
            worker.kill()
            t0 = time.monotonic()
            worker.start()
            await asyncio.to_thread(worker.wait_ready, 180)
            restarts.append(round(time.monotonic() - t0, 1))
            restarted = victim
            log.append(f"{victim}@{at_kill - base:.0f}")
            origins += await sending
        assert len(log) == kills
        published_s = time.monotonic() - started

        await committed_all(stack.plain, stack.ingest_group, [f.name for f in feeds], 180, stack.logs)
        await committed_all(stack.ns, stack.aggregate_group, [stack.ns.topic(UPDATES.name)], 180, stack.logs)
        got = await settled_totals(stack, aggregate, expected, 60)
        assert not differences(got, expected), f"/totals after {kills} kills: {differences(got, expected)}"
        accounting = await check_accounting(stack, messages, origins)
        on_topic = await check_topic_totals(stack, expected)
        assert aggregate.metric(AGGREGATED, {"outcome": "overflow"}) == 0
        assert aggregate.metric(AGGREGATED, {"outcome": "rejected"}) == 0
        assert ingest.proc is not None and ingest.proc.poll() is None, ingest.tail()
        assert aggregate.proc is not None and aggregate.proc.poll() is None, aggregate.tail()
        seconds = round(time.monotonic() - started, 1)
        record_property("kills", log)
        record_property("seconds", seconds)
        print(
            f"\n{n} events, {kills} kills (victim@events processed in its round: {', '.join(log)}); restart to ready "
            f"{restarts}s; {accounting}; {len(expected)} quarters equal the oracle ({on_topic} on indicator.totals); "
            f"published in {published_s:.0f}s, {seconds}s in all"
        )
    finally:
        stack.stop()
