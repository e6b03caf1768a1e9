"""The normalised indicator update: what ingest publishes to ``indicator.updates`` and aggregate consumes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import orjson

Mode = Literal["delta", "ytd"]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the feed event was read: kept for tracing an update back to its source message."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class IndicatorUpdate:
    """One validated, normalised feed event.

    ``unit`` identifies the province unit valid on ``as_of`` (see ``Province.uid``): the pre-merger unit
    for dates before 2025-07-01. ``current_code`` is the post-merger province it rolls up to.
    """

    event_id: str
    revision: int
    publisher: str
    unit: str
    province_code: str
    current_code: str
    indicator: str
    mode: Mode
    value: Decimal
    as_of: datetime
    year: int
    quarter: int
    source: str | None
    origin: Origin
    received_at: datetime

    @property
    def identity(self) -> str:
        """Event identity for deduplication: event ids are unique per publisher."""
        return f"{self.publisher}/{self.event_id}"

    @property
    def key(self) -> bytes:
        """Partition key: the current province and indicator. Every update of a unit and indicator lands in one
        partition, in order, together with those of the other units that roll up into the same province, so an
        aggregate replica holds all it needs for the post-merger view."""
        return f"{self.current_code}|{self.indicator}".encode()

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "revision": self.revision,
            "publisher": self.publisher,
            "unit": self.unit,
            "province_code": self.province_code,
            "current_code": self.current_code,
            "indicator": self.indicator,
            "mode": self.mode,
            "value": format(self.value, "f"),
            "as_of": self.as_of.isoformat(),
            "year": self.year,
            "quarter": self.quarter,
            "source": self.source,
            "origin": {
                "topic": self.origin.topic,
                "partition": self.origin.partition,
                "offset": self.origin.offset,
            },
            "received_at": self.received_at.isoformat(),
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IndicatorUpdate:
        o = d["origin"]
        return cls(
            event_id=d["event_id"],
            revision=int(d["revision"]),
            publisher=d["publisher"],
            unit=d["unit"],
            province_code=d["province_code"],
            current_code=d["current_code"],
            indicator=d["indicator"],
            mode=d["mode"],
            value=Decimal(d["value"]),
            as_of=datetime.fromisoformat(d["as_of"]),
            year=int(d["year"]),
            quarter=int(d["quarter"]),
            source=d.get("source"),
            origin=Origin(o["topic"], int(o["partition"]), int(o["offset"])),
            received_at=datetime.fromisoformat(d["received_at"]),
        )

    @classmethod
    def decode(cls, raw: bytes) -> IndicatorUpdate:
        return cls.from_dict(orjson.loads(raw))
