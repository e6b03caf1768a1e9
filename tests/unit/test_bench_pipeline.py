"""The pipeline benchmark's pure parts: only complete runs give rates, the lag slope, the report, the soak's feed."""

from __future__ import annotations

import re
from itertools import islice

from bench.pipeline import _slope, summarise
from bench.report import _pipeline
from bench.soak import endless


def run(impl: str, per_s: float | None, repeat: int = 0, **extra: object) -> dict[str, object]:
    return {
        "impl": impl, "repeat": repeat, "per_s": per_s, "cpu_ms_per_event": 0.1 if per_s else None,
        "peak_rss_mb": 100.0, "first_output_after_start_s": 3.0, "complete": per_s is not None,
        "check": {"match": True, "wrong": 0, "missing": 0, "examples": []} if per_s else None, **extra,
    }  # fmt: skip


def test_only_complete_runs_count_and_the_spread_is_theirs() -> None:
    runs = [run("tiendo", 900), run("tiendo", 1000, 1), run("tiendo", 1200, 2), run("quix", None), run("quix", 500, 1)]
    s = summarise(runs, ("tiendo", "quix"))
    assert s["median_per_s"] == {"tiendo": 1000, "quix": 500}
    assert s["spread_per_s"] == {"tiendo": [900, 1200], "quix": [500, 500]}
    assert s["finished"] == {"tiendo": [3, 3], "quix": [1, 2]}
    assert s["tiendo_to_quix"] == 2.0
    assert s["tiendo_to_raw"] is None


def test_a_configuration_nobody_finished_reports_not_finished() -> None:
    runs = [run("tiendo", None), run("quix", None, error="boom")]
    config = {"size": 1000, "partitions": 1, "runs": runs, **summarise(runs, ("tiendo", "quix"))}
    labels = {"tiendo": "tiendo", "quix": "Quix"}
    text = "\n".join(_pipeline({"labels": labels, "timeout_s": 60, "repeat": 1, "configs": [config], "paced": []}))
    assert text.count("| not finished |") == 2  # both rows: no rate
    assert "- quix run 0: `boom`" in text


def test_lag_slope() -> None:
    assert _slope([(0, 0), (1, 10), (2, 20), (3, 30)]) == 10
    assert _slope([(0, 5), (1, 5), (2, 5)]) == 0
    assert _slope([(0, 1), (1, 2)]) is None


def test_the_soak_feed_gives_every_round_new_event_ids() -> None:
    """Valid events (their ids carry the block's copy prefix ``c<n>-``) come back with a round prefix; broken ones
    stay byte for byte."""
    ids = [
        found[1]
        for _, _, value in islice(endless("soak", block=500), 1500)
        if (found := re.search(rb'"event_id"\s*:\s*"([^"]*)"', value))
    ]
    first, last = ids[: len(ids) // 3], set(ids[2 * len(ids) // 3 :])
    valid = [i for i in first if re.match(rb"c\d+-", i)]
    assert valid
    assert {b"r2-" + i for i in valid} <= last
    assert not set(valid) & last
