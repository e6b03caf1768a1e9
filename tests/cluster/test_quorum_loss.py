"""Two of the cluster's three nodes are SIGKILLed at once under the real ingest and aggregate workers: the quorum
is gone (one controller of three: no leader moves, no in-sync set shrinks), so no partition can take an acks=all
write. A producer sending meanwhile has no send acknowledged while the two are down: aiokafka's idempotent producer
never expires a batch it has sent (its sequence numbers would break), so the sends block and are acknowledged once
the quorum is back; any that fail are sent again (a publisher's retry, the same bytes). The workers (same
processes) resume by themselves and the totals equal the oracle; every acknowledged record is on the log.

A send that failed may still sit in the surviving leader's log (Kafka's ambiguous timeout: written, not acknowledged)
and reach the consumers once the followers return; the retry is then a second copy, which ingest drops as a
duplicate. So the accounting is done against the feed topics as they end up, every record of which is one of the
generated messages.

CI: 3,000 feed events, one outage; ``--long``: 15,000 events, three outages.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from services.localkafka import LocalCluster
from shared import kafkaclients
from shared.topics import UPDATES, TopicSpec
from tests.cluster.faults import ClusterStack, busiest_leader
from tests.faults.pipeline import (
    AGGREGATED,
    INGESTED,
    Message,
    Origin,
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

SEED = 7
DOWN_S = 8.0


async def send_each(stack: ClusterStack, messages: list[Message]) -> list[tuple[RecordMetadata | BaseException, float]]:
    """Send every message with one producer; each one's outcome (its RecordMetadata or its exception) and when it
    settled (``time.monotonic()``)."""
    producer = kafkaclients.producer(stack.plain, "cluster-outage")
    await producer.start()
    try:
        futures: list[asyncio.Future[RecordMetadata]] = []
        settled: dict[int, float] = {}
        for i, m in enumerate(messages):
            try:
                future = await producer.send(m.topic, m.value, key=m.key)
            except KafkaError as exc:  # refused before it was queued (e.g. no metadata for its topic): failed
                future = asyncio.get_running_loop().create_future()
                future.set_exception(exc)
            future.add_done_callback(lambda _, i=i: settled.__setitem__(i, time.monotonic()))
            futures.append(future)
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        await asyncio.sleep(0)  # the done callbacks run
        return [(outcome, settled[i]) for i, outcome in enumerate(outcomes)]
    finally:
        await producer.stop()


async def test_two_of_three_brokers_down_producers_fail_cleanly_and_workers_resume(
    whole_cluster: LocalCluster, unique: str, tmp_path: Path, long_mode: bool
) -> None:
    cluster = whole_cluster
    n, outages = (15_000, 3) if long_mode else (3_000, 1)
    rng = random.Random(SEED + n)
    stack = ClusterStack(cluster.bootstrap, unique, tmp_path)
    feeds = (TopicSpec(stack.feed("bac-ninh"), 2), TopicSpec(stack.feed("lang-son"), 1))
    feed_names = [f.name for f in feeds]
    await stack.create_topics(feeds)
    messages = generate(rng, n, feed_names)
    expected = oracle(messages)
    traffic = [*feed_names, stack.ns.topic(UPDATES.name)]
    per = -(-n // (2 * outages + 1))  # parts: before, during, before, during, ..., after
    parts = [messages[i : i + per] for i in range(0, n, per)]
    ingest, aggregate = stack.ingest(), stack.aggregate()
    acknowledged: dict[Origin, Message] = {}
    log: list[str] = []
    try:
        ingest.start()
        aggregate.start()
        await asyncio.to_thread(ingest.wait_ready, 180)
        await asyncio.to_thread(aggregate.wait_ready, 180)
        assert ingest.proc is not None and aggregate.proc is not None
        pids = (ingest.proc.pid, aggregate.proc.pid)
        retry: list[Message] = []
        for outage in range(outages):
            before, during = parts[2 * outage], parts[2 * outage + 1]
            for meta, _ in await send_each(stack, retry + before):
                assert isinstance(meta, RecordMetadata), meta
            retry = []
            await stack.progress(ingest, INGESTED, 1 + outage * per, "ingest before the outage")
            await stack.progress(aggregate, AGGREGATED, 1, "aggregate before the outage")
            victim, _ = await busiest_leader(stack.plain, traffic)
            down = [victim, *rng.sample([i for i in (1, 2, 3) if i != victim], 1)]
            where = f"ingest at {processed(ingest, INGESTED):.0f}, aggregate at {processed(aggregate, AGGREGATED):.0f}"
            await asyncio.gather(*(asyncio.to_thread(cluster.node(i).kill) for i in down))
            t0 = time.monotonic()
            sending = asyncio.create_task(send_each(stack, during))
            await asyncio.sleep(DOWN_S)
            for worker in (ingest, aggregate):
                assert worker.proc.poll() is None, f"{worker.command} exited while the quorum was lost\n{worker.tail()}"
            returning = time.monotonic()
            await asyncio.to_thread(cluster.start)
            back_s = time.monotonic() - t0
            outcomes = await sending
            await asyncio.to_thread(cluster.wait_replicated)  # the next outage starts from full in-sync sets
            settled_s = max(at for _, at in outcomes) - t0
            acked = [(m, o) for m, (o, _) in zip(during, outcomes, strict=True) if isinstance(o, RecordMetadata)]
            failed = [(m, o) for m, (o, _) in zip(during, outcomes, strict=True) if not isinstance(o, RecordMetadata)]
            early = [
                m
                for m, (o, at) in zip(during, outcomes, strict=True)
                if isinstance(o, RecordMetadata) and at < returning
            ]
            assert not early, f"{len(early)} writes acknowledged with two of three brokers down (no quorum, ISR of 3)"
            acknowledged |= {(o.topic, o.partition, o.offset): m for m, o in acked}
            retry = [m for m, _ in failed]
            errors = sorted({type(o).__name__ for _, o in failed})
            blocked = sum(1 for _, at in outcomes if at >= returning)
            log.append(
                f"outage {outage + 1}: SIGKILL nodes {down} ({where}); {len(during)} sends while down: 0 acknowledged, "
                f"{len(during) - blocked} failed, {blocked} blocked until the quorum was back "
                f"({back_s:.1f}s after the kill); then {len(acked)} acknowledged, {len(failed)} failed "
                f"({', '.join(errors) or 'no error'}), all settled {settled_s:.1f}s after the kill"
            )
        resumed = time.monotonic()
        tail = retry + parts[-1]
        for m, (meta, _) in zip(tail, await send_each(stack, tail), strict=True):
            assert isinstance(meta, RecordMetadata), (m, meta)
        await committed_all(stack.plain, stack.ingest_group, feed_names, 240, stack.logs)
        await committed_all(stack.ns, stack.aggregate_group, [stack.ns.topic(UPDATES.name)], 240, stack.logs)
        resumed_s = time.monotonic() - resumed

        # The feed topics as they are: every acknowledged record is there with its bytes; each record is a message.
        by_bytes: dict[tuple[str, bytes, bytes | None], Message] = {}
        for m in messages:  # the first with these bytes: the original, not a later re-send of it (kind duplicate)
            by_bytes.setdefault((m.topic, m.key, m.value), m)
        records = [r for topic in feed_names for r in await read_topic(stack.plain, topic)]
        on_log = {(r.topic, r.partition, r.offset): r for r in records}
        for origin, m in acknowledged.items():
            assert origin in on_log and on_log[origin].value == m.value, f"acknowledged {origin} lost"
        log_messages = [by_bytes[(r.topic, r.key, r.value)] for r in records]
        log_origins: list[Origin] = [(r.topic, r.partition, r.offset) for r in records]
        unacknowledged_copies = len(records) - n

        got = await settled_totals(stack, aggregate, expected, 60)
        assert not differences(got, expected), f"/totals after the quorum loss: {differences(got, expected)}"
        accounting = await check_accounting(stack, log_messages, log_origins)
        on_topic = await check_topic_totals(stack, expected)
        assert (ingest.proc.pid, aggregate.proc.pid) == pids, "a worker was restarted"
        for worker in (ingest, aggregate):
            assert worker.proc.poll() is None, f"{worker.command} exited\n{worker.tail()}"
            assert (await asyncio.to_thread(worker.get, "/health"))[0] == 200, worker.tail()
        print(
            f"\n{n} events; {'; '.join(log)}; {len(acknowledged)} acknowledged after an outage, all on the log; "
            f"{unacknowledged_copies} failed sends were written anyway (the retry a duplicate); workers resumed by "
            f"themselves, lag drained {resumed_s:.0f}s after the retries; {accounting}; {len(expected)} quarters "
            f"equal the oracle ({on_topic} on indicator.totals): lost 0, double 0"
        )
    finally:
        stack.stop()
