"""Prometheus metrics of the aggregate worker."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.aggregation import BatchResult, Outcome, QuarterTotal
from shared.metrics import WorkerMetrics


class AggregateMetrics:
    """``tiendo_aggregate_*``: outcomes, state size, recovery time, latency, lag, year-to-date per province."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.worker = WorkerMetrics("aggregate", registry)
        self.updates = Counter(
            "tiendo_aggregate_updates_total",
            "Updates by outcome: applied, correction, duplicate (ignored), overflow (series full), "
            "retracted (a correction moved it to another series), implausible (dead-lettered), rejected.",
            ["outcome"],
            registry=registry,
        )
        self.keys = Gauge("tiendo_aggregate_state_keys", "Series (unit, indicator, year) in state.", registry=registry)
        self.recovery = Gauge(
            "tiendo_aggregate_recovery_duration_seconds",
            "Seconds from worker start until the state of its first assigned partitions was recovered.",
            registry=registry,
        )
        self.totals_published = Counter(
            "tiendo_aggregate_totals_published_total", "Quarter totals sent to indicator.totals.", registry=registry
        )
        self.ytd = Gauge(
            "tiendo_aggregate_year_to_date",
            "Year-to-date value of the latest quarter per current province and indicator, in the base unit.",
            ["province", "indicator", "base_unit"],
            registry=registry,
        )
        self.ytd_year = Gauge(
            "tiendo_aggregate_year_to_date_year",
            "The year that tiendo_aggregate_year_to_date refers to.",
            ["province", "indicator"],
            registry=registry,
        )
        self._latest_year: dict[tuple[str, str], int] = {}
        for outcome in (*Outcome, "rejected"):
            self.updates.labels(str(outcome))

    def observe_batch(self, result: BatchResult) -> None:
        for outcome, n in result.counts.items():
            self.updates.labels(str(outcome)).inc(n)
        self.updates.labels("rejected").inc(len(result.rejected))

    def observe_current(self, totals: list[QuarterTotal]) -> None:
        """Track the latest year's latest quarter of each rolled-up (current province) series."""
        for total in totals:  # sorted by year and quarter: the last one of a series wins
            series = (total.current_code, total.indicator)
            if total.year < self._latest_year.get(series, 0):
                continue
            self._latest_year[series] = total.year
            self.ytd_year.labels(*series).set(total.year)
            self.ytd.labels(*series, total.base_unit).set(float(total.ytd))
