"""Prometheus helpers shared by the workers: one registry per worker, served with health on its HTTP port."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import faust
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

#: Buckets (seconds) for event processing and end-to-end latencies: 1 ms to 2 min.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
#: Buckets for batch sizes (events).
BATCH_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000)
PROMETHEUS_TEXT = "text/plain; version=0.0.4"


def metric_sum(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """Sum of the samples named ``name`` whose labels include ``labels``, in a Prometheus text exposition."""
    wanted = (labels or {}).items()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in wanted)
    )


class WorkerMetrics:
    """Metrics every worker exposes, prefixed ``tiendo_<worker>_``."""

    def __init__(self, worker: str, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.started = Gauge(f"tiendo_{worker}_start_time_seconds", "Unix time the worker started.", registry=registry)
        self.started.set(time.time())
        self.batch_size = Histogram(
            f"tiendo_{worker}_batch_size_events",
            "Events per processed batch.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.latency = Histogram(
            f"tiendo_{worker}_processing_latency_seconds",
            "Time from the broker receiving an event to its outputs being acknowledged.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.fenced = Counter(
            f"tiendo_{worker}_fenced_batches",
            "Batches whose transaction Kafka refused because a newer owner of the input partition took over.",
            registry=registry,
        )
        self.lag = Gauge(
            f"tiendo_{worker}_consumer_lag_messages",
            "Messages not yet processed, per input topic partition.",
            ["topic", "partition"],
            registry=registry,
        )

    def record_lag(self, highwater: Callable[[Any], int | None], positions: dict[Any, int]) -> None:
        """Set lag = high watermark − next offset to process, for each partition in ``positions``."""
        for tp, next_offset in positions.items():
            end = highwater(tp)
            if end is not None:
                self.lag.labels(tp.topic, str(tp.partition)).set(max(0, end - next_offset))


def add_http_endpoints(
    app: faust.App, registry: CollectorRegistry, *, joined: Callable[[], bool], ready: Callable[[], bool]
) -> None:
    """Serve ``/metrics`` (Prometheus text) and ``/health`` (200 when ``ready()``, 503 before) on the app's web port;
    ``joined()`` says the worker's input consumer has joined its group (``shared.batchworker.BatchWorker``)."""

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(registry), content_type=PROMETHEUS_TEXT)

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        up = ready()
        body = {"status": "ready" if up else "starting", "recovered": up, "assigned": joined()}
        return web.json(body, status=200 if up else 503)
