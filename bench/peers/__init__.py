"""The pipeline job written three other ways, as yardsticks for tiendo (``bench.pipeline``); see README.md here.

Each peer reads the feed topics, normalises and deduplicates every event (``shared.normalise.triage``), publishes
its update (and, after a correction that moves an event to another series, the retraction ingest sends) to
``indicator.updates`` and its dead letter to ``indicator.dlq``, aggregates the updates into quarterly totals and
publishes the same ``indicator.totals`` messages as the aggregate worker: only the plumbing and the shape of the
state differ. Each runs as ``python -m bench.peers.<name> CONFIG.json`` until terminated; the benchmark measures it
from outside (committed offsets, output timestamps, /proc). CONFIG holds ``bootstrap``, ``namespace``, ``feeds``
(topic names), ``partitions``, ``index`` (of the process, 0 to partitions − 1), ``data_dir`` and ``web_port``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from shared.deadletter import DeadLetter
from shared.normalise import RawEvent, triage
from shared.updates import IndicatorUpdate, Retraction, moved_contributions


def load_config() -> dict[str, Any]:
    """The peer's configuration: the JSON file named by the first argument."""
    return orjson.loads(Path(sys.argv[1]).read_bytes())


@dataclass
class Ingested:
    """What one feed event gives: its update and retraction (in this order), its dead letter, what to remember."""

    updates: list[IndicatorUpdate | Retraction] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    remember: dict[str, list[Any]] = field(default_factory=dict)
    """identity → ``[revision, routing]``: one small dedupe value per event identity."""


def ingest_one(raw: RawEvent, key: bytes | None, seen: Callable[[str], list[Any] | None]) -> Ingested:
    """The ingest worker's work on one event, with its dedupe state read through ``seen`` (identity →
    ``[revision, routing]`` or None)."""
    result = triage([raw], lambda identity: None if (found := seen(identity)) is None else int(found[0]), room=1)
    out = Ingested()
    for _, update, _ in result.accepted:
        out.updates.append(update)
        for _, retraction in moved_contributions([update], lambda i: None if (f := seen(i)) is None else f[1]):
            out.updates.append(retraction)
        out.remember[update.identity] = [update.revision, update.routing]
    for _, rejection in result.rejected:
        letter = DeadLetter.bounded(
            rejection.reason, rejection.message, raw.origin, key=key, value=raw.value,
            received_at=raw.received_at, rejected_at=datetime.now(UTC),
        )  # fmt: skip
        out.dead_letters.append(letter)
    return out


def decode_update(value: dict[str, Any]) -> IndicatorUpdate | Retraction:
    """An ``indicator.updates`` value read by the library's JSON deserialiser."""
    return Retraction.from_dict(value) if value.get("retract") is True else IndicatorUpdate.from_dict(value)
