"""Prometheus metrics of the ingest worker."""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.metrics import WorkerMetrics
from shared.normalise import Reason, Triage


class IngestMetrics:
    """``tiendo_ingest_*``: outcomes, reasons, per-province counts and freshness, latency, lag."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.worker = WorkerMetrics("ingest", registry)
        self.events = Counter(
            "tiendo_ingest_events_total", "Feed events processed, by outcome.", ["outcome"], registry=registry
        )
        self.rejections = Counter(
            "tiendo_ingest_rejections_total",
            "Events sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.corrections = Counter(
            "tiendo_ingest_corrections_total", "Accepted events that correct an earlier revision.", registry=registry
        )
        self.accepted_by_province = Counter(
            "tiendo_ingest_province_accepted_total",
            "Accepted events per province code (the unit valid on the event's date; at most 97 codes).",
            ["province"],
            registry=registry,
        )
        self.last_event = Gauge(
            "tiendo_ingest_province_last_event_timestamp_seconds",
            "Broker time of the latest accepted event per province code (feed freshness).",
            ["province"],
            registry=registry,
        )
        self.dedupe_keys = Gauge("tiendo_ingest_dedupe_keys", "Event ids held in the dedupe state.", registry=registry)
        self.dedupe_max_keys = Gauge(
            "tiendo_ingest_dedupe_max_keys",
            "Most event ids the dedupe state remembers (TIENDO_DEDUPE_MAX_IDS); new ids beyond are dead-lettered.",
            registry=registry,
        )
        for outcome in ("accepted", "duplicate", "rejected"):
            self.events.labels(outcome)
        for reason in Reason:
            self.rejections.labels(reason.value)

    def observe_batch(self, result: Triage) -> None:
        """Count one processed batch (the batch worker observes its size and latency)."""
        self.events.labels("accepted").inc(len(result.accepted))
        self.events.labels("duplicate").inc(len(result.duplicates))
        self.events.labels("rejected").inc(len(result.rejected))
        for reason, n in Tally(r.reason.value for _, r in result.rejected).items():
            self.rejections.labels(reason).inc(n)
        corrections = 0
        for _, update, seen in result.accepted:
            corrections += seen == "correction"
            self.accepted_by_province.labels(update.province_code).inc()
            self.last_event.labels(update.province_code).set(update.received_at.timestamp())
        self.corrections.inc(corrections)
