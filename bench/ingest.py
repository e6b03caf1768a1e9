"""Ingest benchmark: the real ``tiendo ingest`` worker against the raw aiokafka loop, on the same broker and data.

Throughput: N realistic feed events are pre-loaded into seven feed topics; each run (own namespace and consumer
group) reads them until all are processed or ``budget`` seconds have passed since it started making progress. Its
output topics (``indicator.updates``, ``indicator.dlq``) stamp every message with the broker's append time, so the
run's processing time is the span from its first to its last output (or to the moment the budget ran out),
stretched by nb/(nb-1) for the first batch, which is processed before the first output appears (nb = batches).
Events/s = events processed / that time.

Latency: a paced run per implementation (fresh feed topics, consumer already running, ``rate`` events/s):
per event, broker append time of its output − broker append time of the input (matched by the output's origin),
and the worker's own ``tiendo_ingest_processing_latency_seconds`` histogram.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from bench.common import (
    RawProcess,
    create_topics,
    drive_worker,
    end_offsets,
    free_port,
    latency_from_histogram,
    log,
    median,
    metric_samples,
    metric_sum,
    percentile,
    publish,
    publish_paced,
    read_all,
    throughput,
    time_span,
    wait_committed,
)
from bench.data import FeedMessage, feed_events
from services.localkafka import LocalBroker
from shared.config import KafkaSettings
from shared.consuming import INGEST_GROUP
from shared.topics import DEDUPE, DLQ, UPDATES, feed_topic
from tests.workers import Worker

LATENCY = "tiendo_ingest_processing_latency_seconds"
PROCESSED = "tiendo_ingest_events_total"


class IngestBench:
    def __init__(
        self, broker: LocalBroker, workdir: Path, events: int, repeat: int, budget: float, *,
        worker_env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.kafka = KafkaSettings(bootstrap_servers=broker.bootstrap)
        self.workdir, self.events, self.repeat, self.budget = workdir, events, repeat, budget
        self.worker_env = worker_env or {}
        self.run_id = uuid.uuid4().hex[:6]

    # --- one run ------------------------------------------------------------------------------------------------

    def _namespace(self, label: str) -> KafkaSettings:
        ns = KafkaSettings(bootstrap_servers=self.kafka.bootstrap_servers, namespace=f"b{self.run_id}{label}.")
        asyncio.run(create_topics(ns, (UPDATES, DLQ, DEDUPE)))
        return ns

    def _worker(self, ns: KafkaSettings, prefix: str, label: str) -> Worker:
        env = {
            "TIENDO_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "TIENDO_NAMESPACE": ns.namespace,
            "TIENDO_TOPIC_PATTERN": rf"feed\.{prefix}-.*",
            "TIENDO_DATA_DIR": str(self.workdir / f"state-{label}"),
            "TIENDO_METADATA_MAX_AGE_MS": "2000",
            "TIENDO_LOG_LEVEL": "INFO",
            **self.worker_env,
        }
        return Worker("ingest", env, self.workdir / f"ingest-{label}.log", free_port()).start()

    def _raw(self, ns: KafkaSettings, prefix: str, label: str, expect: int, budget: float | None) -> RawProcess:
        config = {
            "bootstrap": self.kafka.bootstrap_servers,
            "namespace": ns.namespace,
            "pattern": rf"(?:feed\.{prefix}-.*)$",
            "group": f"{ns.namespace}raw-ingest",
            "expect": expect,
            "batch_size": 2000,
            "budget": budget,
            "out": str(self.workdir / f"raw-{label}.json"),
        }
        path = self.workdir / f"raw-{label}.config.json"
        path.write_bytes(orjson.dumps(config))
        return RawProcess("bench.raw_ingest", path, Path(config["out"]), self.workdir / f"raw-{label}.log").start()

    def _first_output(self, ns: KafkaSettings) -> tuple[float, float, int]:
        span = asyncio.run(time_span(ns, [ns.topic(UPDATES.name), ns.topic(DLQ.name)]))
        if span is None:
            raise RuntimeError(f"{ns.namespace}: no output")
        return span

    def run_worker(self, prefix: str, rep: int) -> dict[str, Any]:
        label = f"w{rep}"
        ns = self._namespace(label)
        started = time.time()
        worker = self._worker(ns, prefix, label)
        try:
            run = drive_worker(worker, PROCESSED, self.events, self.budget)
        finally:
            worker.stop()
        samples = run.pop("samples")
        first, last, outputs = self._first_output(ns)
        end = last if run["complete"] else run["stopped_at"]
        return {
            "impl": "worker",
            "repeat": rep,
            **throughput(run["processed"], first, end, metric_sum(samples, "tiendo_ingest_batch_size_events_count")),
            **run,
            "outputs": outputs,
            "accepted": sum(s.value for s in samples if s.name == PROCESSED and s.labels.get("outcome") == "accepted"),
            "latency_histogram": latency_from_histogram(samples, LATENCY),
            "first_output_after_start_s": round(first - started, 1),
        }  # fmt: skip

    def run_raw(self, prefix: str, rep: int) -> dict[str, Any]:
        label = f"r{rep}"
        ns = self._namespace(label)
        started = time.time()
        raw = self._raw(ns, prefix, label, self.events, self.budget)
        raw.wait(timeout=300 + self.budget * 2)
        stats = orjson.loads(raw.out.read_bytes())
        first, last, outputs = self._first_output(ns)
        in_process = stats["last_acked"] - stats["first_consumed"]
        return {
            "impl": "raw",
            "repeat": rep,
            **throughput(stats["events"], first, last, stats["batches"]),
            "complete": stats["complete"],
            "processed": stats["events"],
            "cpu_ms_per_event": stats["cpu_ms_per_event"],
            "outputs": outputs,
            "accepted": stats["accepted"],
            "in_process_per_s": round(stats["events"] / in_process, 1),
            "rss_mb": stats.get("rss_mb"),
            "peak_rss_mb": stats.get("peak_rss_mb"),
            "first_output_after_start_s": round(first - started, 1),
        }

    # --- paced latency ------------------------------------------------------------------------------------------

    def run_paced(self, impl: str, rate: float, seconds: float, warm: int = 500) -> dict[str, Any]:
        prefix = f"b{self.run_id}p{impl[0]}"
        label = f"p{impl[0]}"
        messages = feed_events(warm + int(rate * seconds), prefix, seed=99)
        self._create_feeds(messages)
        ns = self._namespace(label)
        if impl == "worker":
            worker = self._worker(ns, prefix, label)
            group, alive, tail = f"{ns.namespace}{INGEST_GROUP}", (lambda: worker.proc.poll() is None), worker.tail
        else:
            raw = self._raw(ns, prefix, label, len(messages), None)
            group, alive, tail = f"{ns.namespace}raw-ingest", (lambda: raw.proc.poll() is None), raw.tail
        try:
            asyncio.run(publish(self.kafka, [(m.topic, None, m.value) for m in messages[:warm]]))
            wait_committed(self.kafka, group, warm, timeout=180, alive=alive, tail=tail)
            ends = asyncio.run(end_offsets(self.kafka, sorted({m.topic for m in messages})))
            achieved = asyncio.run(publish_paced(self.kafka, [(m.topic, None, m.value) for m in messages[warm:]], rate))
            wait_committed(self.kafka, group, len(messages), timeout=120 + seconds * 3, alive=alive, tail=tail)
            histogram = latency_from_histogram(metric_samples(worker), LATENCY) if impl == "worker" else None
        finally:
            if impl == "worker":
                worker.stop()
            else:
                raw.stop()
        latencies, outputs = self._latencies(ns, {(tp.topic, tp.partition): off for tp, off in ends.items()})
        return {
            "impl": impl,
            "outputs": outputs,
            "rate": rate,
            "achieved_rate": round(achieved, 1),
            "events": len(messages) - warm,
            "matched": len(latencies),
            "p50_s": percentile(latencies, 50),
            "p99_s": percentile(latencies, 99),
            "max_s": max(latencies, default=None),
            "latency_histogram_incl_warmup": histogram,
        }

    def _create_feeds(self, messages: list[FeedMessage]) -> None:
        topics = sorted({m.topic for m in messages})
        asyncio.run(create_topics(self.kafka, [feed_topic(t) for t in topics], namespaced=False))

    def _latencies(self, ns: KafkaSettings, after: dict[tuple[str, int], int]) -> tuple[list[float], dict[str, int]]:
        """Output append time − input append time for every input past the warm-up offsets ``after``; the number
        of updates and dead letters."""
        inputs = {
            (r.topic, r.partition, r.offset): r.timestamp
            for r in asyncio.run(read_all(self.kafka, sorted({t for t, _ in after})))
        }
        out = []
        counts = {"updates": 0, "dead_letters": 0}
        for record in asyncio.run(read_all(ns, [ns.topic(UPDATES.name), ns.topic(DLQ.name)])):
            counts["dead_letters" if record.topic.endswith(DLQ.name) else "updates"] += 1
            origin = orjson.loads(record.value)["origin"]
            key = (origin["topic"], origin["partition"], origin["offset"])
            if key[2] >= after.get(key[:2], 0) and key in inputs:
                out.append((record.timestamp - inputs[key]) / 1000)
        return out, counts

    # --- the whole benchmark ------------------------------------------------------------------------------------

    def run(self, rate: float | None, paced_seconds: float) -> dict[str, Any]:
        prefix = f"b{self.run_id}"
        messages = feed_events(self.events, prefix)
        self._create_feeds(messages)
        t = time.monotonic()
        asyncio.run(publish(self.kafka, [(m.topic, None, m.value) for m in messages]))
        kinds = {k: sum(1 for m in messages if m.kind == k) for k in ("valid", "duplicate", "correction", "bad")}
        log.info("ingest: %d feed events pre-loaded in %.1fs %s", self.events, time.monotonic() - t, kinds)
        runs: list[dict[str, Any]] = []
        for rep in range(self.repeat):
            order = ("worker", "raw") if rep % 2 == 0 else ("raw", "worker")
            for impl in order:
                result = self.run_worker(prefix, rep) if impl == "worker" else self.run_raw(prefix, rep)
                log.info(
                    "ingest %s #%d: %s events/s, %s ms CPU/event (%d events%s in %.1fs, %d batches)",
                    impl, rep, result["per_s"], result["cpu_ms_per_event"], result["processed"],
                    "" if result["complete"] else " (budget reached)", result["seconds"], result["batches"],
                )  # fmt: skip
                runs.append(result)
        impls = ("worker", "raw")
        per_s = {impl: median(r["per_s"] for r in runs if r["impl"] == impl) for impl in impls}
        cpu = {impl: median(r["cpu_ms_per_event"] for r in runs if r["impl"] == impl) for impl in impls}
        if rate is None:
            rate = float(min(5000, int((per_s["worker"] or 2000) * 0.5 / 100) * 100 or 100))
        paced = []
        for impl in impls:
            result = self.run_paced(impl, rate, paced_seconds)
            log.info("ingest paced %s at %s/s: p50 %s s, p99 %s s", impl, rate, result["p50_s"], result["p99_s"])
            paced.append(result)
        complete = [r for r in runs if r["complete"]]
        return {
            "events": self.events,
            "budget_s": self.budget,
            "input": kinds,
            "runs": runs,
            "median_per_s": per_s,
            "median_cpu_ms_per_event": cpu,
            "ratio": round(per_s["worker"] / per_s["raw"], 3) if per_s["worker"] and per_s["raw"] else None,
            "cpu_ratio": round(cpu["raw"] / cpu["worker"], 3) if cpu["worker"] and cpu["raw"] else None,
            "same_outputs_full_runs": (
                len({(r["outputs"], r["accepted"]) for r in complete}) == 1
                if len({r["impl"] for r in complete}) == 2
                else None
            ),
            "same_outputs_paced": paced[0]["outputs"] == paced[1]["outputs"],
            "paced": paced,
        }
