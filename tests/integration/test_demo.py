"""``tiendo demo`` end to end: the whole pipeline on the session broker ends with the expected totals and alerts."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from tests.workers import ROOT

pytestmark = pytest.mark.kafka


def free_block(size: int) -> int:
    """A base port with ``size`` consecutive free ports on 127.0.0.1."""
    for _ in range(50):
        base = random.randint(20000, 60000)
        try:
            for port in range(base, base + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port block")


def test_demo_replays_a_year_and_ends_with_the_expected_totals_and_alerts(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "services",
            "demo",
            "--bootstrap-servers",
            kafka_bootstrap,
            "--namespace",
            f"t{unique}.",
            "--no-monitoring",
            "--seconds-per-year",
            "15",
            "--duration",
            "300",
            "--base-port",
            str(free_block(3)),
            "--home",
            str(tmp_path / "demo"),
            "--summary-json",
            str(summary),
        ],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = orjson.loads(summary.read_bytes())
    # The sample year: 3,092 first sends + 24 corrections accepted, 96 duplicates, 65 bad events (5 per reason).
    assert (result["accepted"], result["duplicate"], result["rejected"]) == (3116, 96, 65)
    assert result["applied"] == 3116 and result["lag"] == 0

    totals = {(t["unit"], t["indicator"], t["quarter"]): t for t in result["totals"]}
    # Bắc Giang's Q1 2024 review (seed article): budget revenue 4,680 bn VND, 310 new enterprises.
    assert Decimal(totals[("24", "state_budget_revenue", 1)]["value"]) == Decimal("4680e9")
    assert Decimal(totals[("24", "new_enterprises", 1)]["value"]) == 310
    assert Decimal(totals[("24", "investment_attracted", 1)]["ytd"]) == Decimal("624260000")

    firing = {(a["labels"]["province"], a["labels"]["indicator"], a["severity"]) for a in result["alerts"]}
    assert ("20", "public_investment_disbursed", "critical") in firing  # Lạng Sơn's slow disbursement
    assert ("31", "site_clearance_area", "critical") in firing  # Hải Phòng's site clearance
    assert not any(p == "24" for p, _, _ in firing), "Bắc Giang is ahead of its plans"
    assert "Lạng Sơn" in proc.stdout and "Firing alerts" in proc.stdout
    assert "Ranking and year-end forecasts" in proc.stdout, "the alert worker's /ranking and /forecast in the summary"
