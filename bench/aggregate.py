"""Aggregate benchmark: the real ``tiendo aggregate`` worker against the raw aiokafka loop, then recovery and RSS.

Throughput: N indicator updates (60 series, then a variant with ~100,000) are pre-loaded into each run's own
namespaced ``indicator.updates`` (4 partitions). A run lasts until everything is processed or ``budget`` seconds
have passed since it started making progress. The run's ``indicator.totals`` stamps messages with the broker's
append time: processing time = from the first total to the last (or to the moment the budget ran out), stretched
by nb/(nb-1) for the first batch, processed before its first total appears. Implementations:

- ``worker``: ``tiendo aggregate`` (own aiokafka consumer, RocksDB per partition, batched changelog);
- ``raw``: ``bench.raw_aggregate`` — decode, ``apply_batch`` into a dict, the same totals;
- ``raw+state`` (60 series, one run): the raw loop also serialising every changed series to a compacted topic,
  the durability work the worker does, without RocksDB or reading states back.

Recovery: a worker is fed 100,000 updates of 100,000 distinct series (each run to its end), its RSS read, then it
is SIGKILLed, its state folder deleted and restarted: seconds until ``/health`` answers 200 and its
``tiendo_aggregate_recovery_duration_seconds``.

Latency: paced runs as in the ingest benchmark; the k-th update of a quarter is in the first unit total of that
quarter whose ``events`` reaches k (only new identities are sent), so latency = that total's append time − the
update's append time. Both paced runs get the same updates and must end with the same totals.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

from bench.common import (
    Profiler,
    RawProcess,
    create_topics,
    drive_worker,
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
from bench.data import encoded, generate_updates, indicator_updates, paced_updates
from bench.procstat import memory_mb
from bench.profile import summarise
from bench.raw_aggregate import CHANGELOG
from services.localkafka import LocalBroker
from shared.config import KafkaSettings
from shared.consuming import AGGREGATE_GROUP
from shared.topics import TOTALS, UPDATES, TopicSpec
from tests.workers import Worker

LATENCY = "tiendo_aggregate_processing_latency_seconds"
RECOVERY = "tiendo_aggregate_recovery_duration_seconds"
PROCESSED = "tiendo_aggregate_updates_total"
STATE_KEYS = "tiendo_aggregate_state_keys"
RECOVERY_KEYS = 100_000


class AggregateBench:
    def __init__(
        self, broker: LocalBroker, workdir: Path, events: int, repeat: int, budget: float, *,
        recovery_keys: int = RECOVERY_KEYS, worker_env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.kafka = KafkaSettings(bootstrap_servers=broker.bootstrap)
        self.workdir, self.events, self.repeat, self.budget = workdir, events, repeat, budget
        self.recovery_keys = recovery_keys
        self.worker_env = worker_env or {}
        self.run_id = uuid.uuid4().hex[:6]
        self.inputs: dict[int, list[tuple[bytes, bytes]]] = {}
        self.inputs_paced: dict[int, list[tuple[bytes, bytes]]] = {}

    def _input(self, keys: int) -> list[tuple[bytes, bytes]]:
        if keys not in self.inputs:
            t = time.monotonic()
            self.inputs[keys] = encoded(indicator_updates(self.events, keys))
            log.info("aggregate: %d updates over %d series made in %.1fs", self.events, keys, time.monotonic() - t)
        return self.inputs[keys]

    def _namespace(self, label: str, messages: list[tuple[bytes, bytes]]) -> KafkaSettings:
        ns = KafkaSettings(bootstrap_servers=self.kafka.bootstrap_servers, namespace=f"b{self.run_id}{label}.")
        asyncio.run(create_topics(ns, (UPDATES, TOTALS)))
        if messages:
            asyncio.run(publish(ns, [(ns.topic(UPDATES.name), k, v) for k, v in messages]))
        return ns

    def _worker(self, ns: KafkaSettings, label: str) -> Worker:
        env = {
            "TIENDO_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "TIENDO_NAMESPACE": ns.namespace,
            "TIENDO_DATA_DIR": str(self.workdir / f"state-{label}"),
            "TIENDO_LOG_LEVEL": "INFO",
            **self.worker_env,
        }
        return Worker("aggregate", env, self.workdir / f"aggregate-{label}.log", free_port())

    def _raw(self, ns: KafkaSettings, label: str, expect: int, *, state: bool, budget: float | None) -> RawProcess:
        config = {
            "bootstrap": self.kafka.bootstrap_servers,
            "namespace": ns.namespace,
            "group": f"{ns.namespace}raw-aggregate",
            "expect": expect,
            "batch_size": 2000,
            "state": state,
            "budget": budget,
            "out": str(self.workdir / f"raw-{label}.json"),
        }
        path = self.workdir / f"raw-{label}.config.json"
        path.write_bytes(orjson.dumps(config))
        if state:
            asyncio.run(create_topics(ns, (TopicSpec(CHANGELOG, UPDATES.partitions, {"cleanup.policy": "compact"}),)))
        return RawProcess("bench.raw_aggregate", path, Path(config["out"]), self.workdir / f"raw-{label}.log").start()

    def _first_output(self, ns: KafkaSettings) -> tuple[float, float, int]:
        span = asyncio.run(time_span(ns, [ns.topic(TOTALS.name)]))
        if span is None:
            raise RuntimeError(f"{ns.namespace}: no totals")
        return span

    # --- one run ------------------------------------------------------------------------------------------------

    def run_worker(
        self, keys: int, rep: int, messages: list[tuple[bytes, bytes]] | None = None, *, budget: float | None = None,
        profile: float = 0, recovery: bool = False, label: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """One worker run over ``messages`` (the ``keys`` input by default), optionally profiled or followed by
        the recovery measurement."""
        label = label or f"k{keys}w{rep}" + ("p" if profile else "")
        messages = self._input(keys) if messages is None else messages
        ns = self._namespace(label, messages)
        worker = self._worker(ns, label)
        started = time.time()
        worker.start()
        assert worker.proc is not None
        result: dict[str, Any] = {"impl": "worker", "keys": keys, "repeat": rep, "namespace": ns.namespace}
        try:
            profiler = None
            if profile:
                worker.wait_ready(timeout=240)
                profiler = Profiler(worker.proc.pid, self.workdir / f"profile-{label}.txt", profile).start()
            run = drive_worker(worker, PROCESSED, len(messages), self.budget if budget is None else budget)
            if profiler is not None:
                out = profiler.wait()
                result["profile"] = summarise(out) if out else None
                result["profile_file"] = str(out) if out else None
            samples = run.pop("samples")
            if recovery:
                result["recovery"] = self._recover(worker, label)
        finally:
            worker.stop()
            shutil.rmtree(self.workdir / f"state-{label}", ignore_errors=True)
        first, last, outputs = self._first_output(ns)
        end = last if run["complete"] else run["stopped_at"]
        batches = metric_sum(samples, "tiendo_aggregate_batch_size_events_count")
        result.update(throughput(run["processed"], first, end, batches))
        result.update(run)
        result.update(
            totals=outputs,
            mean_batch=round(run["processed"] / batches, 1) if batches else None,
            outcomes={s.labels["outcome"]: s.value for s in samples if s.name == PROCESSED},
            latency_histogram=latency_from_histogram(samples, LATENCY),
            state_keys=metric_sum(samples, STATE_KEYS),
            first_output_after_start_s=round(first - started, 1),
        )
        return result

    def _recover(self, worker: Worker, label: str) -> dict[str, Any]:
        """SIGKILL, delete the state folder, restart: time to /health 200, the recovery metric, RSS after."""
        assert worker.proc is not None
        before = memory_mb(worker.proc.pid)
        worker.kill()
        shutil.rmtree(self.workdir / f"state-{label}")
        log_size = worker.log.stat().st_size
        t0 = time.monotonic()
        worker.start()
        assert worker.proc is not None
        worker.wait_ready(timeout=600)
        ready = time.monotonic() - t0
        samples = metric_samples(worker)
        return {
            "ready_s": round(ready, 2),
            "recovery_metric_s": round(metric_sum(samples, RECOVERY), 2),
            "recovered_keys": self._recovered_keys(worker.log, log_size),
            **{f"before_{k}": v for k, v in before.items()},
            **{f"after_{k}": v for k, v in memory_mb(worker.proc.pid).items()},
        }

    @staticmethod
    def _recovered_keys(path: Path, offset: int) -> int | None:
        with path.open("rb") as f:
            f.seek(offset)
            for line in f.read().splitlines():
                if b'"recovered"' in line:
                    try:
                        return int(orjson.loads(line).get("keys"))
                    except (orjson.JSONDecodeError, TypeError, ValueError):
                        return None
        return None

    def run_raw(self, keys: int, rep: int, *, state: bool = False) -> dict[str, Any]:
        label = f"k{keys}{'s' if state else 'r'}{rep}"
        ns = self._namespace(label, self._input(keys))
        started = time.time()
        raw = self._raw(ns, label, self.events, state=state, budget=self.budget)
        raw.wait(timeout=300 + self.budget * 2)
        stats = orjson.loads(raw.out.read_bytes())
        first, last, outputs = self._first_output(ns)
        in_process = stats["last_acked"] - stats["first_consumed"]
        return {
            "impl": "raw+state" if state else "raw",
            "keys": keys,
            "repeat": rep,
            "namespace": ns.namespace,
            **throughput(stats["events"], first, last, stats["batches"]),
            "complete": stats["complete"],
            "processed": stats["events"],
            "cpu_ms_per_event": stats["cpu_ms_per_event"],
            "series": stats["keys"],
            "totals": outputs,
            "mean_batch": round(stats["events"] / stats["batches"], 1),
            "in_process_per_s": round(stats["events"] / in_process, 1),
            "rss_mb": stats.get("rss_mb"),
            "peak_rss_mb": stats.get("peak_rss_mb"),
            "first_output_after_start_s": round(first - started, 1),
        }

    def same_totals(self, a: str, b: str) -> bool:
        """Whether two runs' indicator.totals end with the same latest total for every key."""
        latest = []
        for namespace in (a, b):
            ns = KafkaSettings(bootstrap_servers=self.kafka.bootstrap_servers, namespace=namespace)
            records = asyncio.run(read_all(ns, [ns.topic(TOTALS.name)]))
            last: dict[bytes, bytes] = {}
            for r in sorted(records, key=lambda r: (r.partition, r.offset)):
                last[r.key] = r.value
            latest.append(last)
        return latest[0] == latest[1]

    def run_recovery(self) -> dict[str, Any]:
        """A worker fed ``recovery_keys`` updates of as many series to the end, then SIGKILL, wipe, restart."""
        n = self.recovery_keys
        messages = encoded(generate_updates(n, n, resend=0, correct=0))
        result = self.run_worker(n, 0, messages, budget=float("inf"), recovery=True, label="recovery")
        log.info("aggregate: %d series built at %s updates/s; recovery %s", n, result["per_s"], result["recovery"])
        return result

    # --- paced latency ------------------------------------------------------------------------------------------

    def run_paced(self, impl: str, rate: float, seconds: float, warm: int = 200) -> dict[str, Any]:
        label = f"p{impl[0]}"
        ns = self._namespace(label, [])
        n = warm + int(rate * seconds)
        if n not in self.inputs_paced:  # both implementations get the very same messages
            self.inputs_paced[n] = encoded(paced_updates(n, 60))
        updates = self.inputs_paced[n]
        topic = ns.topic(UPDATES.name)
        if impl == "worker":
            worker = self._worker(ns, label).start()
            worker.wait_ready(timeout=180)
            group, alive, tail = f"{ns.namespace}{AGGREGATE_GROUP}", (lambda: worker.proc.poll() is None), worker.tail
        else:
            raw = self._raw(ns, label, len(updates), state=False, budget=None)
            group, alive, tail = f"{ns.namespace}raw-aggregate", (lambda: raw.proc.poll() is None), raw.tail
        try:
            asyncio.run(publish(ns, [(topic, k, v) for k, v in updates[:warm]]))
            wait_committed(self.kafka, group, warm, timeout=240, alive=alive, tail=tail)
            achieved = asyncio.run(publish_paced(ns, [(topic, k, v) for k, v in updates[warm:]], rate))
            wait_committed(self.kafka, group, len(updates), timeout=120 + seconds * 5, alive=alive, tail=tail)
            histogram = latency_from_histogram(metric_samples(worker), LATENCY) if impl == "worker" else None
        finally:
            if impl == "worker":
                worker.stop()
                shutil.rmtree(self.workdir / f"state-{label}", ignore_errors=True)
            else:
                raw.stop()
        latencies = self._latencies(ns, warm)
        return {
            "impl": impl,
            "namespace": ns.namespace,
            "rate": rate,
            "achieved_rate": round(achieved, 1),
            "events": len(updates) - warm,
            "matched": len(latencies),
            "p50_s": percentile(latencies, 50),
            "p99_s": percentile(latencies, 99),
            "max_s": max(latencies, default=None),
            "latency_histogram_incl_warmup": histogram,
        }

    def _latencies(self, ns: KafkaSettings, warm: int) -> list[float]:
        inputs: dict[tuple, list[tuple[int, int]]] = defaultdict(list)  # quarter → [(origin offset, append ms)]
        for r in asyncio.run(read_all(ns, [ns.topic(UPDATES.name)])):
            u = orjson.loads(r.value)
            inputs[(u["unit"], u["indicator"], u["year"], u["quarter"])].append((r.offset, r.timestamp, u["origin"]))
        outputs: dict[tuple, list[tuple[int, int, int]]] = defaultdict(list)  # quarter → [(offset, events, ms)]
        for r in asyncio.run(read_all(ns, [ns.topic(TOTALS.name)])):
            if r.key.startswith(b"unit/"):
                t = orjson.loads(r.value)
                outputs[(t["unit"], t["indicator"], t["year"], t["quarter"])].append(
                    (r.offset, t["events"], r.timestamp)
                )
        latencies = []
        for quarter, sent in inputs.items():
            totals = sorted(outputs.get(quarter, []))
            i = 0
            for k, (_, appended, origin) in enumerate(sorted(sent), start=1):
                while i < len(totals) and totals[i][1] < k:
                    i += 1
                if i == len(totals):
                    break
                if origin["offset"] >= warm:
                    latencies.append((totals[i][2] - appended) / 1000)
        return latencies

    # --- the whole benchmark ------------------------------------------------------------------------------------

    def run(self, rate: float | None, paced_seconds: float, profile: str = "auto") -> dict[str, Any]:
        variants: dict[str, Any] = {}
        for keys, impls in ((60, ("worker", "raw", "raw+state")), (100_000, ("worker", "raw"))):
            runs: list[dict[str, Any]] = []
            for rep in range(self.repeat):
                order = impls if rep % 2 == 0 else tuple(reversed(impls))
                for impl in order:
                    if impl == "raw+state" and rep > 0:
                        continue  # a diagnostic: one run
                    if impl == "worker":
                        result = self.run_worker(keys, rep)
                    else:
                        result = self.run_raw(keys, rep, state=impl == "raw+state")
                    log.info(
                        "aggregate %s keys=%d #%d: %s updates/s, %s ms CPU/update (%d updates%s in %.1fs, %d batches)",
                        impl, keys, rep, result["per_s"], result["cpu_ms_per_event"], result["processed"],
                        "" if result["complete"] else " (budget reached)", result["seconds"], result["batches"],
                    )  # fmt: skip
                    runs.append(result)
            per_s = {impl: median(r["per_s"] for r in runs if r["impl"] == impl) for impl in impls}
            cpu = {impl: median(r["cpu_ms_per_event"] for r in runs if r["impl"] == impl) for impl in impls}
            variants[str(keys)] = {
                "keys": keys,
                "runs": runs,
                "median_per_s": per_s,
                "median_cpu_ms_per_event": cpu,
                "ratio": round(per_s["worker"] / per_s["raw"], 3) if per_s["worker"] and per_s["raw"] else None,
                "cpu_ratio": round(cpu["raw"] / cpu["worker"], 3) if cpu["worker"] and cpu["raw"] else None,
            }
            log.info("aggregate keys=%d: median updates/s %s, CPU ms/update %s", keys, per_s, cpu)
        out: dict[str, Any] = {"events": self.events, "budget_s": self.budget, "variants": variants}
        out["recovery"] = self.run_recovery()
        headline = variants["60"]
        if rate is None:
            rate = float(min(5000, int((headline["median_per_s"]["worker"] or 1000) * 0.5 / 100) * 100 or 100))
        out["paced"] = []
        for impl in ("worker", "raw"):
            result = self.run_paced(impl, rate, paced_seconds)
            log.info("aggregate paced %s at %s/s: p50 %s s, p99 %s s", impl, rate, result["p50_s"], result["p99_s"])
            out["paced"].append(result)
        out["same_totals_paced"] = self.same_totals(out["paced"][0]["namespace"], out["paced"][1]["namespace"])
        log.info("aggregate: paced worker and raw loop ended with identical totals: %s", out["same_totals_paced"])
        out["profiles"] = {}
        for keys, variant in variants.items():
            wanted = profile == "always" or (profile == "auto" and (variant["ratio"] or 0) < 0.5)
            if wanted and Profiler.available():
                log.info("aggregate: profiling a worker run (%s series) with py-spy for %.0fs", keys, self.budget)
                profiled = self.run_worker(int(keys), 99, profile=self.budget)
                out["profiles"][keys] = {
                    "seconds": self.budget,
                    "per_s_while_profiled": profiled["per_s"],
                    "mean_batch": profiled["mean_batch"],
                    "summary": profiled.get("profile"),
                    "file": profiled.get("profile_file"),
                }
            elif wanted:
                log.warning("aggregate worker below aim but py-spy is not installed: no profile")
        return out
