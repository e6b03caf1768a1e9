"""Settings of the ingest worker (flags or ``TIENDO_*`` environment variables)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from shared.faustapp import WorkerSettings
from shared.topics import FEED_PATTERN


class IngestSettings(WorkerSettings):
    web_port: int = Field(6066, ge=1, le=65535, description="HTTP port for /metrics and /health.")
    topic_pattern: str = Field(FEED_PATTERN, description="Regular expression of the feed topics to consume.")
    dedupe_retention_days: int = Field(
        400, ge=1, description="How long an event id is remembered for deduplication (days since last seen)."
    )
    dedupe_max_ids: int = Field(
        1_000_000,
        ge=1,
        description="Most event ids the dedupe state remembers (about 200 bytes of memory each); a new id beyond "
        "it is dead-lettered as dedupe_full, to replay once expired ids make room.",
    )

    @field_validator("topic_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value
