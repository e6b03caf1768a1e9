"""SIGKILL the ingest worker mid-stream: after a restart nothing is lost and the dedupe state bounds the replay."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from shared import kafkaclients
from shared.config import KafkaSettings
from shared.consuming import INGEST_GROUP
from shared.topics import DLQ, UPDATES, TopicSpec, ensure_topics
from tests.conftest import free_port
from tests.integration.kafka_io import publish
from tests.workers import Worker

pytestmark = pytest.mark.kafka

PER_TOPIC = 10_000
BATCH = 250
PROVINCES = ("Bắc Giang", "Lạng Sơn", "Hà Nội", "TP.HCM", "Bac Ninh")
INDICATORS = (
    ("state_budget_revenue", "tỷ đồng"),
    ("public_investment_disbursed", "triệu đồng"),
    ("new_jobs", "người"),
    ("site_clearance_area", "ha"),
)


def event(n: int) -> bytes:
    indicator, unit = INDICATORS[n % len(INDICATORS)]
    return orjson.dumps(
        {
            "event_id": f"e{n:06d}",
            "province": PROVINCES[n % len(PROVINCES)],
            "indicator": indicator,
            "as_of": f"2024-{1 + n % 12:02d}-15",
            "value": 1 + n % 97,
            "unit": unit,
            "mode": "delta",
        }
    )


class UpdatesReader:
    """Reads ``indicator.updates`` from the beginning (no consumer group), counting event ids as records arrive."""

    def __init__(self, settings: KafkaSettings, topic: str) -> None:
        self.settings, self.topic = settings, topic
        self.ids: Counter[str] = Counter()
        self.stamps: dict[str, list[int]] = {}  # event id → producer timestamps (ms) of its records
        self.consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> UpdatesReader:
        self.consumer = kafkaclients.consumer(self.settings, "test-updates")
        await self.consumer.start()
        tps = [TopicPartition(self.topic, p) for p in range(UPDATES.partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.consumer is not None
        await self.consumer.stop()

    async def read(self, timeout_ms: int = 500) -> int:
        assert self.consumer is not None
        n = 0
        for records in (await self.consumer.getmany(timeout_ms=timeout_ms, max_records=10_000)).values():
            for r in records:
                event_id = orjson.loads(r.value)["event_id"]
                self.ids[event_id] += 1
                self.stamps.setdefault(event_id, []).append(r.timestamp)
                n += 1
        return n

    async def until(self, done, timeout: float, on_timeout=lambda: "") -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"{len(self.ids)} ids read\n{on_timeout()}"
            await self.read()


async def metric(worker: Worker, outcome: str) -> float:
    return await asyncio.to_thread(worker.metric, "tiendo_ingest_events_total", {"outcome": outcome})


def events_processed(metrics_text: bytes) -> float:
    """accepted + duplicate + rejected in one /metrics page."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics_text.decode())
        for sample in family.samples
        if sample.name == "tiendo_ingest_events_total"
    )


def kill_when_processed(worker: Worker, threshold: float, timeout: float = 60) -> float:
    """SIGKILL the worker at a random moment once ``threshold`` events are processed; return its last count.

    /metrics is fetched once more right before the kill (and parsed after it), so the worker can hardly count
    more in between; the random pause makes the kill land anywhere in a batch.
    """
    deadline = time.monotonic() + timeout
    while (count := events_processed(worker.get("/metrics")[1])) < threshold:
        assert time.monotonic() < deadline, f"only {count} processed\n{worker.tail()}"
        time.sleep(0.01)
    time.sleep(random.uniform(0, 0.5))
    _, last = worker.get("/metrics")
    worker.kill()
    return events_processed(last)


async def committed(settings: KafkaSettings, group: str, topics: set[str]) -> int:
    """Sum of the group's committed offsets on the topics."""
    admin = kafkaclients.admin(settings)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic in topics and meta.offset >= 0)


async def test_sigkill_mid_stream_loses_nothing_and_replays_little(
    kafka_settings: KafkaSettings, unique: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    namespace = f"t{unique}."
    ns = KafkaSettings(bootstrap_servers=kafka_settings.bootstrap_servers, namespace=namespace)
    feeds = (TopicSpec(f"feed.{unique}-bac-ninh", 2), TopicSpec(f"feed.{unique}-lang-son", 1))
    await ensure_topics(ns, (UPDATES, DLQ))
    await ensure_topics(kafka_settings, feeds)
    env = {
        "TIENDO_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "TIENDO_NAMESPACE": namespace,
        "TIENDO_TOPIC_PATTERN": rf"feed\.{unique}-.*",
        "TIENDO_DATA_DIR": str(tmp_path / "state"),
        "TIENDO_METADATA_MAX_AGE_MS": "2000",
        "TIENDO_BATCH_SIZE": str(BATCH),  # small batches, each committed after its outputs: the kill lands in one
        "TIENDO_SESSION_TIMEOUT_S": "6",  # the broker's minimum: the restarted worker waits less for the dead one
    }
    log = tmp_path / "ingest.log"
    worker = Worker("ingest", env, log, free_port()).start()
    second: Worker | None = None
    try:
        await asyncio.to_thread(worker.wait_ready)
        phases = {"ready": time.monotonic() - started}
        total = PER_TOPIC * len(feeds)
        values = {spec.name: [event(i) for i in range(k, total, len(feeds))] for k, spec in enumerate(feeds)}
        sending = asyncio.gather(*(publish(kafka_settings, name, vs) for name, vs in values.items()))
        sending.add_done_callback(lambda _: phases.setdefault("published", time.monotonic() - started))

        # Kill when about a third is processed (publishing goes on while the worker is dead).
        at_kill = await asyncio.to_thread(kill_when_processed, worker, total / 3)
        killed_ms = int(time.time() * 1000)
        resume_from = await committed(kafka_settings, f"{namespace}{INGEST_GROUP}", set(values))
        phases["killed"] = time.monotonic() - started
        assert await sending == [PER_TOPIC] * len(feeds)
        assert at_kill < total, "killed mid-stream"

        second = Worker("ingest", env, log, free_port()).start()
        await asyncio.to_thread(second.wait_ready)
        phases["restarted"] = time.monotonic() - started
        all_ids = {f"e{i:06d}" for i in range(total)}
        async with UpdatesReader(kafka_settings, ns.topic(UPDATES.name)) as updates:
            await updates.until(lambda: all_ids <= updates.ids.keys(), timeout=60, on_timeout=second.tail)
            phases["all in"] = time.monotonic() - started
            # Run 2 counts a batch once its outputs are acknowledged: wait until its count matches its outputs.
            deadline = time.monotonic() + 20
            while True:
                new = await updates.read()
                accepted2 = await metric(second, "accepted")
                after_kill = sum(1 for s in updates.stamps.values() for t in s if t >= killed_ms)
                if not new and accepted2 == after_kill:
                    break
                assert time.monotonic() < deadline, f"{accepted2} accepted, {after_kill} published\n{second.tail()}"
            duplicate2 = await metric(second, "duplicate")
            before_kill = sum(1 for s in updates.stamps.values() for t in s if t < killed_ms)
            twice = [i for i, n in updates.ids.items() if n == 2]
            assert set(updates.ids) == all_ids, "no event lost, nothing else"
            assert max(updates.ids.values()) <= 2, "an event is re-sent at most once after a crash"
            for i in twice:
                early, late = sorted(updates.stamps[i])
                assert early < killed_ms <= late, "the copies come from the two runs"
            # Run 2 accepts what run 1 never published plus what it published without remembering it.
            assert accepted2 == total - before_kill + len(twice)
            assert await metric(second, "rejected") == 0
            # Run 2 went on from run 1's committed offsets, which never passed what run 1 had published.
            assert resume_from <= before_kill, "offsets are committed only after the outputs are acknowledged"
            assert accepted2 + duplicate2 == total - resume_from
            replayed = duplicate2 + len(twice)
            assert replayed == before_kill - resume_from
            # Both runs' counts cover every event. Run 1's is its last scrape, at most a batch before the kill
            # (a batch can end, and be committed, between that scrape and the kill).
            assert at_kill <= before_kill
            assert at_kill + BATCH + accepted2 + duplicate2 >= total
            print(
                f"\nkilled at {at_kill:.0f}/{total} processed ({before_kill} updates published by then, "
                f"offsets committed up to {resume_from}); "
                f"replayed after restart: {replayed:.0f} ({duplicate2:.0f} dropped by the dedupe state, "
                f"{len(twice)} published twice); at {', '.join(f'{k} {v:.1f}s' for k, v in phases.items())}"
            )

            # The same events published again are all duplicates now: nothing new on indicator.updates.
            first_feed = feeds[0].name
            await publish(kafka_settings, first_feed, values[first_feed][:1000])
            deadline = time.monotonic() + 30
            while await metric(second, "duplicate") < duplicate2 + 1000:
                assert time.monotonic() < deadline, second.tail()
                await asyncio.sleep(0.2)
            assert await metric(second, "duplicate") == duplicate2 + 1000
            assert await metric(second, "accepted") == accepted2
            read = 0
            while n := await updates.read(timeout_ms=1000):
                read += n
            assert read == 0 and max(updates.ids.values()) <= 2
    finally:
        worker.kill()
        if second is not None:
            second.stop()


async def test_two_replicas_through_rebalances_lose_nothing_and_never_crash(
    kafka_settings: KafkaSettings, unique: str, tmp_path: Path
) -> None:
    """A second replica joins mid-stream and the first one leaves: partitions move twice while batches are in
    flight. Every event reaches indicator.updates (at most twice: a batch whose commit the rebalance refused is
    read again by the new owner), and neither worker fails on a partition it no longer owns."""
    namespace = f"t{unique}."
    ns = KafkaSettings(bootstrap_servers=kafka_settings.bootstrap_servers, namespace=namespace)
    feeds = (TopicSpec(f"feed.{unique}-a", 2), TopicSpec(f"feed.{unique}-b", 2), TopicSpec(f"feed.{unique}-c", 1))
    await ensure_topics(ns, (UPDATES, DLQ))
    await ensure_topics(kafka_settings, feeds)
    env = {
        "TIENDO_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "TIENDO_NAMESPACE": namespace,
        "TIENDO_TOPIC_PATTERN": rf"feed\.{unique}-.*",
        "TIENDO_DATA_DIR": str(tmp_path / "state"),
        "TIENDO_METADATA_MAX_AGE_MS": "2000",
        "TIENDO_BATCH_SIZE": str(BATCH),
        "TIENDO_SESSION_TIMEOUT_S": "6",
    }
    first = Worker("ingest", env, tmp_path / "ingest-1.log", free_port()).start()
    second = Worker("ingest", env, tmp_path / "ingest-2.log", free_port())
    try:
        await asyncio.to_thread(first.wait_ready)
        total = 6000 * len(feeds)
        values = {spec.name: [event(i) for i in range(k, total, len(feeds))] for k, spec in enumerate(feeds)}

        async def publish_part(part: slice) -> None:
            await asyncio.gather(*(publish(kafka_settings, name, vs[part]) for name, vs in values.items()))

        async def until(check, what: str, worker: Worker, timeout: float = 60) -> None:
            deadline = time.monotonic() + timeout
            while not await check():
                assert time.monotonic() < deadline, f"{what}\n{worker.tail()}"
                await asyncio.sleep(0.1)

        await publish_part(slice(0, 3000))
        await until(lambda: metric(first, "accepted"), "the first replica works", first)
        second.start()  # joins while the first one works: a rebalance with batches in flight
        await asyncio.to_thread(second.wait_ready)
        await publish_part(slice(3000, 4500))
        await until(lambda: metric(second, "accepted"), "the second replica gets partitions", second)
        assert first.stop() == 0, first.tail()  # leaves: its partitions go to the second after its session
        await publish_part(slice(4500, 6000))
        all_ids = {f"e{i:06d}" for i in range(total)}
        async with UpdatesReader(kafka_settings, ns.topic(UPDATES.name)) as updates:
            await updates.until(lambda: all_ids <= updates.ids.keys(), timeout=90, on_timeout=second.tail)
            assert set(updates.ids) == all_ids
            assert max(updates.ids.values()) <= 2
        assert second.proc is not None and second.proc.poll() is None, second.tail()
        for worker in (first, second):
            assert "batch_failed" not in worker.log.read_text(), worker.tail()
    finally:
        first.kill()
        second.stop()
