"""Alerting benchmark: event → page latency through the whole pipeline under load, and the workers' memory.

``tiendo ingest``, ``tiendo aggregate`` and ``tiendo alert`` run as subprocesses (``tests.workers.Worker``) in one
namespace of the benchmark's own broker; the alert worker pages a real Alertmanager (``tests.alertmanager``) whose
webhook receiver runs in this process. The alert worker uses the event clock (evaluation at the latest ``as_of``
seen), so the judgement does not depend on the day the benchmark runs.

Memory: first ``resource_keys`` indicator updates of as many series are published straight into
``indicator.updates``; once the aggregate worker has committed them all and the alert worker every total they
produced, the RSS (/proc VmRSS) of the three workers is read, and again at the end of the latency part.

Latency: a background load of ordinary feed events (``bench.data.feed_events``) is published at ``rate``
events/s into seven feed topics. After ``warmup`` seconds, breach → recover cycles run on a plan of Lạng Sơn's
2025 public investment disbursement (4,500 bn VND; the disbursement curve expects ~56% by 15 September): one
feed event (one event id, a new revision each time) reports 1,395 bn by 15 September 2025 (ratio 0.55:
critical), the next revision 2,700 bn (ratio 1.07: resolved), and so on. Per breach: the moment the firing
notification reached the webhook − the broker append time of the breach event (its feed topic stamps
LogAppendTime) − Alertmanager's configured ``group_wait`` (0 s). The same for each recovery and its resolved
notification. Each is split at the alert worker's decision: the broker append time of its record on the
``alerts`` topic. Cycles stop after ``cycles`` or ``seconds``; the background rate achieved is measured from the
feed topics' end offsets, the workers' lags at the end tell whether the pipeline kept up.

Recovery of the aggregate worker after SIGKILL with as many series is ``AggregateBench.run_recovery``: taken from
the aggregate benchmark of the same run when it ran, measured here otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bench.aggregate import PROCESSED as AGGREGATE_PROCESSED
from bench.aggregate import STATE_KEYS, AggregateBench
from bench.common import (
    create_topics,
    end_offsets,
    free_port,
    log,
    metric_samples,
    metric_sum,
    percentile,
    producer,
    publish,
    publish_paced,
    read_all,
    wait_committed,
)
from bench.data import encoded, feed_events, generate_updates
from bench.ingest import PROCESSED as INGEST_PROCESSED
from bench.procstat import cpu_seconds, memory_mb
from services.localkafka import LocalBroker
from shared.config import KafkaSettings
from shared.consuming import AGGREGATE_GROUP, ALERT_GROUP
from shared.topics import ALERTS, DEDUPE, DLQ, PLANS, TOTALS, UPDATES, feed_topic
from tests.alertmanager import Notification, WebhookRecorder, running_alertmanager
from tests.workers import ROOT, Worker

#: Alertmanager's grouping: group_wait at its minimum (0 s; Alertmanager 0.25 accepts it), a short group_interval
#: (a breach into a group Alertmanager still holds waits for its next tick), no repeats.
GROUP_WAIT_S = 0.0
GROUP_INTERVAL = "10ms"
ALERTMANAGER_CONFIG = f"""\
route:
  receiver: recorder
  group_by: [alertname, province]
  group_wait: {GROUP_WAIT_S:g}s
  group_interval: {GROUP_INTERVAL}
  repeat_interval: 1h
receivers:
  - name: recorder
    webhook_configs:
      - url: {{webhook}}
        send_resolved: true
"""
PLAN = """\
plans:
  - {province: Lạng Sơn, indicator: public_investment_disbursed, year: 2025, basis: central,
     target: 4500, unit: tỷ đồng, source: bench}
"""
AS_OF = "2025-09-15"
BREACH_BN, RECOVER_BN = 1395, 2700
RULE = "TiendoBehindPlan"
#: The input topics whose offsets the alert worker's group (``ALERT_GROUP``) commits.
ALERT_INPUTS = (TOTALS,)
WORKERS = ("ingest", "aggregate", "alert")
PROCESSED = {"ingest": INGEST_PROCESSED, "aggregate": AGGREGATE_PROCESSED}


def reading(event_id: str, revision: int, value_bn: int) -> bytes:
    """Lạng Sơn's disbursement so far in 2025 (one delta event, corrected by each new revision)."""
    return orjson.dumps(
        {
            "event_id": event_id,
            "province": "Lạng Sơn",
            "indicator": "public_investment_disbursed",
            "as_of": AS_OF,
            "value": value_bn,
            "unit": "tỷ đồng",
            "mode": "delta",
            "revision": revision,
            "source": "bench breach/recover cycle",
        }
    )


def notified(notifications: list[Notification], status: str) -> int:
    """How many times the behind-plan alert was notified with ``status`` (firing or resolved)."""
    return sum(
        1 for n in notifications for a in n["alerts"] if a["labels"].get("alertname") == RULE and a["status"] == status
    )


def summary(values: list[float]) -> dict[str, Any]:
    """Count, p50, p99 and max of latencies (seconds)."""
    return {"n": len(values), "p50_s": percentile(values, 50), "p99_s": percentile(values, 99),
            "max_s": max(values, default=None)}  # fmt: skip


def wait_notified(webhook: WebhookRecorder, status: str, count: int, timeout: float) -> float | None:
    """Block until the ``count``-th ``status`` notification has arrived; return the time it was seen (Unix), or
    None if it did not come within ``timeout`` seconds."""
    try:
        webhook.wait_for(lambda ns: notified(ns, status) >= count, timeout)
    except AssertionError:
        return None
    return time.time()


class AlertingBench:
    """The three workers, Alertmanager and the load on one broker and namespace; :meth:`run` measures it all."""

    def __init__(
        self, broker: LocalBroker, workdir: Path, *, rate: float, cycles: int, seconds: float, warmup: float,
        resource_keys: int, worker_env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.broker = broker
        self.kafka = KafkaSettings(bootstrap_servers=broker.bootstrap)
        self.workdir, self.rate, self.cycles, self.seconds, self.warmup = workdir, rate, cycles, seconds, warmup
        self.resource_keys = resource_keys
        self.worker_env = worker_env or {}
        run_id = uuid.uuid4().hex[:6]
        self.prefix = f"b{run_id}a"
        self.ns = KafkaSettings(bootstrap_servers=broker.bootstrap, namespace=f"b{run_id}al.")
        self.breach_topic = f"feed.{self.prefix}-breach"
        self.workers: dict[str, Worker] = {}

    # --- set-up -------------------------------------------------------------------------------------------------

    def _env(self, am_url: str) -> dict[str, str]:
        return {
            "TIENDO_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "TIENDO_NAMESPACE": self.ns.namespace,
            "TIENDO_DATA_DIR": str(self.workdir / "state"),
            "TIENDO_TOPIC_PATTERN": rf"feed\.{self.prefix}-.*",
            "TIENDO_METADATA_MAX_AGE_MS": "2000",
            "TIENDO_CLOCK": "event",
            "TIENDO_ALERTMANAGER_URLS": am_url,
            "TIENDO_LOG_LEVEL": "INFO",
            **self.worker_env,
        }

    def _load_plan(self, env: dict[str, str]) -> None:
        path = self.workdir / "plans.yaml"
        path.write_text(PLAN, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "services", "plans", "load", str(path)],
            cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"tiendo plans load failed: {done.stdout}{done.stderr}")

    @contextlib.contextmanager
    def _pipeline(self, background: list[str]) -> Iterator[WebhookRecorder]:
        """Topics, Alertmanager with its webhook, the plan and the three workers (ready); all stopped after."""
        asyncio.run(create_topics(self.ns, (UPDATES, DLQ, DEDUPE, TOTALS, PLANS, ALERTS)))
        feeds = [feed_topic(t) for t in sorted({*background, self.breach_topic})]
        asyncio.run(create_topics(self.kafka, feeds, namespaced=False))
        home = self.workdir / "alertmanager"
        home.mkdir(parents=True)
        with running_alertmanager(home, ALERTMANAGER_CONFIG) as (manager, webhook):
            env = self._env(manager.url)
            self._load_plan(env)
            self.workers = {n: Worker(n, env, self.workdir / f"{n}.log", free_port()) for n in WORKERS}
            try:
                for worker in self.workers.values():
                    worker.start()
                for worker in self.workers.values():
                    worker.wait_ready(timeout=240)
                yield webhook
            finally:
                for worker in self.workers.values():
                    worker.stop()

    def describe(self) -> str:
        return "\n".join(f"--- {n} ---\n{w.tail(1500)}" for n, w in self.workers.items())

    # --- measurements -------------------------------------------------------------------------------------------

    def _memory(self) -> dict[str, Any]:
        """RSS of each worker; what ingest and aggregate processed, their lags and the aggregate's series."""
        out: dict[str, Any] = {}
        for name, worker in self.workers.items():
            assert worker.proc is not None
            out[name] = memory_mb(worker.proc.pid)
            if name in PROCESSED:  # the alert worker has no lag gauge
                samples = metric_samples(worker)
                out[name]["processed"] = metric_sum(samples, PROCESSED[name])
                out[name]["lag"] = metric_sum(samples, f"tiendo_{name}_consumer_lag_messages")
                if name == "aggregate":
                    out[name]["state_keys"] = metric_sum(samples, STATE_KEYS)
        return out

    def _load_series(self) -> dict[str, Any]:
        """``resource_keys`` updates of as many series straight into indicator.updates, processed by aggregate and
        alert to the end; then the workers' memory."""
        n = self.resource_keys
        topic = self.ns.topic(UPDATES.name)
        messages = [(topic, k, v) for k, v in encoded(generate_updates(n, n, resend=0, correct=0))]
        cpu = self._alert_cpu()
        t0 = time.monotonic()
        asyncio.run(publish(self.ns, messages))
        del messages
        for name, group, topics in (
            ("aggregate", AGGREGATE_GROUP, (UPDATES,)),
            ("alert", ALERT_GROUP, ALERT_INPUTS),
        ):
            worker = self.workers[name]
            target = sum(asyncio.run(end_offsets(self.ns, [self.ns.topic(t.name) for t in topics])).values())
            wait_committed(
                self.kafka, f"{self.ns.namespace}{group}", target, timeout=120 + n / 100,
                alive=lambda w=worker: w.proc is not None and w.proc.poll() is None, tail=self.describe,
            )  # fmt: skip
        seconds = time.monotonic() - t0
        alert_cpu = self._alert_cpu(cpu)
        self._wait_counted(n)
        log.info("alerting: %d series through aggregate and alert in %.0fs; alert %s", n, seconds, alert_cpu)
        return {"keys": n, "seconds": round(seconds, 1), "workers": self._memory(), "alert_cpu": alert_cpu}

    def _alert_cpu(self, since: dict[str, Any] | None = None) -> dict[str, Any]:
        """The alert worker's CPU seconds and the totals on ``indicator.totals`` now; with ``since``, what it used
        per total between the two (every total consumed: its group committed them all first)."""
        worker = self.workers["alert"]
        assert worker.proc is not None
        totals = sum(asyncio.run(end_offsets(self.ns, [self.ns.topic(TOTALS.name)])).values())
        if since is not None:
            target = sum(asyncio.run(end_offsets(self.ns, [self.ns.topic(t.name) for t in ALERT_INPUTS])).values())
            wait_committed(
                self.kafka, f"{self.ns.namespace}{ALERT_GROUP}", target, timeout=300,
                alive=lambda: worker.proc is not None and worker.proc.poll() is None, tail=self.describe,
            )  # fmt: skip
        now = {"cpu_s": cpu_seconds(worker.proc.pid), "totals": totals}
        if since is None:
            return now
        cpu, count = now["cpu_s"] - since["cpu_s"], now["totals"] - since["totals"]
        return {"cpu_s": round(cpu, 2), "totals": count, "cpu_per_total_ms": round(1000 * cpu / max(count, 1), 4)}

    def _wait_counted(self, keys: int, timeout: float = 60) -> None:
        """Wait until the aggregate worker's series gauge (set every 15 s) shows ``keys``."""
        deadline = time.monotonic() + timeout
        while metric_sum(metric_samples(self.workers["aggregate"]), STATE_KEYS) < keys:
            if time.monotonic() > deadline:
                log.warning("alerting: the aggregate worker's series gauge is below %d after %.0fs", keys, timeout)
                return
            time.sleep(1)

    async def _cycles(self, webhook: WebhookRecorder) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Breach → page, recover → resolved, until ``cycles`` are done or ``seconds`` have passed: the latencies
        of each cycle begun, and the notification still awaited when time ran out (a latency above ``waited_s``)."""
        p = producer(self.kafka, linger_ms=0)
        await p.start()
        event_id = f"{self.prefix}-lang-son-2025"
        deadline = time.monotonic() + self.seconds
        samples: list[dict[str, Any]] = []
        try:
            for i in range(self.cycles):
                sample: dict[str, Any] = {"cycle": i}
                for revision, value, status in ((2 * i, BREACH_BN, "firing"), (2 * i + 1, RECOVER_BN, "resolved")):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return samples, None
                    sent = await p.send_and_wait(self.breach_topic, reading(event_id, revision, value))
                    if sent.timestamp_type != 1:
                        raise RuntimeError(f"{self.breach_topic}: no broker append time")
                    seen = await asyncio.to_thread(wait_notified, webhook, status, i + 1, left)
                    if seen is None:
                        log.warning("alerting: no %s notification %.0fs after the event: cycles stop", status, left)
                        return samples, {"cycle": i, "status": status, "waited_s": round(left, 1)}
                    sample[status] = round(seen - sent.timestamp / 1000 - GROUP_WAIT_S, 3)
                    sample[f"{status}_event_at"] = sent.timestamp / 1000
                    if status == "firing":
                        samples.append(sample)
                log.info(
                    "alerting: cycle %d paged after %.3fs, resolved after %.3fs",
                    i,
                    sample["firing"],
                    sample["resolved"],
                )
        finally:
            await p.stop()
        return samples, None

    async def _under_load(
        self, webhook: WebhookRecorder, background: list[tuple[str, bytes | None, bytes]]
    ) -> dict[str, Any]:
        topics = sorted({t for t, _, _ in background})
        before = sum((await end_offsets(self.kafka, topics)).values())
        cpu = await asyncio.to_thread(self._alert_cpu)
        t0 = time.monotonic()
        load = asyncio.create_task(publish_paced(self.kafka, background, self.rate))
        await asyncio.sleep(self.warmup)
        try:
            samples, unfinished = await self._cycles(webhook)
        finally:
            load.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load
        elapsed = time.monotonic() - t0
        sent = sum((await end_offsets(self.kafka, topics)).values()) - before
        alert_cpu = await asyncio.to_thread(self._alert_cpu, cpu)
        log.info("alerting: under load, alert %s", alert_cpu)
        return {
            "alert_cpu": alert_cpu,
            "samples": samples,
            "unfinished": unfinished,
            "background_events": sent,
            "background_seconds": round(elapsed, 1),
            "achieved_rate": round(sent / elapsed, 1),
        }

    def _decided(self, samples: list[dict[str, Any]]) -> None:
        """Add to each notification of the samples the part of its latency until the alert worker decided: the
        broker append time of its record on the alerts topic (one ``fired`` and one ``resolved`` per cycle)."""
        records = asyncio.run(read_all(self.ns, [self.ns.topic(ALERTS.name)]))
        decided: dict[str, list[float]] = {"firing": [], "resolved": []}
        for r in sorted(records, key=lambda r: r.offset):
            history = orjson.loads(r.value)
            if history["alert"]["key"]["rule"] == RULE and history["event"] in ("fired", "resolved"):
                decided["firing" if history["event"] == "fired" else "resolved"].append(r.timestamp / 1000)
        for sample in samples:
            for status, times in decided.items():
                if status in sample and sample["cycle"] < len(times):
                    sample[f"{status}_decided"] = round(times[sample["cycle"]] - sample[f"{status}_event_at"], 3)

    # --- the whole benchmark ------------------------------------------------------------------------------------

    def run(self, recovery: dict[str, Any] | None = None) -> dict[str, Any]:
        n = int(self.rate * (self.warmup + self.seconds))
        background = [(m.topic, None, m.value) for m in feed_events(n, self.prefix, seed=7)]
        out: dict[str, Any] = {
            "rate": self.rate,
            "cycles_wanted": self.cycles,
            "seconds": self.seconds,
            "warmup_s": self.warmup,
            "plan": {"as_of": AS_OF, "breach_bn": BREACH_BN, "recover_bn": RECOVER_BN},
            "alertmanager": {"group_wait_s": GROUP_WAIT_S, "group_interval": GROUP_INTERVAL},
        }
        with self._pipeline([t for t, _, _ in background]) as webhook:
            out["memory_loaded"] = self._load_series()
            out.update(asyncio.run(self._under_load(webhook, background)))
            out["memory_end"] = self._memory()
        del background
        self._decided(out["samples"])
        for status in ("firing", "resolved"):
            out[status] = summary([s[status] for s in out["samples"] if status in s])
            out[f"{status}_decided"] = summary(
                [s[f"{status}_decided"] for s in out["samples"] if f"{status}_decided" in s]
            )
        log.info("alerting: event → page %s; achieved background %s/s", out["firing"], out["achieved_rate"])
        out["recovery_from_aggregate"] = recovery is not None
        if recovery is None:
            aggregate = AggregateBench(self.broker, self.workdir / "recovery", self.resource_keys, 1, 0.0,
                                       recovery_keys=self.resource_keys)  # fmt: skip
            (self.workdir / "recovery").mkdir()
            recovery = aggregate.run_recovery()
        out["recovery"] = recovery
        return out
