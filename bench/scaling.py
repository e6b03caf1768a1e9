"""How the aggregate worker's cost grows with its state: updates/s and RSS at 10,000, 100,000 and 1,000,000 series.

Per point (own namespace, ``AggregateBench.run_worker``): ``keys`` updates of as many series (each a new series:
the state grows from nothing to ``keys``) followed by ``extra`` more updates spread over those series, pre-loaded
into ``indicator.updates``. A point stops when its input is processed or ``budget`` seconds after it started
making progress, so a large point may end before all its series are in state: the series it reached
(min(updates processed, keys): the first ``keys`` updates are each a new series) are reported and plotted, with
the worker's ``tiendo_aggregate_state_keys`` gauge (counted every 15 s, so it may lag behind). Updates/s is the
aggregate benchmark's figure (first to last total by broker append time, over the whole point: growth and
updates at full size); RSS is read at the end, peak RSS is the process's high-water mark. The table goes to
``bench/RESULTS.md``, the plot to ``bench/scaling.png``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench.aggregate import AggregateBench
from bench.common import log
from bench.data import encoded, generate_updates
from services.localkafka import LocalBroker

PLOT = Path(__file__).resolve().parent / "scaling.png"


class ScalingBench:
    """One aggregate run per size (``AggregateBench.run_worker``), on one broker."""

    def __init__(self, broker: LocalBroker, workdir: Path, keys: list[int], extra: int, budget: float) -> None:
        self.keys, self.extra, self.budget = keys, extra, budget
        self.aggregate = AggregateBench(broker, workdir, extra, 1, budget)

    def run_point(self, keys: int) -> dict[str, Any]:
        t = time.monotonic()
        messages = encoded(generate_updates(keys + self.extra, keys, resend=0, correct=0))
        log.info("scaling: %d updates over %d series made in %.0fs", len(messages), keys, time.monotonic() - t)
        run = self.aggregate.run_worker(keys, 0, messages, label=f"scale{keys}")
        point = {
            "keys": keys,
            "updates": len(messages),
            "processed": run["processed"],
            "complete": run["complete"],
            "series_reached": min(int(run["processed"]), keys),
            "state_keys_gauge": run["state_keys"],
            "per_s": run["per_s"],
            "seconds": run["seconds"],
            "cpu_ms_per_event": run["cpu_ms_per_event"],
            "rss_mb": run.get("rss_mb"),
            "peak_rss_mb": run.get("peak_rss_mb"),
        }
        log.info("scaling: %s", point)
        return point

    def run(self) -> dict[str, Any]:
        points = [self.run_point(k) for k in self.keys]
        plot(points, PLOT)
        return {"extra": self.extra, "budget_s": self.budget, "points": points, "plot": PLOT.name}


def plot(points: list[dict[str, Any]], path: Path) -> None:
    """Updates/s and RSS against the series in state (log scale), one PNG."""
    keys = [p["series_reached"] for p in points]
    fig = Figure(figsize=(7, 4), dpi=120)
    FigureCanvasAgg(fig)  # the Agg backend, without pyplot's global state
    speed = fig.add_subplot()
    speed.plot(keys, [p["per_s"] for p in points], "o-", color="tab:blue", label="updates/s")
    speed.set_xscale("log")
    speed.set_xlabel("series in the aggregate worker's state")
    speed.set_ylabel("updates/s", color="tab:blue")
    memory = speed.twinx()
    memory.plot(keys, [p["rss_mb"] for p in points], "s--", color="tab:red", label="RSS MB")
    memory.plot(keys, [p["peak_rss_mb"] for p in points], "^:", color="tab:orange", label="peak RSS MB")
    memory.set_ylabel("MB", color="tab:red")
    memory.set_ylim(bottom=0)
    speed.set_ylim(bottom=0)
    speed.set_title("tiendo aggregate worker: throughput and memory against its state")
    fig.legend(loc="lower center", ncol=3, fontsize="small")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path)
