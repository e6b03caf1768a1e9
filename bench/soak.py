"""``python -m bench.soak [--minutes 30] [--rate 2000]``: the real workers under a steady feed for a long while.

On its own broker (``bench.common.own_broker``) and a real Alertmanager (``tests.alertmanager``), ``tiendo
ingest``, ``tiendo aggregate`` and ``tiendo alert`` run as subprocesses (``tests.workers.Worker``) while realistic
feed events (``bench.data.feed_events``, every round of the block with new event ids) are published at ``rate``
events/s for ``minutes``. Every ``interval`` seconds each worker is sampled: RSS (``/proc``), CPU, consumer lag
(``tiendo_<worker>_consumer_lag_messages`` summed) and the p50/p99 of the processing latency observed since the
last sample (``tiendo_<worker>_processing_latency_seconds``, broker receipt → outputs acknowledged). The series go
to ``bench/results/<date>-<name>.json`` and a plot of RSS, lag and latency over time to ``…-<name>.png``.

Flat means flat: for each worker the medians of the last quarter of the samples are compared with those of the
second quarter (the first is warm-up); the verdict says how much RSS and lag grew.

The data (``--rounds``): the demo year repeats. With ``new-ids`` (the default) every round has new event ids, so
the series it feeds fill up to ``MAX_IDENTITIES`` event identities within minutes and the aggregate worker then
refuses new identities (``series_full`` dead letters), and ingest's dedupe state fills up to
``TIENDO_DEDUPE_MAX_IDS`` (a million ids, about nine minutes at 2,000 new ids/s) and then dead-letters new ids as
``dedupe_full``: the state bounds under a feed that never ends. With ``corrections`` every round corrects the same
identities (a higher revision), so the state stays the size of one round while every event is still accepted,
routed and replaced in its series: the steady state of real work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from itertools import count
from pathlib import Path
from typing import Any

import orjson

from bench.alerting import ALERTMANAGER_CONFIG
from bench.common import (
    create_topics,
    free_port,
    histogram,
    histogram_quantile,
    load_average,
    log,
    median,
    metric_samples,
    metric_sum,
    own_broker,
    producer,
    setup_logging,
)
from bench.data import feed_events
from bench.procstat import cpu_seconds, memory_mb
from shared.config import KafkaSettings
from shared.topics import ALERTS, DEDUPE, DLQ, PLANS, TOTALS, UPDATES, feed_topic
from tests.alertmanager import running_alertmanager
from tests.workers import ROOT, Worker

WORKERS = ("ingest", "aggregate", "alert")
RESULTS = ROOT / "bench" / "results"
_EVENT_ID = re.compile(rb'"event_id"\s*:\s*"')


def endless(prefix: str, rounds: str = "new-ids", block: int = 50_000) -> Iterator[tuple[str, bytes | None, bytes]]:
    """Feed messages without end: ``block`` events of ``feed_events``, then the same block again and again; each
    later round gives every valid event a round prefix in its id (``new-ids``: the identities never end) or a
    revision higher than the round before (``corrections``: the same identities, corrected every round). Broken
    events stay as they are."""
    base = feed_events(block, prefix)
    for round_ in count():
        for m in base:
            value = m.value
            if round_ and m.kind != "bad":
                if rounds == "new-ids":
                    value = _EVENT_ID.sub(lambda x, r=round_: x[0] + b"r%d-" % r, value, count=1)
                else:
                    event = orjson.loads(value)
                    event["revision"] = int(event.get("revision", 0)) + 100 * round_
                    value = orjson.dumps(event)
            yield m.topic, None, value


async def publish_steadily(kafka: KafkaSettings, prefix: str, rounds: str, rate: float, seconds: float) -> int:
    """Publish at ``rate`` messages/s for ``seconds`` (a slice every 10 ms); return how many were sent."""
    p = producer(kafka, linger_ms=5)
    await p.start()
    messages = endless(prefix, rounds)
    try:
        started, sent, pending = time.monotonic(), 0, []
        while (elapsed := time.monotonic() - started) < seconds:
            for _ in range(int(elapsed * rate) + 1 - sent):
                topic, key, value = next(messages)
                pending.append(await p.send(topic, value, key=key))
                sent += 1
            if len(pending) > 5000:
                await asyncio.gather(*pending)
                pending.clear()
            await asyncio.sleep(0.01)
        await asyncio.gather(*pending)
        return sent
    finally:
        await p.stop()


class Sampler:
    """Each worker's RSS, CPU, lag and latency since the previous sample."""

    def __init__(self, workers: dict[str, Worker]) -> None:
        self.workers = workers
        self.previous: dict[str, list[tuple[float, float]]] = {}
        self.cpu: dict[str, float] = {}
        self.series: list[dict[str, Any]] = []

    def sample(self, at: float) -> dict[str, Any]:
        point: dict[str, Any] = {"t": round(at, 1)}
        for name, worker in self.workers.items():
            assert worker.proc is not None
            pid = worker.proc.pid
            samples = metric_samples(worker)
            buckets = histogram(samples, f"tiendo_{name}_processing_latency_seconds")
            before = dict(self.previous.get(name, []))
            interval = [(le, n - before.get(le, 0.0)) for le, n in buckets]
            self.previous[name] = buckets
            cpu = cpu_seconds(pid)
            point[name] = {
                **memory_mb(pid),
                "cpu_s": round(cpu, 2),
                "cpu_share": round((cpu - self.cpu.get(name, cpu)) / max(at - self.series[-1]["t"], 1e-9), 3)
                if self.series
                else None,
                "lag": metric_sum(samples, f"tiendo_{name}_consumer_lag_messages"),
                "p50_s": histogram_quantile(interval, 0.5),
                "p99_s": histogram_quantile(interval, 0.99),
                "events": interval[-1][1] if interval else 0,
            }
            self.cpu[name] = cpu
        self.series.append(point)
        return point


def verdict(series: list[dict[str, Any]]) -> dict[str, Any]:
    """Per worker: medians of RSS, lag and p99 in the second quarter of the samples and in the last, and growth."""
    n = len(series)
    early, late = series[n // 4 : n // 2] or series[:1], series[3 * n // 4 :] or series[-1:]
    out: dict[str, Any] = {}
    for name in WORKERS:
        row: dict[str, Any] = {}
        for field in ("rss_mb", "lag", "p99_s"):
            a = median(p[name].get(field) for p in early)
            b = median(p[name].get(field) for p in late)
            row[field] = {"early": a, "late": b, "growth": round(b / a, 3) if a and b else None}
        out[name] = row
    return out


def plot(series: list[dict[str, Any]], title: str, path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - a bench dependency, only needed here

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    minutes = [p["t"] / 60 for p in series]
    fig, axes = plt.subplots(3, 1, figsize=(10, 10), sharex=True)
    for name, colour in zip(WORKERS, ("tab:blue", "tab:orange", "tab:green"), strict=True):
        axes[0].plot(minutes, [p[name].get("rss_mb") for p in series], color=colour, label=name)
        axes[1].plot(minutes, [p[name]["lag"] for p in series], color=colour, label=name)
        axes[2].plot(minutes, [p[name]["p99_s"] for p in series], color=colour, label=f"{name} p99")
        axes[2].plot(minutes, [p[name]["p50_s"] for p in series], color=colour, linestyle=":", label=f"{name} p50")
    labels = ("RSS (MB)", "consumer lag (messages)", "processing latency (s; 120 = the top bucket)")
    for ax, label in zip(axes, labels, strict=True):
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    axes[2].set_yscale("log")
    axes[2].set_xlabel("minutes")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = datetime.now()
    load_start = load_average()
    workdir = Path(tempfile.mkdtemp(prefix="tiendo-soak-"))
    with own_broker() as broker:
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap)
        prefix = f"soak{started:%H%M%S}"
        ns = KafkaSettings(bootstrap_servers=broker.bootstrap, namespace=f"{prefix}.")
        asyncio.run(create_topics(ns, (UPDATES, DLQ, DEDUPE, TOTALS, PLANS, ALERTS)))
        topics = sorted({m.topic for m in feed_events(5000, prefix)})
        asyncio.run(create_topics(kafka, [feed_topic(t) for t in topics], namespaced=False))
        home = workdir / "alertmanager"
        home.mkdir()
        with running_alertmanager(home, ALERTMANAGER_CONFIG) as (manager, _webhook):
            env = {
                "TIENDO_BOOTSTRAP_SERVERS": broker.bootstrap, "TIENDO_NAMESPACE": ns.namespace,
                "TIENDO_DATA_DIR": str(workdir / "state"), "TIENDO_TOPIC_PATTERN": rf"feed\.{prefix}-.*",
                "TIENDO_METADATA_MAX_AGE_MS": "2000", "TIENDO_CLOCK": "event", "TIENDO_ALERTMANAGER_URLS": manager.url,
                "TIENDO_LOG_LEVEL": "INFO",
            }  # fmt: skip
            workers = {n: Worker(n, env, workdir / f"{n}.log", free_port()) for n in WORKERS}
            try:
                for worker in workers.values():
                    worker.start()
                for worker in workers.values():
                    worker.wait_ready(timeout=240)
                sent, sampler = asyncio.run(soak(kafka, prefix, workers, args))
            finally:
                for worker in workers.values():
                    worker.stop()
    result = {
        "started": f"{started:%Y-%m-%d %H:%M}",
        "command": ".venv/bin/python -m bench.soak " + " ".join(sys.argv[1:]),
        "minutes": args.minutes,
        "rate": args.rate,
        "rounds": args.rounds,
        "sent": sent,
        "achieved_rate": round(sent / (args.minutes * 60), 1),
        "load_start": load_start,
        "load_end": load_average(),
        "verdict": verdict(sampler.series),
        "series": sampler.series,
        "workdir": str(workdir) if args.keep else None,
    }
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    stem = RESULTS / f"{started:%Y-%m-%d}-{args.name}"
    stem.with_suffix(".json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    plot(
        sampler.series,
        f"tiendo soak: {args.rate:,.0f} feed events/s for {args.minutes:g} min, {args.rounds} "
        f"({started:%Y-%m-%d}, load {load_start[0]:.1f} → {result['load_end'][0]:.1f} on 2 cores)",
        stem.with_suffix(".png"),
    )
    log.info("soak: %d events in %.0f min; %s; %s.json/.png", sent, args.minutes, result["verdict"], stem)
    return result


async def soak(
    kafka: KafkaSettings, prefix: str, workers: dict[str, Worker], args: argparse.Namespace
) -> tuple[int, Sampler]:
    """Publish for ``minutes`` while sampling every ``interval`` seconds."""
    sampler = Sampler(workers)
    started = time.monotonic()

    async def sample() -> None:
        while True:
            point = await asyncio.to_thread(sampler.sample, time.monotonic() - started)
            log.info("soak %.0fs: %s", point["t"], {n: (point[n].get("rss_mb"), point[n]["lag"]) for n in WORKERS})
            await asyncio.sleep(args.interval)

    task = asyncio.create_task(sample())
    try:
        sent = await publish_steadily(kafka, prefix, args.rounds, args.rate, args.minutes * 60)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return sent, sampler


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="How long to publish (2 for a smoke check).")
    parser.add_argument("--rate", type=float, default=2000.0, help="Feed events per second.")
    parser.add_argument("--interval", type=float, default=5.0, help="Seconds between samples.")
    parser.add_argument(
        "--rounds",
        choices=("new-ids", "corrections"),
        default="new-ids",
        help="Each repeat of the data: new event ids (the state bounds are reached) or corrections of the same ids "
        "(bounded state, every event still work).",
    )
    parser.add_argument("--name", default="soak", help="Results: bench/results/<date>-<name>.json and .png.")
    parser.add_argument("--keep", action="store_true", help="Keep the work folder (worker logs).")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.interval <= 0:
        raise SystemExit("--minutes, --rate and --interval must be positive")
    setup_logging()
    run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
