"""The pipeline job written three other ways, as yardsticks for tiendo (``bench.pipeline``).

Each peer reads the feed topics, normalises and deduplicates every event (``shared.normalise.triage``), aggregates
the updates into series states (``shared.aggregation.apply_batch``) and publishes the same ``indicator.totals``
messages as the aggregate worker (``bench.raw_aggregate.totals_messages``), dead letters to ``indicator.dlq``: only
the plumbing differs. Each runs as ``python -m bench.peers.<name> CONFIG.json`` until terminated; the benchmark
measures it from outside (committed offsets, output timestamps, /proc). CONFIG holds ``bootstrap``,
``namespace``, ``feeds`` (topic names), ``partitions``, ``index`` (of the process, 0 to partitions − 1),
``data_dir`` and ``web_port``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from shared.aggregation import SeriesState


def load_config() -> dict[str, Any]:
    """The peer's configuration: the JSON file named by the first argument."""
    return orjson.loads(Path(sys.argv[1]).read_bytes())


def through(
    states: dict[str, SeriesState], load: Callable[[str], SeriesState | None]
) -> Callable[[str], SeriesState | None]:
    """A state lookup for ``totals_messages``: the ones the update just changed, else the store."""
    return lambda key: states.get(key) or load(key)
