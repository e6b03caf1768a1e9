"""The broker goes away mid-stream and comes back: the ingest and aggregate workers reconnect by themselves (same
processes throughout) and the totals equal the oracle.

This restarts the session's broker (same data folder, same ports): tests run one after the other, so others only
see it up. It is started again whatever happens here; deselect with ``-m 'not broker_restart'``. The broker stays
down ``TIENDO_FAULTS_BROKER_DOWN_S`` seconds (5 by default) before it starts again.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import pytest

from shared.config import KafkaSettings
from shared.topics import UPDATES, TopicSpec
from tests.conftest import _SESSION
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

pytestmark = [pytest.mark.kafka, pytest.mark.broker_restart]

SEED = 5
DOWN_S = float(os.environ.get("TIENDO_FAULTS_BROKER_DOWN_S", "5"))


async def test_workers_reconnect_after_a_broker_restart_and_totals_equal_the_oracle(
    kafka_settings: KafkaSettings, unique: str, tmp_path: Path, long_mode: bool
) -> None:
    broker = _SESSION.get("broker")
    if broker is None:
        pytest.skip("the session uses an external broker (TIENDO_KAFKA_BOOTSTRAP): not ours to restart")
    n = 50_000 if long_mode else 8_000
    rng = random.Random(SEED)
    stack = Stack(kafka_settings.bootstrap_servers, unique, tmp_path)
    feeds = (TopicSpec(stack.feed("bac-ninh"), 2), TopicSpec(stack.feed("lang-son"), 1))
    await stack.create_topics(feeds)
    messages = generate(rng, n, [f.name for f in feeds])
    expected = oracle(messages)
    half = n // 2
    ingest, aggregate = stack.ingest(), stack.aggregate()
    try:
        ingest.start()
        aggregate.start()
        await asyncio.to_thread(ingest.wait_ready, 180)
        await asyncio.to_thread(aggregate.wait_ready, 180)
        assert ingest.proc is not None and aggregate.proc is not None
        pids = (ingest.proc.pid, aggregate.proc.pid)
        origins = await publish(stack.plain, messages[:half], slices=4, pause=0.2)
        # Down while the workers are still busy with the first half (the aggregate at least).
        await stack.progress(ingest, INGESTED, half // 4, "ingest before the broker stops")
        counts = [processed(ingest, INGESTED), processed(aggregate, AGGREGATED)]
        t0 = time.monotonic()
        try:
            await asyncio.to_thread(broker.stop)
            stopped_s = time.monotonic() - t0
            await asyncio.sleep(DOWN_S)
        finally:
            await asyncio.to_thread(broker.start)
        down_s = time.monotonic() - t0
        origins += await publish(stack.plain, messages[half:], slices=4, pause=0.2)

        await committed_all(stack.plain, stack.ingest_group, [f.name for f in feeds], 300, stack.logs)
        await committed_all(stack.ns, stack.aggregate_group, [stack.ns.topic(UPDATES.name)], 300, stack.logs)
        got = await settled_totals(stack, aggregate, expected, 60)
        assert not differences(got, expected), f"/totals after the broker restart: {differences(got, expected)}"
        accounting = await check_accounting(stack, messages, origins)
        on_topic = await check_topic_totals(stack, expected)
        assert (ingest.proc.pid, aggregate.proc.pid) == pids
        for worker in (ingest, aggregate):
            assert worker.proc is not None and worker.proc.poll() is None, f"{worker.command} exited\n{worker.tail()}"
            assert (await asyncio.to_thread(worker.get, "/health"))[0] == 200, worker.tail()
        print(
            f"\n{n} events, broker stopped after ingest processed {counts[0]:.0f} and aggregate {counts[1]:.0f} "
            f"(SIGTERM took {stopped_s:.1f}s; down {down_s:.1f}s in all); both workers reconnected by themselves; "
            f"{accounting}; {len(expected)} quarters equal the oracle ({on_topic} on indicator.totals)"
        )
    finally:
        if broker.pid() is None:
            await asyncio.to_thread(broker.start)
        stack.stop()
