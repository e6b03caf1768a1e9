"""What ingest publishes to ``indicator.updates`` and aggregate consumes: normalised updates and retractions.

An event identity (``publisher/event_id``) owns exactly one contribution. A correction (a higher revision) that
moves the event to another series (another year, province unit or indicator) is published as the new update plus
a :class:`Retraction` keyed to the old series, which removes the old contribution there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import orjson
from aiokafka.partitioner import murmur2

from shared.contracts import series_key

Mode = Literal["delta", "ytd"]


def series_partition(current_code: str, indicator: str, partitions: int) -> int:
    """The partition of a (current province, indicator) on ``indicator.updates`` and on every topic co-partitioned
    with it (the series changelog, ``indicator.totals``): Kafka's default partitioner on the update key, so a worker
    owning a partition of one owns the same series on the others."""
    hashed: int = murmur2(f"{current_code}|{indicator}".encode())
    return (hashed & 0x7FFFFFFF) % partitions


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
    confirmed: bool = False
    """The publisher confirmed a value that looks implausible against its series (see ``shared.aggregation``)."""

    @property
    def identity(self) -> str:
        """Event identity for deduplication: event ids are unique per publisher."""
        return f"{self.publisher}/{self.event_id}"

    @property
    def series(self) -> str:
        """The aggregation series the update contributes to: ``unit|indicator|year`` (``year`` is the plan year)."""
        return series_key(self.unit, self.indicator, self.year)

    @property
    def routing(self) -> str:
        """Where the update's contribution lives: enough to retract it there later (see :class:`Retraction`)."""
        return f"{self.unit}|{self.province_code}|{self.current_code}|{self.indicator}|{self.year}"

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
            "confirmed": self.confirmed,
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
            confirmed=d.get("confirmed") is True,
        )

    @classmethod
    def decode(cls, raw: bytes) -> IndicatorUpdate:
        return cls.from_dict(orjson.loads(raw))


@dataclass(frozen=True, slots=True)
class Retraction:
    """Withdraws an identity's contribution from a series it no longer belongs to.

    Sent by ingest with a correction that moves an event to another series, keyed like the old series' updates so
    it lands in the same partition after them. Applying it removes the identity's contribution from the old series
    if the one there has a lower ``revision``; anything else (already removed, a newer revision moved back) is a
    no-op, so a redelivered retraction changes nothing.
    """

    publisher: str
    event_id: str
    revision: int
    unit: str
    province_code: str
    current_code: str
    indicator: str
    year: int
    received_at: datetime

    @classmethod
    def of(cls, routing: str, correction: IndicatorUpdate) -> Retraction:
        """The retraction of ``correction``'s earlier contribution, which lives at ``routing``."""
        unit, province_code, current_code, indicator, year = routing.split("|")
        return cls(
            correction.publisher,
            correction.event_id,
            correction.revision,
            unit,
            province_code,
            current_code,
            indicator,
            int(year),
            correction.received_at,
        )

    @property
    def identity(self) -> str:
        return f"{self.publisher}/{self.event_id}"

    @property
    def series(self) -> str:
        return series_key(self.unit, self.indicator, self.year)

    @property
    def key(self) -> bytes:
        return f"{self.current_code}|{self.indicator}".encode()

    def to_dict(self) -> dict[str, Any]:
        return {
            "retract": True,
            "publisher": self.publisher,
            "event_id": self.event_id,
            "revision": self.revision,
            "unit": self.unit,
            "province_code": self.province_code,
            "current_code": self.current_code,
            "indicator": self.indicator,
            "year": self.year,
            "received_at": self.received_at.isoformat(),
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Retraction:
        return cls(
            d["publisher"],
            d["event_id"],
            int(d["revision"]),
            d["unit"],
            d["province_code"],
            d["current_code"],
            d["indicator"],
            int(d["year"]),
            datetime.fromisoformat(d["received_at"]),
        )


def decode_message(raw: bytes) -> IndicatorUpdate | Retraction:
    """An ``indicator.updates`` value: a retraction (``"retract": true``) or an update."""
    data = orjson.loads(raw)
    if data.get("retract") is True:
        return Retraction.from_dict(data)
    return IndicatorUpdate.from_dict(data)


def moved_contributions(
    accepted: Iterable[IndicatorUpdate], routing_of: Callable[[str], str | None]
) -> list[tuple[int, Retraction]]:
    """The retractions a batch of accepted updates needs, with the position of the update each belongs to.

    ``routing_of`` tells where an identity's contribution lived before this batch (None: unknown or new). Updates
    are taken in order, so a batch holding two revisions of one identity retracts from the series of the earlier.
    """
    where: dict[str, str | None] = {}
    out: list[tuple[int, Retraction]] = []
    for position, update in enumerate(accepted):
        identity = update.identity
        before = where[identity] if identity in where else routing_of(identity)
        if before is not None and before != update.routing:
            out.append((position, Retraction.of(before, update)))
        where[identity] = update.routing
    return out
