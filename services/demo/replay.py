"""Replaying feed history into the feed topics at N× speed, with event time preserved."""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from shared import kafkaclients
from shared.config import KafkaSettings
from shared.feedfiles import read_feed_file
from shared.vntime import DateError, parse_as_of

FEED_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv")


@dataclass(frozen=True, slots=True, order=True)
class Timed:
    """One feed message and the event time it is replayed at."""

    at: datetime
    seq: int
    topic: str
    value: bytes


def feed_files(source: Path) -> list[Path]:
    """A file, or every feed file in a folder (the topic is the file's name without its suffix)."""
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.suffix in FEED_SUFFIXES)
    return [source]


def _as_of(value: bytes) -> datetime | None:
    try:
        obj = orjson.loads(value)
        return parse_as_of(obj["as_of"]) if isinstance(obj, dict) and isinstance(obj.get("as_of"), str) else None
    except (orjson.JSONDecodeError, DateError):
        return None


def _file_timeline(path: Path, topic: str, start: int) -> Iterator[Timed]:
    """A file's messages in order, each at the latest event time seen so far in the file (never backwards):
    re-sends and corrections stay where the office sent them; a message without a date rides with its neighbours."""
    clock: datetime | None = None
    pending: list[tuple[int, bytes]] = []
    for n, record in enumerate(read_feed_file(path), start=start):
        as_of = _as_of(record.value)
        if as_of is not None and (clock is None or as_of > clock):
            clock = as_of
        if clock is None:
            pending.append((n, record.value))
            continue
        for m, value in pending:
            yield Timed(clock, m, topic, value)
        pending.clear()
        yield Timed(clock, n, topic, record.value)
    for m, value in pending:
        yield Timed(clock or datetime.min, m, topic, value)


def timeline(source: Path, topic_prefix: str = "") -> list[Timed]:
    """All messages of the feed files, merged in event-time order."""
    streams = [
        _file_timeline(path, topic_prefix + path.stem, i * 10_000_000) for i, path in enumerate(feed_files(source))
    ]
    return list(heapq.merge(*streams))


async def replay(
    settings: KafkaSettings,
    messages: list[Timed],
    speed: float | None,
    progress: Callable[[int], None] = lambda _n: None,
) -> int:
    """Publish the messages; with ``speed`` the gaps between event times are kept, divided by it."""
    producer = kafkaclients.producer(settings, "tiendo-replay")
    await producer.start()
    try:
        started, first = time.monotonic(), messages[0].at if messages else None
        pending: list[asyncio.Future[Any]] = []
        for n, msg in enumerate(messages, start=1):
            if speed and first is not None:
                due = started + (msg.at - first).total_seconds() / speed
                if (wait := due - time.monotonic()) > 0.002:
                    await asyncio.gather(*pending)
                    pending.clear()
                    progress(n - 1)
                    await asyncio.sleep(wait)
            pending.append(await producer.send(msg.topic, msg.value))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
                progress(n)
        await asyncio.gather(*pending)
        progress(len(messages))
        return len(messages)
    finally:
        await producer.stop()
