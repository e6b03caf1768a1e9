"""Dead-letter records: the original bytes of a rejected event, where it came from, and why."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from shared.updates import Origin

#: Largest original key or value a dead letter carries. A bigger one is left out (its size is kept in
#: ``key_omitted``/``value_omitted``; the bytes stay at ``origin`` in the feed topic), so that a letter always fits
#: the broker's default 1 MB message limit, even with every byte escaped in JSON (up to 6 bytes each) and the key
#: repeated as the record key. Without the bound one 1 MB event of binary or control bytes made a letter the broker
#: refused, which crashed the ingest worker on every restart (it re-reads the event).
MAX_KEPT_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected event as stored in ``indicator.dlq``."""

    reason: str
    message: str
    origin: Origin
    key: bytes | None
    value: bytes | None
    received_at: datetime
    rejected_at: datetime
    key_omitted: int | None = None
    """Size of the original key when it was too large to keep (``key`` is then None)."""
    value_omitted: int | None = None
    """Size of the original value when it was too large to keep (``value`` is then None)."""

    @classmethod
    def bounded(
        cls,
        reason: str,
        message: str,
        origin: Origin,
        *,
        key: bytes | None,
        value: bytes | None,
        received_at: datetime,
        rejected_at: datetime,
    ) -> DeadLetter:
        """A letter with the original key and value, each left out when larger than ``MAX_KEPT_BYTES``."""
        key_omitted = len(key) if key is not None and len(key) > MAX_KEPT_BYTES else None
        value_omitted = len(value) if value is not None and len(value) > MAX_KEPT_BYTES else None
        return cls(
            reason,
            message,
            origin,
            None if key_omitted is not None else key,
            None if value_omitted is not None else value,
            received_at,
            rejected_at,
            key_omitted,
            value_omitted,
        )

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "reason": self.reason,
                "message": self.message,
                "origin": {
                    "topic": self.origin.topic,
                    "partition": self.origin.partition,
                    "offset": self.origin.offset,
                },
                **_bytes_field("key", self.key),
                **_bytes_field("value", self.value),
                "received_at": self.received_at.isoformat(),
                "rejected_at": self.rejected_at.isoformat(),
                **({} if self.key_omitted is None else {"key_omitted": self.key_omitted}),
                **({} if self.value_omitted is None else {"value_omitted": self.value_omitted}),
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> DeadLetter:
        d = orjson.loads(raw)
        o = d["origin"]
        return cls(
            reason=d["reason"],
            message=d["message"],
            origin=Origin(o["topic"], int(o["partition"]), int(o["offset"])),
            key=_bytes_from(d, "key"),
            value=_bytes_from(d, "value"),
            received_at=datetime.fromisoformat(d["received_at"]),
            rejected_at=datetime.fromisoformat(d["rejected_at"]),
            key_omitted=d.get("key_omitted"),
            value_omitted=d.get("value_omitted"),
        )


def _bytes_field(name: str, data: bytes | None) -> dict[str, Any]:
    """Original bytes as text when they are UTF-8, else base64 under ``<name>_base64``."""
    if data is None:
        return {name: None}
    try:
        return {name: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{name}_base64": base64.b64encode(data).decode("ascii")}


def _bytes_from(d: dict[str, Any], name: str) -> bytes | None:
    if (b64 := d.get(f"{name}_base64")) is not None:
        return base64.b64decode(b64)
    text = d.get(name)
    return None if text is None else text.encode("utf-8")
