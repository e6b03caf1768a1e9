"""What every benchmark shares: its own broker, topics with broker timestamps, publishing, reading, metrics, RSS."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.structs import ConsumerRecord
from prometheus_client.parser import text_string_to_metric_families

from bench.procstat import cpu_seconds, memory_mb
from services.localkafka import LocalBroker
from services.processes import ROOT, Process
from shared import kafkaclients
from shared.config import KafkaSettings
from shared.topics import TopicSpec
from tests.workers import Worker

log = logging.getLogger("bench")

#: Topic config that makes the broker stamp each message when it appends it (the time its producer is acked).
LOG_APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the machine ------------------------------------------------------------------------------------------------


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def machine() -> dict[str, Any]:
    """nproc, CPU model, memory and the versions that matter for the figures."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    meminfo = Path("/proc/meminfo").read_text()
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo)[1])  # type: ignore[index]
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "faust_streaming": importlib.metadata.version("faust-streaming"),
        "quixstreams": _version("quixstreams"),
        "aiokafka": importlib.metadata.version("aiokafka"),
        "kafka": LocalBroker().version(),
        "java": _java_version(),
    }


def code_version() -> dict[str, Any]:
    """The commit the workers run from, and whether their code differs from it (the tree is shared and edited)."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=30)
        return out.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "services", "shared")),
    }


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _java_version() -> str:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = (out.stderr or out.stdout).splitlines()
    return first[0] if first else "unknown"


# --- statistics -------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of values (q in 0-100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def histogram_quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """Prometheus ``histogram_quantile``: cumulative (upper bound, count) buckets, linear within a bucket."""
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * ((rank - below) / (count - below) if count > below else 0)
        lower, below = upper, count
    return lower


def metric_samples(worker: Worker) -> list[Any]:
    _, body = worker.get("/metrics", timeout=30)
    return [s for family in text_string_to_metric_families(body.decode()) for s in family.samples]


def histogram(samples: list[Any], name: str) -> list[tuple[float, float]]:
    buckets = [(float(s.labels["le"]), s.value) for s in samples if s.name == f"{name}_bucket"]
    return sorted(buckets)


def metric_sum(samples: list[Any], name: str) -> float:
    return sum(s.value for s in samples if s.name == name)


def latency_from_histogram(samples: list[Any], name: str) -> dict[str, float | None]:
    buckets = histogram(samples, name)
    return {
        "p50_s": histogram_quantile(buckets, 0.5),
        "p99_s": histogram_quantile(buckets, 0.99),
        "count": buckets[-1][1] if buckets else 0,
    }


# --- the broker -------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def own_broker(keep: bool = False) -> Iterator[LocalBroker]:
    """A fresh single-node broker (KRaft, 1 GB heap) in a temporary folder on free ports, stopped and deleted after."""
    home = Path(tempfile.mkdtemp(prefix="tiendo-bench-kafka-"))
    broker = LocalBroker(home=home, port=free_port(), controller_port=free_port(), heap="1g")
    started = time.monotonic()
    broker.start()
    log.info("broker %s up in %.1fs (%s)", broker.bootstrap, time.monotonic() - started, home)
    try:
        yield broker
    finally:
        broker.stop()
        if not keep:
            shutil.rmtree(home, ignore_errors=True)


async def create_topics(settings: KafkaSettings, specs: Iterable[TopicSpec], *, namespaced: bool = True) -> None:
    """Create topics (failing if one exists) with broker-append timestamps added to their configs."""
    admin = kafkaclients.admin(settings)
    await admin.start()
    try:
        name = settings.topic if namespaced else (lambda n: n)
        new = [NewTopic(name(s.name), s.partitions, 1, topic_configs={**s.config, **LOG_APPEND_TIME}) for s in specs]
        response = await admin.create_topics(new)
        failed = [(n, code, msg) for n, code, msg, *_ in response.topic_errors if code != 0]
        if failed:
            raise RuntimeError(f"creating topics failed: {failed}")
    finally:
        await admin.close()


def producer(settings: KafkaSettings, **kwargs: Any) -> AIOKafkaProducer:
    """The bench's publisher: tiendo's producer with larger batches (it publishes whole streams at once)."""
    return kafkaclients.producer(settings, "bench-publish", **{"linger_ms": 20, "max_batch_size": 512 * 1024, **kwargs})


async def publish(settings: KafkaSettings, messages: Iterable[tuple[str, bytes | None, bytes]]) -> int:
    """Publish (topic, key, value) messages in order, as fast as the producer goes; return the count."""
    p = producer(settings)
    await p.start()
    try:
        n, chunk = 0, []
        for message in messages:
            chunk.append(message)
            if len(chunk) >= 20_000:
                n += len(await kafkaclients.send_all(p, chunk))
                chunk = []
        return n + len(await kafkaclients.send_all(p, chunk))
    finally:
        await p.stop()


async def publish_paced(
    settings: KafkaSettings, messages: Sequence[tuple[str, bytes | None, bytes]], rate: float, tick: float = 0.01
) -> float:
    """Publish at ``rate`` messages per second, a slice every ``tick`` seconds; return the rate achieved."""
    p = producer(settings, linger_ms=0)
    await p.start()
    try:
        started = time.monotonic()
        sent = 0
        pending = []
        while sent < len(messages):
            due = min(len(messages), int((time.monotonic() - started) * rate) + 1)
            for topic, key, value in messages[sent:due]:
                pending.append(await p.send(topic, value, key=key))
            sent = max(sent, due)
            if len(pending) > 5000:
                await asyncio.gather(*pending)
                pending.clear()
            await asyncio.sleep(tick)
        await asyncio.gather(*pending)
        return len(messages) / (time.monotonic() - started)
    finally:
        await p.stop()


@contextlib.asynccontextmanager
async def assigned(settings: KafkaSettings, topics: Sequence[str]) -> AsyncIterator[tuple[AIOKafkaConsumer, list]]:
    """A group-less consumer assigned every partition of the topics."""
    consumer = kafkaclients.consumer(settings, "bench-reader", max_partition_fetch_bytes=8 * 1024 * 1024)
    consumer.subscribe(list(topics))
    await consumer.start()  # subscribing fetches the topics' metadata
    try:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.unsubscribe()
        if not tps:
            raise RuntimeError(f"no partitions found for {topics}")
        consumer.assign(tps)
        yield consumer, tps
    finally:
        await consumer.stop()


async def end_offsets(settings: KafkaSettings, topics: Sequence[str]) -> dict[TopicPartition, int]:
    async with assigned(settings, topics) as (consumer, tps):
        return await consumer.end_offsets(tps)


async def read_all(settings: KafkaSettings, topics: Sequence[str]) -> list[ConsumerRecord]:
    """Every record of the topics, from the beginning to their end offsets now."""
    async with assigned(settings, topics) as (consumer, tps):
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[ConsumerRecord] = []
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            for batch in (await consumer.getmany(timeout_ms=1000, max_records=20_000)).values():
                records.extend(r for r in batch if r.offset < end[TopicPartition(r.topic, r.partition)])
        return records


async def time_span(settings: KafkaSettings, topics: Sequence[str]) -> tuple[float, float, int] | None:
    """(earliest, latest) broker append time in seconds over the topics, and their offset count: the first and
    last record of every partition (append times never go back within a partition)."""
    async with assigned(settings, topics) as (consumer, tps):
        begin = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        stamps: list[int] = []
        for tp in tps:
            if end[tp] <= begin[tp]:
                continue
            consumer.seek(tp, begin[tp])
            found = await consumer.getmany(tp, timeout_ms=10_000, max_records=1)
            stamps.extend(r.timestamp for r in found.get(tp, []))
            # The last record: the tail's last (a transactional producer's commit markers take the last offsets).
            consumer.seek(tp, max(begin[tp], end[tp] - 100))
            found = await consumer.getmany(tp, timeout_ms=10_000, max_records=100)
            stamps.extend(r.timestamp for r in found.get(tp, [])[-1:])
        count = sum(end[tp] - begin[tp] for tp in tps)
        return (min(stamps) / 1000, max(stamps) / 1000, count) if stamps else None


# --- processes --------------------------------------------------------------------------------------------------


class RawProcess(Process):
    """A raw loop (``python -m bench.<module> config.json``) as a subprocess; its stats are JSON in ``out``."""

    def __init__(self, module: str, config: Path, out: Path, log: Path) -> None:
        super().__init__(module, [sys.executable, "-m", module, str(config)], log)
        self.out = out


class Profiler:
    """``py-spy record`` on a process for a while, if py-spy is installed (speedscope and flat top)."""

    def __init__(self, pid: int, out: Path, seconds: float) -> None:
        self.pid, self.out, self.seconds = pid, out, seconds
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def available() -> str | None:
        return shutil.which("py-spy") or (str(p) if (p := Path(sys.executable).parent / "py-spy").exists() else None)

    def start(self) -> Profiler:
        exe = self.available()
        if exe is None:
            log.warning("py-spy not installed: no profile (pip install py-spy)")
            return self
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(self.pid), "--duration", str(int(self.seconds)), "--rate", "200",
             "--format", "raw", "--output", str(self.out), "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        return self

    def wait(self) -> Path | None:
        if self.proc is None:
            return None
        try:
            _, err = self.proc.communicate(timeout=self.seconds + 60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None
        if self.proc.returncode != 0 or not self.out.exists():
            log.warning("py-spy failed: %s", err.decode(errors="replace")[-500:])
            return None
        return self.out


async def committed(settings: KafkaSettings, group: str) -> int:
    """Sum of the offsets a consumer group has committed (0 before its first commit)."""
    admin = kafkaclients.admin(settings)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return sum(max(0, o.offset) for o in offsets.values())
    except Exception:  # the group's coordinator may not be known yet
        return 0
    finally:
        await admin.close()


def wait_committed(
    settings: KafkaSettings, group: str, target: int, *, timeout: float, alive: Callable[[], bool], tail: Callable = str
) -> float:
    """Block until ``group`` has committed ``target`` offsets in total; return the time it was seen (Unix)."""
    deadline = time.monotonic() + timeout
    while True:
        if asyncio.run(committed(settings, group)) >= target:
            return time.time()
        if not alive():
            raise RuntimeError(f"{group}: the consumer exited before committing {target}\n{tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{group}: fewer than {target} offsets committed in {timeout:.0f}s\n{tail()}")
        time.sleep(1.0)


def drive_worker(
    worker: Worker, processed_metric: str, target: int, budget: float, startup: float = 240
) -> dict[str, Any]:
    """Poll a worker's ``processed_metric`` until it reaches ``target`` or ``budget`` seconds have passed since it
    first moved. Returns when it stopped (Unix time), what it had processed, its metrics then and its CPU time per
    event between the first poll that saw progress and the last."""
    assert worker.proc is not None
    pid = worker.proc.pid
    started = time.monotonic()
    first: tuple[float, float, float] | None = None  # (time, cpu, processed) when progress was first seen
    while True:
        if worker.proc.poll() is not None:
            raise RuntimeError(f"{worker.command} exited with {worker.proc.returncode}:\n{worker.tail()}")
        try:
            samples = metric_samples(worker)
        except OSError:  # HTTP server not up yet
            samples = []
        processed = metric_sum(samples, processed_metric)
        now = time.time()
        if processed > 0 and first is None:
            first = (now, cpu_seconds(pid), processed)
        if processed >= target or (first is not None and now - first[0] > budget):
            break
        if first is None and time.monotonic() - started > startup:
            raise TimeoutError(f"{worker.command} made no progress in {startup:.0f}s:\n{worker.tail()}")
        time.sleep(0.5)
    cpu = cpu_seconds(pid)
    assert first is not None
    return {
        "complete": processed >= target,
        "processed": processed,
        "stopped_at": now,
        "samples": samples,
        "cpu_ms_per_event": round((cpu - first[1]) * 1000 / (processed - first[2]), 3)
        if processed > first[2]
        else None,
        "cpu_s": round(cpu, 1),
        **memory_mb(pid),
    }


def throughput(processed: float, first_output: float, end: float, batches: float) -> dict[str, Any]:
    """Events/s from the first output to ``end``; the time before the first output (the first batch) is added as
    one average batch: elapsed = (end - first_output) * nb / (nb - 1)."""
    span = end - first_output
    seconds = span * (batches / (batches - 1)) if batches > 1 else span
    return {
        "seconds": round(seconds, 3),
        "per_s": round(processed / seconds, 1) if seconds > 0 else None,
        "first_output": first_output,
        "end": end,
        "batches": batches,
    }
