"""Dead-letter records: the original bytes of a rejected event, where it came from, and why."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from shared.updates import Origin


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
