"""Zombie workers: a replica paused (SIGSTOP) past its session timeout, holding a batch it fetched, while its
partitions move to the other replica; woken (SIGCONT) once the other has processed everything, it tries to write
that stale batch and Kafka refuses it (the new owner's transactional producer fenced it: counted in
``tiendo_<worker>_fenced_batches_total``). The pipeline still ends with the oracle's totals, every offset accounted
for, and a fresh aggregate replica recovering from the changelog alone holds exactly the oracle's states.

Two ingest and two aggregate replicas; one of each pauses itself right after a fetch (the batch worker's test hook
``TIENDO_TEST_PAUSE_AFTER_FETCH``). CI: 6,000 feed events; ``--long``: 40,000.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from shared.config import KafkaSettings
from shared.topics import ALERTS, UPDATES, TopicSpec
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
    publish,
    settled_totals,
    totals,
)
from tests.integration.kafka_io import read_until
from tests.integration.test_alert import load_plans, publish_totals
from tests.integration.test_alert_replicas import (
    BASELINE,
    CYCLES,
    PLANS_YAML,
    PROVINCES,
    Replicas,
    _poll,
    behind_plan,
    owned,
    replicas,  # noqa: F401 - the fixture
    reports,
    wait_statuses,
)
from tests.workers import Worker

pytestmark = pytest.mark.kafka

SEED = 20241215
INGEST_FENCED = "tiendo_ingest_fenced_batches_total"
AGGREGATE_FENCED = "tiendo_aggregate_fenced_batches_total"


def stopped(worker: Worker) -> bool:
    """The worker process is stopped (SIGSTOP): state T in /proc."""
    assert worker.proc is not None
    with open(f"/proc/{worker.proc.pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] in ("T", "t")


async def until(check, what: str, stack: Stack, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"{what}: not in {timeout}s\n{stack.logs()}"
        await asyncio.sleep(0.1)


def fenced(worker: Worker, metric: str) -> float:
    try:
        return worker.metric(metric)
    except OSError:
        return 0.0


async def test_paused_ingest_and_aggregate_replicas_are_fenced_and_change_nothing(
    kafka_settings: KafkaSettings, unique: str, tmp_path: Path, long_mode: bool, record_property
) -> None:
    n = 40_000 if long_mode else 6_000
    rng = random.Random(SEED + n)
    stack = Stack(kafka_settings.bootstrap_servers, unique, tmp_path)
    feeds = tuple(TopicSpec(stack.feed(name), p) for name, p in (("bac-ninh", 2), ("hcm", 2)))
    await stack.create_topics(feeds)
    messages = generate(rng, n, [f.name for f in feeds])
    expected = oracle(messages)
    pause = {"ingest": tmp_path / "pause-ingest", "aggregate": tmp_path / "pause-aggregate"}
    small = {"TIENDO_BATCH_SIZE": "200"}  # several batches per slice: the zombies fetch while there is more to do
    ingest_a = stack.ingest("-a", TIENDO_TEST_PAUSE_AFTER_FETCH=str(pause["ingest"]), **small)
    ingest_b = stack.ingest("-b", **small)
    aggregate_a = stack.aggregate("-a", TIENDO_TEST_PAUSE_AFTER_FETCH=str(pause["aggregate"]), **small)
    aggregate_b = stack.aggregate("-b", **small)
    started = time.monotonic()
    try:
        for worker in (ingest_a, ingest_b, aggregate_a, aggregate_b):
            worker.start()
        for worker in (ingest_a, ingest_b, aggregate_a, aggregate_b):
            await asyncio.to_thread(worker.wait_ready, 180)
        third = n // 3
        origins = await publish(stack.plain, messages[:third], slices=5, pause=0.2)
        await stack.progress(ingest_a, INGESTED, 1, "ingest A before its pause")
        await stack.progress(aggregate_a, AGGREGATED, 1, "aggregate A before its pause")
        # Both A replicas stop themselves at their next fetch of records, in the middle of the second third.
        for path in pause.values():
            path.touch()
        sending = asyncio.create_task(publish(stack.plain, messages[third : 2 * third], slices=10, pause=0.2))
        await until(lambda: stopped(ingest_a) and stopped(aggregate_a), "both A replicas paused", stack)
        origins += await sending
        # B takes their partitions after the session timeout (6 s) and processes everything published.
        await committed_all(stack.plain, stack.ingest_group, [f.name for f in feeds], 180, stack.logs)
        await committed_all(stack.ns, stack.aggregate_group, [stack.ns.topic(UPDATES.name)], 180, stack.logs)
        paused_s = round(time.monotonic() - started, 1)
        assert ingest_a.proc is not None and aggregate_a.proc is not None
        for worker in (ingest_a, aggregate_a):
            assert worker.proc is not None
            os.kill(worker.proc.pid, signal.SIGCONT)
        await until(lambda: fenced(ingest_a, INGEST_FENCED) >= 1, "the ingest zombie's batch fenced", stack)
        await until(lambda: fenced(aggregate_a, AGGREGATE_FENCED) >= 1, "the aggregate zombie's batch fenced", stack)
        zombie_fenced = (fenced(ingest_a, INGEST_FENCED), fenced(aggregate_a, AGGREGATE_FENCED))
        # The A replicas rejoin; the last third is shared again.
        for worker in (ingest_a, aggregate_a):
            await asyncio.to_thread(worker.wait_ready, 180)
        origins += await publish(stack.plain, messages[2 * third :], slices=5, pause=0.2)
        await committed_all(stack.plain, stack.ingest_group, [f.name for f in feeds], 180, stack.logs)
        await committed_all(stack.ns, stack.aggregate_group, [stack.ns.topic(UPDATES.name)], 180, stack.logs)

        accounting = await check_accounting(stack, messages, origins)
        on_topic = await check_topic_totals(stack, expected)
        for worker in (ingest_b, aggregate_b):
            assert fenced(worker, INGEST_FENCED if worker.command == "ingest" else AGGREGATE_FENCED) == 0
        for worker in stack.workers:
            assert worker.running, worker.tail()
        for worker in stack.workers:
            worker.stop()
        # The changelog alone: a fresh replica (empty state folder) recovers every partition from it.
        fresh = stack.aggregate("-fresh")
        fresh.start()
        await asyncio.to_thread(fresh.wait_ready, 180)
        got = await settled_totals(stack, fresh, expected, 30)
        assert not differences(got, expected), f"recovered from the changelog: {differences(got, expected)}"
        assert got == await asyncio.to_thread(totals, fresh)
        seconds = round(time.monotonic() - started, 1)
        record_property("fenced", zombie_fenced)
        record_property("seconds", seconds)
        print(
            f"\n{n} events; zombies fenced (ingest, aggregate batches): {zombie_fenced}; B caught up at {paused_s}s; "
            f"{accounting}; {len(expected)} quarters equal the oracle on indicator.totals ({on_topic} there) and in "
            f"a fresh replica recovered from the changelog; {seconds}s in all"
        )
    finally:
        stack.stop()


@pytest.fixture
def namespace(unique: str) -> str:
    return f"t{unique}."


async def test_a_paused_alert_replica_is_fenced_and_pages_nothing_stale(replicas: Replicas) -> None:  # noqa: F811
    """Replica A pauses itself holding the first breaches of its provinces; B takes its partitions, pages every
    breach and resolves every recovery; woken, A's stale breach batch is refused. Two cycles: the webhook gets
    exactly firing, resolved, firing, resolved per province and the alerts topic exactly one record per change."""
    r = replicas
    pause = r.tmp / "pause-alert"
    plan_file = r.tmp / "plans.yaml"
    plan_file.write_text(PLANS_YAML, encoding="utf-8")
    await load_plans(r.env, plan_file)
    a, b = r.worker("a", TIENDO_TEST_PAUSE_AFTER_FETCH=str(pause)), r.worker("b")
    a.start()
    b.start()
    await asyncio.gather(asyncio.to_thread(a.wait_ready), asyncio.to_thread(b.wait_ready))
    started = time.monotonic()
    await publish_totals(r.ns, *reports(*BASELINE))

    async def split() -> bool:
        mine, theirs = await owned(a), await owned(b)
        return bool(mine and theirs and not mine & theirs and mine | theirs == {0, 1, 2, 3})

    await asyncio.wait_for(_poll(split), 60)
    applied = {"outcome": "applied"}
    await asyncio.wait_for(_poll(lambda: asyncio.to_thread(a.metric, "tiendo_alert_totals_total", applied)), 30)
    pause.touch()
    breach, recovery = CYCLES[0]
    await publish_totals(r.ns, *reports(*breach))
    await until(lambda: stopped(a), "alert A paused", Stack("", "", r.tmp))
    await wait_statuses(r, ["firing"], timeout=90)  # B, after A's session timeout
    await publish_totals(r.ns, *reports(*recovery))
    await wait_statuses(r, ["firing", "resolved"], timeout=60)
    assert a.proc is not None
    os.kill(a.proc.pid, signal.SIGCONT)
    await asyncio.wait_for(_poll(lambda: asyncio.to_thread(fenced, a, "tiendo_alert_fenced_batches_total")), 60)
    await asyncio.to_thread(a.wait_ready)
    await asyncio.wait_for(_poll(split), 60)
    breach, recovery = CYCLES[1]
    await publish_totals(r.ns, *reports(*breach))
    await wait_statuses(r, ["firing", "resolved", "firing"], timeout=60)
    await publish_totals(r.ns, *reports(*recovery))
    await wait_statuses(r, ["firing", "resolved", "firing", "resolved"], timeout=60)
    await asyncio.sleep(4)  # two more re-send rounds: nothing more may be notified
    final = behind_plan(r.webhook.notifications())
    assert final == {code: ["firing", "resolved", "firing", "resolved"] for code in PROVINCES}, "a stale page"
    records = await read_until(
        r.ns, r.ns.topic(ALERTS.name), lambda rs: len(rs) >= 4 * len(PROVINCES), on_timeout=r.describe
    )
    events = Counter(
        (h["alert"]["key"]["province_uid"], h["event"])
        for h in (orjson.loads(rec.value) for rec in records)
        if h["alert"]["key"]["rule"] == "TiendoBehindPlan"
    )
    assert events == {(code, e): 2 for code in PROVINCES for e in ("fired", "resolved")}, events
    zombie = a.metric("tiendo_alert_fenced_batches_total")
    assert b.metric("tiendo_alert_fenced_batches_total") == 0
    print(
        f"\nalert zombie: {zombie:.0f} batches fenced; {2 * len(PROVINCES)} breaches paged, {2 * len(PROVINCES)} "
        f"recoveries resolved, webhook per province {final['01']}, {sum(events.values())} history records "
        f"(one per change); {time.monotonic() - started:.0f} s"
    )
