"""Brokers of a 3-node cluster fail under the real ingest and aggregate workers: every topic has 3 replicas and
min.insync.replicas 2 (from the workers' own settings), every producer is acks=all and idempotent.

1. SIGKILL the node leading the most of the run's records mid-run, start it again later, then a rolling restart of
   all three nodes (SIGTERM, start, wait until fully replicated), all while one producer keeps publishing: the totals
   equal the oracle, every published offset is accounted for exactly once, the workers (same processes) recover by
   themselves and their committed offsets reach the ends (lag drained).

CI: 8,000 feed events, 1 leader kill and 1 rolling restart; ``--long``: 40,000 events, 3 leader kills then 2 rolling
restarts.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from services.localkafka import LocalCluster
from shared import kafkaclients
from shared.topics import DEDUPE, SERIES_CHANGELOG, TOTALS, UPDATES, TopicSpec
from tests.cluster.faults import REPLICAS, ClusterStack, Publisher, busiest_leader, restart
from tests.faults.pipeline import (
    AGGREGATED,
    INGESTED,
    check_accounting,
    check_topic_totals,
    committed_all,
    differences,
    generate,
    oracle,
    processed,
    read_topic,
    settled_totals,
)

pytestmark = pytest.mark.kafka

SEED = 3
DOWN_S = 5.0


async def check_replication(stack: ClusterStack, topics: list[str]) -> None:
    """Every topic has 3 replicas of each partition and min.insync.replicas 2."""
    admin = kafkaclients.admin(stack.plain)
    await admin.start()
    try:
        for topic in await admin.describe_topics(topics):
            assert {len(p["replicas"]) for p in topic["partitions"]} == {REPLICAS}, topic
        for response in await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]):
            for resource in response.resources:
                configs = {c[0]: c[1] for c in resource[4]}
                assert configs["min.insync.replicas"] == str(REPLICAS - 1), (resource[3], configs)
    finally:
        await admin.close()


async def test_leader_kills_and_rolling_restarts_lose_nothing_and_count_nothing_twice(
    whole_cluster: LocalCluster, unique: str, tmp_path: Path, long_mode: bool
) -> None:
    cluster = whole_cluster
    n, kills, rolls = (40_000, 3, 2) if long_mode else (8_000, 1, 1)
    rng = random.Random(SEED + n)
    stack = ClusterStack(cluster.bootstrap, unique, tmp_path)
    feeds = tuple(TopicSpec(stack.feed(name), p) for name, p in (("bac-ninh", 3), ("lang-son", 2), ("hcm", 1)))
    await stack.create_topics(feeds)
    messages = generate(rng, n, [f.name for f in feeds])
    expected = oracle(messages)
    ingest, aggregate = stack.ingest(TIENDO_BATCH_SIZE="500"), stack.aggregate()
    internal = [stack.ns.topic(t.name) for t in (UPDATES, TOTALS, DEDUPE, SERIES_CHANGELOG)]
    traffic = [f.name for f in feeds] + internal
    publisher = Publisher(stack.plain, messages, kills + 3 * rolls + 1)
    log: list[str] = []
    started = time.monotonic()
    try:
        ingest.start()
        aggregate.start()
        await asyncio.to_thread(ingest.wait_ready, 180)
        await asyncio.to_thread(aggregate.wait_ready, 180)
        assert ingest.proc is not None and aggregate.proc is not None
        pids = (ingest.proc.pid, aggregate.proc.pid)
        await check_replication(stack, traffic)
        sending = asyncio.create_task(publisher.run())
        for _ in range(kills):
            await publisher.next_phase(published=200)
            await stack.progress(ingest, INGESTED, 100, "ingest before a kill")
            await stack.progress(aggregate, AGGREGATED, 1, "aggregate before a kill")
            victim, led = await busiest_leader(stack.plain, traffic)
            counts = f"ingest at {processed(ingest, INGESTED):.0f}, aggregate at {processed(aggregate, AGGREGATED):.0f}"
            what = await asyncio.to_thread(restart, cluster, victim, kill=True, down_s=DOWN_S)
            log.append(f"{what} (it led {led} records; {counts})")
        for roll in range(rolls):
            steps = []
            for node in cluster.nodes:
                await publisher.next_phase(published=80)
                steps.append(await asyncio.to_thread(restart, cluster, node.node_id, kill=False))
            log.append(f"rolling restart {roll + 1}: {'; '.join(steps)}")
        await publisher.next_phase(published=0)
        origins = await sending
        faults_s = time.monotonic() - started

        feed_names = [f.name for f in feeds]
        await committed_all(stack.plain, stack.ingest_group, feed_names, 240, stack.logs)
        await committed_all(stack.ns, stack.aggregate_group, [stack.ns.topic(UPDATES.name)], 240, stack.logs)
        drained_s = time.monotonic() - started - faults_s
        got = await settled_totals(stack, aggregate, expected, 60)
        assert not differences(got, expected), f"/totals after the broker faults: {differences(got, expected)}"
        accounting = await check_accounting(stack, messages, origins)
        on_topic = await check_topic_totals(stack, expected)
        on_feeds = sum([len(await read_topic(stack.plain, topic)) for topic in feed_names])
        assert on_feeds == n, f"{on_feeds} records on the feed topics for {n} published: the producer wrote copies"
        assert (ingest.proc.pid, aggregate.proc.pid) == pids, "a worker was restarted"
        for worker in (ingest, aggregate):
            assert worker.proc.poll() is None, f"{worker.command} exited\n{worker.tail()}"
            assert (await asyncio.to_thread(worker.get, "/health"))[0] == 200, worker.tail()
        print(
            f"\n{n} events; {'; '.join(log)}; published during {faults_s:.0f}s of faults; {on_feeds} feed records "
            f"(no copies); {accounting}; {len(expected)} quarters equal the oracle ({on_topic} on indicator.totals): "
            f"lost 0, double 0; both workers recovered by themselves; lag drained in {drained_s:.0f}s"
        )
    finally:
        stack.stop()
