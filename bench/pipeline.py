"""End-to-end pipeline benchmark: feed topics → ``tiendo ingest`` → ``tiendo aggregate`` → ``indicator.totals``,
against the same job written three other ways (``bench/peers``: a raw aiokafka loop, plain per-event Faust agents,
Quix Streams), on the same broker and data.

For every input size (realistic feed events, ``bench.data.feed_events``, keyed by their indicator so that every
series stays in one partition) and partition count P, seven feed topics with P partitions are pre-loaded; each
run (own namespace, consumer groups and state folders) starts P processes of each worker (tiendo: P ingest + P
aggregate workers; a peer: P processes), its namespaced topics pre-created with P partitions
(``indicator.updates``, ``indicator.totals``, the aggregate's series changelog).

Progress is read the same way for every implementation: the offsets its consumer groups (those of its namespace)
have committed. Events processed end to end = feed events committed × the share of ``indicator.updates`` the
aggregating stage has committed (all of it for the one-loop raw pipeline, which has no internal topic). A run
ends when everything is processed (events/s = events / (last total's append time − the run's first output's
append time)) or ``budget`` seconds after it first made progress (events/s = the progress between those two
reads / the time between them). CPU ms per event: CPU time of all its processes from the last read before the
first stage wrote or committed anything to the end ÷ the events processed end to end, and ÷ the feed events the first
stage took: the same when everything is processed; when the first stage runs ahead of the second, the cost of an
event lies between the two. RSS: the sum of their peaks. A process that exits during a run is a result too: the
run is reported as crashed with the last error line of its log, and the benchmark goes on.

Totals check: a run that processed everything, and every paced run, must end with the totals of an oracle (every
feed record through ``triage`` and ``apply_batch`` in one go): for every published key the latest total equals
the oracle's, updated time and source order aside (those depend on the order partitions are interleaved), and
every quarter with events is published.

Latency (one partition, ``rate`` events/s into processes that are already running, fresh feed topics per
implementation with the same events): for every feed event accepted after the warm-up, the append time of the
first unit total of its quarter whose ``updated_at`` (the broker timestamp of the last update applied, which
ingest takes from the feed record) is at or after the event's own broker timestamp, minus that timestamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord

from bench.common import (
    RawProcess,
    assigned,
    create_topics,
    end_offsets,
    free_port,
    log,
    median,
    percentile,
    publish,
    publish_paced,
    read_all,
    throughput,
    time_span,
)
from bench.data import feed_events
from bench.procstat import cpu_seconds, memory_mb
from bench.raw_ingest import raw_events
from services.aggregate.batches import rolled_units, total_message
from services.localkafka import LocalBroker
from shared import kafkaclients
from shared.aggregation import SeriesState, apply_batch, rollup
from shared.config import KafkaSettings
from shared.contracts import View, series_key, totals_key
from shared.normalise import triage
from shared.topics import DEDUPE, DLQ, TOTALS, UPDATES, TopicSpec, feed_topic
from tests.workers import Worker

IMPLS = {
    "tiendo": "`tiendo ingest` + `tiendo aggregate`",
    "raw": "raw aiokafka loop (`bench/peers/raw.py`)",
    "faust": "per-event Faust agents (`bench/peers/faust_naive.py`)",
    "quix": "Quix Streams 3.28 (`bench/peers/quix.py`)",
}
PEERS = {"raw": "bench.peers.raw", "faust": "bench.peers.faust_naive", "quix": "bench.peers.quix"}
#: The aggregate worker's series changelog (Faust table ``series``), co-partitioned with ``indicator.updates``.
SERIES_CHANGELOG = TopicSpec("tiendo-aggregate-series-changelog", UPDATES.partitions, {"cleanup.policy": "compact"})
STARTUP_S = 240.0


@dataclass(frozen=True)
class Feeds:
    """A set of feed topics (``feed.<prefix>-<office>``) and their partition count. Messages are keyed by their
    indicator: with several partitions, updates of one series stay in order (an unkeyed correction could overtake
    an earlier reading of another copy with the same date, and which one wins depends on that order)."""

    prefix: str
    topics: list[str]
    partitions: int

    @classmethod
    def create(cls, kafka: KafkaSettings, prefix: str, n: int, partitions: int, seed: int) -> tuple[Feeds, list]:
        """Create the seven feed topics of ``n`` events; return them and the (topic, key, value) messages."""
        messages = [(m.topic, _indicator(m.value), m.value) for m in feed_events(n, prefix, seed=seed)]
        topics = sorted({topic for topic, _, _ in messages})
        asyncio.run(create_topics(kafka, [feed_topic(t, partitions) for t in topics], namespaced=False))
        return cls(prefix, topics, partitions), messages


def _indicator(value: bytes) -> bytes | None:
    """A feed message's key: its indicator as written, so every event of a series (and every revision of an event)
    is in one partition, in order, whatever the partition count; None when there is none to read."""
    try:
        indicator = orjson.loads(value).get("indicator")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return indicator.encode() if isinstance(indicator, str) else None


@dataclass
class Deployment:
    """The processes of one implementation in one namespace."""

    impl: str
    ns: KafkaSettings
    feeds: list[str]
    staged: bool
    """Whether it writes ``indicator.updates`` (all but the one-loop raw pipeline)."""
    procs: list[Worker | RawProcess] = field(default_factory=list)

    def check(self) -> None:
        for p in self.procs:
            assert p.proc is not None
            if p.proc.poll() is not None:
                raise ProcessExitedError(self.impl, p.proc.returncode, p.tail())

    def cpu(self) -> float:
        return sum(cpu_seconds(p.proc.pid) for p in self.procs if p.proc)

    def peak_rss_mb(self) -> float:
        return round(sum(memory_mb(p.proc.pid).get("peak_rss_mb", 0) for p in self.procs if p.proc), 1)

    def stop(self) -> None:
        """SIGTERM to every process first (they shut down in parallel), then wait for each (SIGKILL if it hangs)."""
        for p in self.procs:
            if p.proc and p.proc.poll() is None:
                p.proc.terminate()
        for p in self.procs:
            p.stop()

    def tail(self) -> str:
        return "\n".join(p.tail(2000) for p in self.procs)


class ProcessExitedError(RuntimeError):
    """A process of the implementation under test exited; ``reason`` is the last error line of its log."""

    def __init__(self, impl: str, code: int, tail: str) -> None:
        lines = tail.splitlines() or ["(empty log)"]
        line = next((line for line in reversed(lines) if "Error" in line), lines[-1])
        self.reason = " ".join(re.sub(r"\\+n", " ", line.split("reason=", 1)[-1]).split())[:240]
        super().__init__(f"{impl}: a process exited with {code}:\n{tail}")


@dataclass(frozen=True)
class Progress:
    fed: int
    """Feed events committed by the first stage."""
    processed: float
    """Feed events processed end to end (estimated while the aggregating stage is behind)."""
    complete: bool
    produced: int = 0
    """Messages the first stage has written to ``indicator.updates``."""


class Watch:
    """Committed offsets of a namespace's consumer groups and the end of its ``indicator.updates``."""

    def __init__(self, deployment: Deployment, expect: int) -> None:
        self.d, self.expect = deployment, expect
        self.updates = deployment.ns.topic(UPDATES.name)

    async def __aenter__(self) -> Watch:
        self.stack = contextlib.AsyncExitStack()
        self.admin = kafkaclients.admin(self.d.ns)
        await self.admin.start()
        self.stack.push_async_callback(self.admin.close)
        self.consumer, self.tps = await self.stack.enter_async_context(assigned(self.d.ns, [self.updates]))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stack.aclose()

    async def read(self) -> Progress:
        done: Counter[str] = Counter()
        for group, _ in await self.admin.list_consumer_groups():
            if group.startswith(self.d.ns.namespace):
                for tp, meta in (await self.admin.list_consumer_group_offsets(group)).items():
                    done[tp.topic] += max(0, meta.offset)
        fed = sum(done[t] for t in self.d.feeds)
        if not self.d.staged:
            return Progress(fed, fed, fed >= self.expect)
        produced = sum((await self.consumer.end_offsets(self.tps)).values())
        consumed = min(done[self.updates], produced)
        processed = fed * consumed / produced if produced else 0.0
        return Progress(fed, processed, fed >= self.expect and consumed == produced, produced)

    async def until(self, target: int, seconds: float) -> bool:
        """Wait until ``target`` feed events are processed end to end (True) or ``seconds`` have passed (False)."""
        deadline = time.monotonic() + seconds
        while not ((p := await self.read()).fed >= target and p.processed >= p.fed):
            self.d.check()
            if time.monotonic() > deadline:
                log.warning("%s: %s after %.0fs, waiting for %d", self.d.impl, p, seconds, target)
                return False
            await asyncio.sleep(0.5)
        return True


async def drive(deployment: Deployment, expect: int, budget: float) -> dict[str, Any]:
    """Poll until everything is processed or ``budget`` seconds after the first progress; CPU, RSS, progress."""
    started = time.monotonic()
    async with Watch(deployment, expect) as watch:
        idle_cpu = deployment.cpu()  # at the last read before the first stage had written or committed anything
        first: tuple[float, float] | None = None  # (time, processed) at the first progress end to end
        while True:
            deployment.check()
            p = await watch.read()
            now, cpu = time.time(), deployment.cpu()
            if p.fed == 0 and p.produced == 0:
                idle_cpu = cpu
            if first is None and p.processed > 0:
                first = (now, p.processed)
            if p.complete or (first is not None and now - first[0] > budget):
                break
            if first is None and time.monotonic() - started > STARTUP_S:
                raise TimeoutError(f"{deployment.impl} made no progress in {STARTUP_S:.0f}s")
            await asyncio.sleep(0.5)
    assert first is not None
    window, busy_ms = now - first[0], (cpu - idle_cpu) * 1000
    return {
        "complete": p.complete,
        "processed": round(p.processed),
        "fed": p.fed,
        "stopped_at": now,
        "window_s": round(window, 3),
        "steady_per_s": round((p.processed - first[1]) / window, 1) if window > 0 else None,
        "cpu_ms_per_event": round(busy_ms / p.processed, 3),
        "cpu_ms_per_fed_event": round(busy_ms / p.fed, 3),
        "peak_rss_mb": deployment.peak_rss_mb(),
    }


# --- the oracle -------------------------------------------------------------------------------------------------


@dataclass
class Oracle:
    """Every feed record through ``triage`` and ``apply_batch`` in one go: the totals any run must end with."""

    states: dict[str, SeriesState]
    accepted: list[tuple[bytes, int, str, int]]
    """(unit total key, received ms, feed topic, feed offset) of every accepted event, in feed order."""

    @classmethod
    def of(cls, records: list[ConsumerRecord]) -> Oracle:
        records = sorted(records, key=lambda r: (r.topic, r.partition, r.offset))
        triaged = triage(raw_events(records), lambda _identity: None)
        states: dict[str, SeriesState] = {}
        apply_batch(states, [u for _, u, _ in triaged.accepted], lambda _key: None)
        accepted = [
            (totals_key(View.UNIT, u.unit, u.indicator, u.year, u.quarter), records[i].timestamp, u.origin.topic,
             u.origin.offset)
            for i, u, _ in triaged.accepted
        ]  # fmt: skip
        return cls(states, accepted)

    def expected(self) -> Iterator[tuple[bytes, dict[str, Any]]]:
        """Every unit quarter and every current-view total the final states give."""
        for state in self.states.values():
            for quarter in (1, 2, 3, 4):
                key, value = total_message(View.UNIT, state.quarter_total(quarter))
                yield key, orjson.loads(value)
        for current_code, indicator, year in {(s.current_code, s.indicator, s.year) for s in self.states.values()}:
            parts = [
                total
                for unit in rolled_units(current_code)
                if (state := self.states.get(series_key(unit, indicator, year)))
                for total in state.totals()
            ]
            for total in rollup(parts, current_code):
                key, value = total_message(View.CURRENT, total)
                yield key, orjson.loads(value)

    def check(self, totals: list[ConsumerRecord]) -> dict[str, Any]:
        """Compare a run's latest totals with the oracle's (updated time and source order aside)."""
        expected = dict(self.expected())
        latest = {r.key: orjson.loads(r.value) for r in sorted(totals, key=lambda r: (r.partition, r.offset))}
        wrong = [k for k, v in latest.items() if _figures(v) != _figures(expected.get(k))]
        missing = [k for k, v in expected.items() if v["events"] and k not in latest]
        return {
            "keys": len(latest),
            "wrong": len(wrong),
            "missing": len(missing),
            "same_updated_at": sum(1 for k, v in latest.items() if v == expected.get(k)),
            "match": not wrong and not missing,
            "examples": [k.decode() for k in (wrong + missing)[:3]],
        }


def _figures(total: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if total is None else {**total, "updated_at": None, "sources": sorted(total["sources"])}


# --- the benchmark ----------------------------------------------------------------------------------------------


class PipelineBench:
    """Every (size, partitions) configuration with ``repeat`` interleaved runs of each implementation, then the
    paced latency runs, all on one broker."""

    def __init__(
        self, broker: LocalBroker, workdir: Path, *, sizes: list[int], partitions: list[int], repeat: int,
        budget: float, worker_env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.kafka = KafkaSettings(bootstrap_servers=broker.bootstrap)
        self.workdir, self.sizes, self.partitions, self.repeat, self.budget = workdir, sizes, partitions, repeat, budget
        self.worker_env = worker_env or {}
        self.run_id = uuid.uuid4().hex[:6]
        self.oracles: dict[str, Oracle] = {}

    # --- deployments --------------------------------------------------------------------------------------------

    def deploy(self, impl: str, label: str, feeds: Feeds) -> Deployment:
        """Pre-create the run's namespaced topics with the feeds' partition count and start ``impl``'s processes."""
        ns = KafkaSettings(bootstrap_servers=self.kafka.bootstrap_servers, namespace=f"b{self.run_id}{label}.")
        partitions = feeds.partitions
        specs = [replace(UPDATES, partitions=partitions), DLQ, replace(TOTALS, partitions=partitions)]
        if impl == "tiendo":
            specs += [DEDUPE, replace(SERIES_CHANGELOG, partitions=partitions)]
        asyncio.run(create_topics(ns, specs))
        d = Deployment(impl, ns, feeds.topics, staged=impl != "raw" or partitions > 1)
        for i in range(partitions):
            if impl == "tiendo":
                d.procs += [
                    self._worker(command, ns, feeds.prefix, f"{label}-{command}{i}")
                    for command in ("ingest", "aggregate")
                ]
            else:
                d.procs.append(self._peer(impl, ns, feeds, i, f"{label}-{i}"))
        return d

    def _worker(self, command: str, ns: KafkaSettings, prefix: str, label: str) -> Worker:
        env = {
            "TIENDO_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "TIENDO_NAMESPACE": ns.namespace,
            "TIENDO_TOPIC_PATTERN": rf"feed\.{prefix}-.*",
            "TIENDO_DATA_DIR": str(self.workdir / f"state-{label}"),
            "TIENDO_METADATA_MAX_AGE_MS": "2000",
            "TIENDO_LOG_LEVEL": "INFO",
            **self.worker_env,
        }
        return Worker(command, env, self.workdir / f"{label}.log", free_port()).start()

    def _peer(self, impl: str, ns: KafkaSettings, feeds: Feeds, index: int, label: str) -> RawProcess:
        config = {
            "bootstrap": self.kafka.bootstrap_servers,
            "namespace": ns.namespace,
            "feeds": feeds.topics,
            "partitions": feeds.partitions,
            "index": index,
            "data_dir": str(self.workdir / f"state-{label}"),
            "web_port": free_port(),
        }
        path = self.workdir / f"{label}.config.json"
        path.write_bytes(orjson.dumps(config))
        return RawProcess(PEERS[impl], path, self.workdir / f"{label}.out", self.workdir / f"{label}.log").start()

    def _oracle(self, feeds: Feeds) -> Oracle:
        name = feeds.prefix
        if name not in self.oracles:
            t = time.monotonic()
            self.oracles[name] = Oracle.of(asyncio.run(read_all(self.kafka, feeds.topics)))
            log.info("pipeline: oracle of %s in %.1fs", name, time.monotonic() - t)
        return self.oracles[name]

    def _totals(self, ns: KafkaSettings) -> list[ConsumerRecord]:
        return asyncio.run(read_all(ns, [ns.topic(TOTALS.name)]))

    # --- one throughput run -------------------------------------------------------------------------------------

    def run_one(self, impl: str, size: int, rep: int, feeds: Feeds) -> dict[str, Any]:
        label = f"{impl[0]}{size // 1000}k{feeds.partitions}p{rep}"
        started = time.time()
        d = self.deploy(impl, label, feeds)
        head = {"impl": impl, "size": size, "partitions": feeds.partitions, "repeat": rep, "namespace": d.ns.namespace}
        try:
            run = asyncio.run(drive(d, size, self.budget))
        except ProcessExitedError as exc:  # a result too: reported as such, the benchmark goes on
            log.error(
                "pipeline %s %d events %dp #%d: a process exited: %s", impl, size, feeds.partitions, rep, exc.reason
            )
            return {**head, "error": exc.reason, "per_s": None, "cpu_ms_per_event": None, "peak_rss_mb": None}
        finally:
            d.stop()
        ns = d.ns
        outputs = asyncio.run(time_span(ns, [ns.topic(t.name) for t in (UPDATES, DLQ, TOTALS)]))
        totals = asyncio.run(time_span(ns, [ns.topic(TOTALS.name)]))
        if outputs is None or totals is None:
            raise RuntimeError(f"{impl}: no totals in {ns.namespace}")
        first, last = outputs[0], totals[1]
        if run["complete"]:
            rate = throughput(run["processed"], first, last, 1)
        else:
            rate = {"seconds": run["window_s"], "per_s": run["steady_per_s"], "first_output": first,
                    "end": run["stopped_at"]}  # fmt: skip
        return {
            **head,
            "processes": len(d.procs),
            **rate,
            **run,
            "totals": totals[2],
            "first_output_after_start_s": round(first - started, 1),
            "check": self._oracle(feeds).check(self._totals(ns)) if run["complete"] else None,
        }

    def preload(self, size: int, partitions: int) -> Feeds:
        """The feed topics of one configuration with their ``size`` events (not kept in memory afterwards)."""
        feeds, messages = Feeds.create(
            self.kafka, f"b{self.run_id}n{size // 1000}k{partitions}p", size, partitions, 2024
        )
        t = time.monotonic()
        asyncio.run(publish(self.kafka, messages))
        log.info("pipeline: %d feed events pre-loaded (%d partitions) in %.1fs", size, partitions, time.monotonic() - t)
        return feeds

    def run_config(self, size: int, partitions: int) -> dict[str, Any]:
        feeds = self.preload(size, partitions)
        runs = []
        impls = tuple(IMPLS)
        for rep in range(self.repeat):
            for impl in impls if rep % 2 == 0 else tuple(reversed(impls)):
                result = self.run_one(impl, size, rep, feeds)
                runs.append(result)
                if "error" in result:
                    continue
                log.info(
                    "pipeline %s %d events %dp #%d: %s events/s, %s ms CPU/event, %s MB (%d events%s in %.1fs)%s",
                    impl, size, partitions, rep, result["per_s"], result["cpu_ms_per_event"], result["peak_rss_mb"],
                    result["processed"], "" if result["complete"] else " (budget reached)", result["seconds"],
                    f"; totals check {result['check']}" if result["check"] else "",
                )  # fmt: skip
        return {"size": size, "partitions": partitions, "runs": runs, **summarise(runs)}

    # --- paced latency ------------------------------------------------------------------------------------------

    def run_paced(self, impl: str, rate: float, seconds: float, warm: int = 500) -> dict[str, Any]:
        n = warm + int(rate * seconds)
        feeds, messages = Feeds.create(self.kafka, f"b{self.run_id}p{impl[0]}", n, 1, seed=99)
        d = self.deploy(impl, f"p{impl[0]}", feeds)
        try:
            asyncio.run(publish(self.kafka, messages[:warm]))
            if not asyncio.run(self._wait(d, warm, STARTUP_S)):
                raise TimeoutError(f"{impl}: the warm-up events were not processed in {STARTUP_S:.0f}s:\n{d.tail()}")
            after = {tp.topic: offset for tp, offset in asyncio.run(end_offsets(self.kafka, feeds.topics)).items()}
            achieved = asyncio.run(publish_paced(self.kafka, messages[warm:], rate))
            # An implementation slower than the rate falls behind: its latencies are those of what it processed.
            complete = asyncio.run(self._wait(d, n, 60 + seconds * 3))
        finally:
            d.stop()
        oracle = Oracle.of(asyncio.run(read_all(self.kafka, feeds.topics)))
        totals = self._totals(d.ns)
        latencies = event_to_total(oracle, totals, after)
        return {
            "impl": impl,
            "namespace": d.ns.namespace,
            "rate": rate,
            "achieved_rate": round(achieved, 1),
            "events": n - warm,
            "accepted": sum(1 for _, _, topic, offset in oracle.accepted if offset >= after[topic]),
            "matched": len(latencies),
            "p50_s": percentile(latencies, 50),
            "p99_s": percentile(latencies, 99),
            "max_s": max(latencies, default=None),
            "complete": complete,
            "check": oracle.check(totals) if complete else None,
        }

    @staticmethod
    async def _wait(d: Deployment, target: int, seconds: float) -> bool:
        async with Watch(d, target) as watch:
            return await watch.until(target, seconds)

    # --- the whole benchmark ------------------------------------------------------------------------------------

    def run(self, rate: float | None, paced_seconds: float) -> dict[str, Any]:
        """Every (size, partitions) configuration, then the paced latency runs (``rate`` by default: half tiendo's
        median in the first configuration)."""
        configs = [self.run_config(size, partitions) for partitions in self.partitions for size in self.sizes]
        headline = configs[0]["median_per_s"].get("tiendo")
        if rate is None:
            rate = float(min(5000, int((headline or 1000) * 0.5 / 100) * 100 or 100))
        paced = []
        for impl in IMPLS:
            result = self.run_paced(impl, rate, paced_seconds)
            log.info("pipeline paced %s at %s/s: p50 %s s, p99 %s s; totals check %s", impl, rate, result["p50_s"],
                     result["p99_s"], result["check"])  # fmt: skip
            paced.append(result)
        return {"budget_s": self.budget, "repeat": self.repeat, "labels": IMPLS, "configs": configs, "paced": paced}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per implementation and each one's ratios to tiendo; tiendo's ratios to the raw loop and Quix."""
    per_s = {i: median(r["per_s"] for r in runs if r["impl"] == i) for i in IMPLS}
    cpu = {i: median(r["cpu_ms_per_event"] for r in runs if r["impl"] == i) for i in IMPLS}
    cpu_fed = {i: median(r.get("cpu_ms_per_fed_event") for r in runs if r["impl"] == i) for i in IMPLS}
    rss = {i: median(r["peak_rss_mb"] for r in runs if r["impl"] == i) for i in IMPLS}

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None

    return {
        "median_per_s": per_s,
        "median_cpu_ms_per_event": cpu,
        "median_cpu_ms_per_fed_event": cpu_fed,
        "median_peak_rss_mb": rss,
        "to_tiendo": {
            i: {
                "per_s": ratio(per_s[i], per_s["tiendo"]),
                "cpu": ratio(cpu[i], cpu["tiendo"]),
                "rss": ratio(rss[i], rss["tiendo"]),
            }
            for i in IMPLS
        },
        "tiendo_to_raw": ratio(per_s["tiendo"], per_s["raw"]),
        "tiendo_to_quix": ratio(per_s["tiendo"], per_s["quix"]),
    }


def event_to_total(oracle: Oracle, totals: list[ConsumerRecord], after: dict[str, int]) -> list[float]:
    """Per accepted event past the warm-up offsets ``after``: the append time of the first unit total of its
    quarter that includes it (``updated_at`` at or after the event's broker timestamp) − that timestamp."""
    published: dict[bytes, list[tuple[int, int]]] = defaultdict(list)  # key → [(updated_at ms, appended ms)]
    for r in sorted(totals, key=lambda r: (r.partition, r.offset)):
        if r.key.startswith(b"unit/"):
            updated = orjson.loads(r.value)["updated_at"]
            if updated is not None:
                published[r.key].append((_ms(updated), r.timestamp))
    out = []
    for key, received, topic, offset in oracle.accepted:
        if offset < after[topic]:
            continue
        found = next((appended for updated, appended in published.get(key, ()) if updated >= received), None)
        if found is not None:
            out.append((found - received) / 1000)
    return out


def _ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)
