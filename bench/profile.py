"""Summaries of a ``py-spy record --format raw`` profile (collapsed stacks: ``frame;frame;... count``, root first;
plain or gzipped).

Frames read ``function (path:line)``; time spent in C code (orjson, RocksDB, Decimal) is charged to the Python
line that called it, which the self-time table shows with its line number. py-spy samples wall-clock time of
threads that are not idle in a system call, so on a busy machine a runnable thread waiting for a core is counted.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path
from typing import Any

#: Inclusive shares worth knowing for the aggregate worker: label → frame substrings. ``a|b`` matches a stack with
#: a frame containing ``a`` or ``b``; ``a!c`` one with a frame containing ``a`` and none containing ``c``.
AGGREGATE_PARTS: tuple[tuple[str, str], ...] = (
    ("a batch (services/aggregate/batches.py)", "process (services/aggregate/batches.py"),
    ("  IndicatorUpdate.decode", "decode (shared/updates.py"),
    ("  apply_batch (aggregation, incl. loading states)", "apply_batch (shared/aggregation.py"),
    ("    state read: RocksDB get → SeriesState.from_dict", "decode_state (services/aggregate/store.py"),
    ("  current view (rollup of merged provinces)", "_current_totals (services/aggregate/batches.py"),
    ("  totals messages (quarter_total, to_dict, orjson, send)", "_publish_totals (services/aggregate/batches.py"),
    ("  changelog and RocksDB writes (to_dict, send, put)", "_save (services/aggregate/batches.py"),
    ("  Prometheus metrics", "prometheus_client/"),
    ("aiokafka: consumer fetch (getmany)", "getmany (aiokafka/consumer/consumer.py|aiokafka/consumer/fetcher.py"),
    ("aiokafka: producer.send (totals and changelog)", "send (aiokafka/producer/producer.py"),
    ("aiokafka: sender and connections", "aiokafka/producer/sender.py|aiokafka/conn.py"),
    ("Faust (HTTP server, timers, its idle consumer)", "faust/|mode/"),
)  # fmt: skip

_TASK_ROOT = "Handle._run (asyncio/events.py"


def _matches(spec: str, frames: list[str]) -> bool:
    wanted, _, unless = spec.partition("!")
    found = any(needle in f for needle in wanted.split("|") for f in frames)
    return found and not (unless and any(needle in f for needle in unless.split("|") for f in frames))


def _component(frame: str) -> str:
    path = frame[frame.rfind("(") + 1 :]
    for prefix in ("shared/", "services/", "faust/", "mode/", "aiokafka/", "prometheus_client/", "asyncio/", "bench/"):
        if path.startswith(prefix) or f"/{prefix}" in path:
            return prefix.rstrip("/")
    return "other"


def _task(frames: list[str]) -> str:
    """What the event loop was running: the frame called by ``Handle._run``, or the loop's own code."""
    for i, frame in enumerate(frames):
        if frame.startswith(_TASK_ROOT):
            return re.sub(r":\d+\)$", ")", frames[i + 1]) if i + 1 < len(frames) else "event loop (Handle._run)"
    return "event loop (select, scheduling)"


def summarise(path: Path, parts: tuple[tuple[str, str], ...] = AGGREGATE_PARTS, top: int = 25) -> dict[str, Any]:
    """Sample count, inclusive shares of ``parts``, shares by event-loop task, self time by component and the top
    self-time lines."""
    stacks: list[tuple[list[str], int]] = []
    data = path.read_bytes()
    text = (gzip.decompress(data) if path.suffix == ".gz" else data).decode(errors="replace")
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    total = sum(n for _, n in stacks) or 1
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    by_component: Counter[str] = Counter()
    by_task: Counter[str] = Counter()
    for frames, n in stacks:
        for label, spec in parts:
            if _matches(spec, frames):
                inclusive[label] += n
        own[frames[-1]] += n
        by_component[_component(frames[-1])] += n
        by_task[_task(frames)] += n

    def pct(n: int) -> float:
        return round(100 * n / total, 1)

    return {
        "samples": total,
        "inclusive_pct": {label: pct(inclusive[label]) for label, _ in parts},
        "by_task_pct": [(task, pct(n)) for task, n in by_task.most_common(10)],
        "self_pct_by_component": {k: pct(v) for k, v in by_component.most_common()},
        "top_self_pct": [(frame, pct(n)) for frame, n in own.most_common(top)],
    }
