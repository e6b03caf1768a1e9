"""Settings of the aggregate worker (flags or ``TIENDO_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field

from shared.faustapp import WorkerSettings


class AggregateSettings(WorkerSettings):
    web_port: int = Field(6067, ge=1, le=65535, description="HTTP port for the totals API, /metrics and /health.")
    state_cache_series: int = Field(
        20_000, ge=0, le=10_000_000, description="Series states kept decoded in memory (the rest stay in RocksDB)."
    )
