"""End-to-end pipeline benchmark: feed topics → ``tiendo ingest`` → ``tiendo aggregate`` → ``indicator.totals``,
against the same job written three other ways (``bench/peers``: a raw aiokafka loop, Faust agents and tables,
Quix Streams), on the same broker and data.

For every input size (realistic feed events, ``bench.data.feed_events``, keyed by their indicator so that every
series stays in one partition) and partition count P, seven feed topics with P partitions are pre-loaded; each
run (own namespace, consumer groups and state folders) starts P processes of each worker (tiendo: P ingest + P
aggregate workers; a peer: P processes), its namespaced topics pre-created with P partitions
(``indicator.updates``, ``indicator.totals``, the aggregate's series changelog).

Progress is read the same way for every implementation: the offsets its consumer groups (those of its namespace)
have committed. Events processed end to end = feed events committed × the share of ``indicator.updates`` the
aggregating stage has committed (all of it for the one-loop raw pipeline, which has no internal topic). Every run
is complete: it goes on until every feed event is processed end to end (or ``timeout`` seconds: then it is
reported as not finished, with no rate). Its time runs from its first output's broker append time (its first
input batch read and processed) to its last total's, so a first stage running ahead of the second cannot distort
it; events/s = feed events ÷ that time, given only for a run whose final totals equal the oracle's. CPU ms per
event: CPU time of all its processes from the last read before the first stage wrote or committed anything to the
end ÷ the feed events. RSS: the sum of their peaks. A process that exits during a run is a result too: the run is
reported as crashed with the last error line of its log, and the benchmark goes on.

Totals check: a run that processed everything, and every paced run, must end with the totals of an oracle (every
feed record through ``triage`` and ``apply_batch`` in one go): for every published key the latest total equals
the oracle's, updated time and source order aside (those depend on the order partitions are interleaved), and
every quarter with events is published.

Paced runs (one partition, processes already running, fresh feed topics per implementation with the same events):
steps of offered rates, each held for a while, with the lag (events offered − processed) read every second; the
sustainable rate is the highest step whose lag stays flat. Latency at the first step, the same rate for all: for
every feed event accepted in it, the append time of the first unit total of its quarter whose ``updated_at`` (the
broker timestamp of the last update applied, which ingest takes from the feed record) is at or after the event's
own broker timestamp, minus that timestamp.
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
from aiokafka import TopicPartition
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
from shared.updates import IndicatorUpdate, Retraction, moved_contributions
from tests.workers import Worker

IMPLS = {
    "tiendo": "`tiendo ingest` + `tiendo aggregate`",
    "raw": "raw aiokafka loop (`bench/peers/raw.py`)",
    "faust": "Faust agents and tables (`bench/peers/faust_agents.py`)",
    "quix": "Quix Streams 3.28 (`bench/peers/quix.py`)",
}
PEERS = {"raw": "bench.peers.raw", "faust": "bench.peers.faust_agents", "quix": "bench.peers.quix"}
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
        updates: Counter[TopicPartition] = Counter()
        for group, _ in await self.admin.list_consumer_groups():
            if group.startswith(self.d.ns.namespace):
                for tp, meta in (await self.admin.list_consumer_group_offsets(group)).items():
                    done[tp.topic] += max(0, meta.offset)
                    if tp.topic == self.updates:
                        updates[tp] += max(0, meta.offset)
        fed = sum(done[t] for t in self.d.feeds)
        if not self.d.staged:
            return Progress(fed, fed, fed >= self.expect)
        end = await self.consumer.end_offsets(self.tps)
        produced = sum(end.values())
        consumed = min(done[self.updates], produced)
        processed = fed * consumed / produced if produced else 0.0
        complete = fed >= self.expect and await self._caught_up(updates, end)
        return Progress(fed, processed if not complete else float(fed), complete, produced)

    async def _caught_up(self, committed: Counter[TopicPartition], end: dict[TopicPartition, int]) -> bool:
        """Whether no committed record of ``indicator.updates`` lies at or after the aggregating stage's committed
        offsets (a transactional producer's commit markers take offsets no consumer commits past)."""
        for tp in self.tps:
            if committed[tp] >= end[tp]:
                continue
            self.consumer.seek(tp, committed[tp])
            if (await self.consumer.getmany(tp, timeout_ms=2000, max_records=1)).get(tp):
                return False
        return True

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


async def drive(deployment: Deployment, expect: int, seconds: float) -> dict[str, Any]:
    """Poll until everything is processed or ``seconds`` after the start (the run then has not finished);
    CPU, RSS and the progress reached."""
    started = time.monotonic()
    async with Watch(deployment, expect) as watch:
        idle_cpu = deployment.cpu()  # at the last read before the first stage had written or committed anything
        while True:
            deployment.check()
            p = await watch.read()
            now, cpu = time.time(), deployment.cpu()
            if p.fed == 0 and p.produced == 0:
                idle_cpu = cpu
            if p.complete:
                break
            if time.monotonic() - started > seconds:
                log.warning("%s: not finished in %.0fs: %s", deployment.impl, seconds, p)
                break
            await asyncio.sleep(0.5)
    busy_ms = (cpu - idle_cpu) * 1000
    return {
        "complete": p.complete,
        "processed": round(p.processed),
        "fed": p.fed,
        "stopped_at": now,
        "cpu_ms_per_event": round(busy_ms / p.processed, 3) if p.complete else None,
        "peak_rss_mb": deployment.peak_rss_mb(),
    }


# --- the oracle -------------------------------------------------------------------------------------------------


@dataclass
class Oracle:
    """Every feed record through ``triage`` and ``apply_batch`` in one go (with the retractions ingest sends after
    a correction that moves an event to another series): the totals any run must end with."""

    states: dict[str, SeriesState]
    accepted: list[tuple[bytes, int, str, int]]
    """(unit total key, received ms, feed topic, feed offset) of every accepted event, in feed order."""

    @classmethod
    def of(cls, records: list[ConsumerRecord]) -> Oracle:
        records = sorted(records, key=lambda r: (r.topic, r.partition, r.offset))
        triaged = triage(raw_events(records), lambda _identity: None, room=len(records))
        updates = [u for _, u, _ in triaged.accepted]
        retractions = dict(moved_contributions(updates, lambda _identity: None))
        messages: list[IndicatorUpdate | Retraction] = []
        for position, update in enumerate(updates):  # as ingest publishes them: a retraction after its correction
            messages += [update] if position not in retractions else [update, retractions[position]]
        states: dict[str, SeriesState] = {}
        apply_batch(states, messages, lambda _key: None)
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
    """Every (size, partitions) configuration with ``repeat`` interleaved complete runs of each implementation,
    then the paced runs, all on one broker. A run not finished in ``timeout`` seconds is reported as such."""

    def __init__(
        self, broker: LocalBroker, workdir: Path, *, sizes: list[int], partitions: list[int], repeat: int,
        timeout: float, impls: tuple[str, ...] = tuple(IMPLS), worker_env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.kafka = KafkaSettings(bootstrap_servers=broker.bootstrap)
        self.workdir, self.sizes, self.partitions, self.repeat = workdir, sizes, partitions, repeat
        self.timeout, self.impls = timeout, impls
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
        """One complete run: every feed event processed, the final totals checked against the oracle; timed from
        the first output's append time (its first input batch read) to the last total's."""
        label = f"{impl[0]}{size // 1000}k{feeds.partitions}p{rep}"
        started = time.time()
        d = self.deploy(impl, label, feeds)
        head = {"impl": impl, "size": size, "partitions": feeds.partitions, "repeat": rep, "namespace": d.ns.namespace}
        try:
            run = asyncio.run(drive(d, size, self.timeout))
        except ProcessExitedError as exc:  # a result too: reported as such, the benchmark goes on
            log.error(
                "pipeline %s %d events %dp #%d: a process exited: %s", impl, size, feeds.partitions, rep, exc.reason
            )
            return {**head, "error": exc.reason, "complete": False, "per_s": None, "cpu_ms_per_event": None,
                    "peak_rss_mb": None}  # fmt: skip
        finally:
            d.stop()
        ns = d.ns
        outputs = asyncio.run(time_span(ns, [ns.topic(t.name) for t in (UPDATES, DLQ, TOTALS)]))
        totals = asyncio.run(time_span(ns, [ns.topic(TOTALS.name)]))
        if outputs is None or totals is None:
            return {**head, **run, "error": "no totals", "per_s": None}
        first, last = outputs[0], totals[1]
        check = self._oracle(feeds).check(self._totals(ns)) if run["complete"] else None
        valid = run["complete"] and check is not None and check["match"]
        seconds = last - first
        return {
            **head,
            "processes": len(d.procs),
            **run,
            "seconds": round(seconds, 3),
            # A rate only for a run that processed everything and ended with the oracle's totals.
            "per_s": round(size / seconds, 1) if valid and seconds > 0 else None,
            "first_output": first,
            "last_total": last,
            "totals": totals[2],
            "first_output_after_start_s": round(first - started, 1),
            "launch_to_last_total_s": round(last - started, 1),
            "check": check,
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
        impls = self.impls
        for rep in range(self.repeat):
            for impl in impls if rep % 2 == 0 else tuple(reversed(impls)):
                result = self.run_one(impl, size, rep, feeds)
                runs.append(result)
                if "error" in result:
                    continue
                log.info(
                    "pipeline %s %d events %dp #%d: %s events/s, %s ms CPU/event, %s MB (%d of %d events%s in "
                    "%.1fs)%s",
                    impl, size, partitions, rep, result["per_s"], result["cpu_ms_per_event"], result["peak_rss_mb"],
                    result["processed"], size, "" if result["complete"] else ": NOT FINISHED", result["seconds"],
                    f"; totals check {result['check']}" if result["check"] else "",
                )  # fmt: skip
        return {"size": size, "partitions": partitions, "runs": runs, **summarise(runs, impls)}

    # --- paced runs ---------------------------------------------------------------------------------------------

    def run_paced(self, impl: str, rates: list[float], seconds: float, warm: int = 500) -> dict[str, Any]:
        """Steps of offered rates (one partition, processes already running), ``seconds`` each, until a step's lag
        grows; the latency of every accepted event of the first step; the totals checked after the last."""
        steps = [int(rate * seconds) for rate in rates]
        n = warm + sum(steps)
        feeds, messages = Feeds.create(self.kafka, f"b{self.run_id}p{impl[0]}", n, 1, seed=99)
        d = self.deploy(impl, f"p{impl[0]}", feeds)
        done: list[dict[str, Any]] = []
        try:
            asyncio.run(publish(self.kafka, messages[:warm]))
            if not asyncio.run(self._wait(d, warm, STARTUP_S)):
                raise TimeoutError(f"{impl}: the warm-up events were not processed in {STARTUP_S:.0f}s:\n{d.tail()}")
            offsets = [{tp.topic: o for tp, o in asyncio.run(end_offsets(self.kafka, feeds.topics)).items()}]
            start = warm
            for rate, count in zip(rates, steps, strict=True):
                step = asyncio.run(paced_step(self.kafka, d, messages[start : start + count], rate, start))
                start += count
                offsets.append({tp.topic: o for tp, o in asyncio.run(end_offsets(self.kafka, feeds.topics)).items()})
                log.info("pipeline paced %s at %s/s: lag slope %s/s, max lag %s, flat %s", impl, rate,
                         step["lag_slope_per_s"], step["max_lag"], step["flat"])  # fmt: skip
                done.append(step)
                if not step["flat"]:
                    break
            # An implementation slower than a rate falls behind: it has this long to catch up.
            complete = asyncio.run(self._wait(d, start, 60 + seconds * 3 * len(done)))
        finally:
            d.stop()
        oracle = Oracle.of(asyncio.run(read_all(self.kafka, feeds.topics)))
        totals = self._totals(d.ns)
        latencies = event_to_total(oracle, totals, offsets[0], offsets[1])
        flat = [s["rate"] for s in done if s["flat"]]
        return {
            "impl": impl,
            "namespace": d.ns.namespace,
            "rate": rates[0],
            "step_seconds": seconds,
            "steps": done,
            "sustained_per_s": max(flat, default=None),
            "achieved_rate": done[0]["achieved_rate"],
            "events": steps[0],
            "accepted": sum(1 for _, _, t, o in oracle.accepted if offsets[0][t] <= o < offsets[1][t]),
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
        """Every (size, partitions) configuration, then the paced runs: first ``rate`` for every implementation
        (default: a quarter of tiendo's median in the first configuration, at most 2,000/s), where latency is
        measured, then 50%, 75%, 90% and 100% of the implementation's own median there, while its lag stays flat."""
        configs = [self.run_config(size, partitions) for partitions in self.partitions for size in self.sizes]
        medians = configs[0]["median_per_s"]
        if rate is None:
            rate = float(min(2000, int((medians.get("tiendo") or 1000) * 0.25 / 100) * 100 or 100))
        paced = []
        for impl in self.impls if paced_seconds > 0 else ():
            own = medians.get(impl) or 0
            rates = [rate, *sorted({round(own * f, -2) for f in (0.5, 0.75, 0.9, 1.0)} - {0.0})]
            try:
                result = self.run_paced(impl, [r for i, r in enumerate(rates) if i == 0 or r > rate], paced_seconds)
            except ProcessExitedError as exc:  # reported as such, the benchmark goes on
                log.error("pipeline paced %s: a process exited: %s", impl, exc.reason)
                paced.append({"impl": impl, "error": exc.reason, "rate": rate, "step_seconds": paced_seconds})
                continue
            log.info("pipeline paced %s: sustained %s/s; at %s/s p50 %s s, p99 %s s; totals check %s", impl,
                     result["sustained_per_s"], rate, result["p50_s"], result["p99_s"], result["check"])  # fmt: skip
            paced.append(result)
        return {"timeout_s": self.timeout, "repeat": self.repeat, "labels": {i: IMPLS[i] for i in self.impls},
                "configs": configs, "paced": paced}  # fmt: skip


async def paced_step(kafka: KafkaSettings, d: Deployment, messages: list, rate: float, before: int) -> dict[str, Any]:
    """Publish ``messages`` at ``rate`` while reading the deployment's progress every second: lag = events offered
    so far − events processed end to end. Flat: its least-squares slope over the step's last 80% is below 5% of
    the rate (committed offsets move in steps of the commit interval: the slope, not the last sample, tells)."""
    samples: list[tuple[float, float]] = []
    started = time.monotonic()

    async def sample() -> None:
        async with Watch(d, before + len(messages)) as watch:
            while True:
                d.check()
                p = await watch.read()
                elapsed = time.monotonic() - started
                offered = min(len(messages), rate * elapsed)
                samples.append((elapsed, max(0.0, before + offered - p.processed)))
                await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample())
    try:
        achieved = await publish_paced(kafka, messages, rate)
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    tail = [(t, lag) for t, lag in samples if t >= 0.2 * samples[-1][0]] if samples else []
    slope = _slope(tail)
    return {
        "rate": rate,
        "achieved_rate": round(achieved, 1),
        "events": len(messages),
        "lag": [(round(t, 1), round(lag)) for t, lag in samples],
        "max_lag": round(max((lag for _, lag in samples), default=0)),
        "lag_slope_per_s": None if slope is None else round(slope, 1),
        "flat": slope is not None and slope < 0.05 * rate,
    }


def _slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (x, y) points; None for fewer than three."""
    if len(points) < 3:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else None


def summarise(runs: list[dict[str, Any]], impls: tuple[str, ...] = tuple(IMPLS)) -> dict[str, Any]:
    """Medians over the complete runs (matching the oracle) per implementation, their spread (min, max) and how
    many runs finished; each one's ratios to tiendo; tiendo's ratios to the raw loop and Quix."""
    ok = {i: [r for r in runs if r["impl"] == i and r.get("per_s")] for i in impls}
    per_s = {i: median(r["per_s"] for r in ok[i]) for i in impls}
    spread = {i: [min(r["per_s"] for r in ok[i]), max(r["per_s"] for r in ok[i])] if ok[i] else None for i in impls}
    cpu = {i: median(r["cpu_ms_per_event"] for r in ok[i]) for i in impls}
    rss = {i: median(r["peak_rss_mb"] for r in ok[i]) for i in impls}
    finished = {i: [len(ok[i]), sum(1 for r in runs if r["impl"] == i)] for i in impls}

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None

    return {
        "median_per_s": per_s,
        "spread_per_s": spread,
        "finished": finished,
        "median_cpu_ms_per_event": cpu,
        "median_peak_rss_mb": rss,
        "to_tiendo": {
            i: {
                "per_s": ratio(per_s[i], per_s.get("tiendo")),
                "cpu": ratio(cpu[i], cpu.get("tiendo")),
                "rss": ratio(rss[i], rss.get("tiendo")),
            }
            for i in impls
        },
        "tiendo_to_raw": ratio(per_s.get("tiendo"), per_s.get("raw")),
        "tiendo_to_quix": ratio(per_s.get("tiendo"), per_s.get("quix")),
    }


def event_to_total(
    oracle: Oracle, totals: list[ConsumerRecord], after: dict[str, int], until: dict[str, int]
) -> list[float]:
    """Per accepted event from the offsets ``after`` up to ``until``: the append time of the first unit total of its
    quarter that includes it (``updated_at`` at or after the event's broker timestamp) − that timestamp."""
    published: dict[bytes, list[tuple[int, int]]] = defaultdict(list)  # key → [(updated_at ms, appended ms)]
    for r in sorted(totals, key=lambda r: (r.partition, r.offset)):
        if r.key.startswith(b"unit/"):
            updated = orjson.loads(r.value)["updated_at"]
            if updated is not None:
                published[r.key].append((_ms(updated), r.timestamp))
    out = []
    for key, received, topic, offset in oracle.accepted:
        if not after[topic] <= offset < until[topic]:
            continue
        found = next((appended for updated, appended in published.get(key, ()) if updated >= received), None)
        if found is not None:
            out.append((found - received) / 1000)
    return out


def _ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)
