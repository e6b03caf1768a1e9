"""The weekly digest in a real browser: Debian's Chromium (installed by ``scripts/setup.sh --monitoring``) renders
the HTML headless at 1280 px; the tables and both charts are there, the images decoded, and nothing is wider than
the window. The screenshot is kept in ``.artifacts/`` (git-ignored) for people to look at.

Measured in the page: a copy of the digest with a probe script added (the digest itself has no script) writes
``document.documentElement.scrollWidth``, the right edge of every element and each image's size into the DOM
that ``--dump-dom`` prints."""

from __future__ import annotations

import copy
import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shared.digest import build_digest, render_html
from tests.digest_sources import WEEK, sources

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".artifacts"
WIDTH = 1280
CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--hide-scrollbars"]
PROBE = """<script>window.addEventListener("load", () => {
  const right = Math.max(...[...document.querySelectorAll("body *")].map(e => e.getBoundingClientRect().right));
  document.body.setAttribute("data-probe", JSON.stringify({
    scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth,
    right: right, tables: document.querySelectorAll("table").length,
    rows: [...document.querySelectorAll("table")].map(t => t.tBodies[0].rows.length),
    images: [...document.images].map(i => ({natural: i.naturalWidth, shown: i.getBoundingClientRect().width,
                                            alt: i.alt}))}));
});</script>"""

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh --monitoring)")


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=120, check=True, cwd=ARTIFACTS
    )


def look(page: str, name: str, tmp_path: Path) -> dict[str, Any]:
    """Open ``page`` at 1280 px: its measurements; the screenshot is kept as ``.artifacts/<name>.png``."""
    ARTIFACTS.mkdir(exist_ok=True)
    digest_file = ARTIFACTS / f"{name}.html"
    digest_file.write_text(page, encoding="utf-8")
    probed = tmp_path / f"{name}-probe.html"
    probed.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = chromium(f"--window-size={WIDTH},900", "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()).stdout
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, f"the probe did not run: {dom[:500]}"
    shot = ARTIFACTS / f"{name}.png"
    chromium(f"--window-size={WIDTH},7000", f"--screenshot={shot}", digest_file.as_uri())
    assert shot.stat().st_size > 10_000
    return json.loads(html.unescape(found[1]))


def assert_fits(probe: dict[str, Any], sections: int, tables: int) -> None:
    assert probe["scrollWidth"] <= probe["clientWidth"] <= WIDTH, probe
    assert probe["right"] <= probe["clientWidth"], probe
    assert probe["tables"] == tables
    assert len(probe["images"]) == 2 * sections  # ranking bars and small multiples per section
    for image in probe["images"]:
        assert image["natural"] > 0, f"image not decoded: {image['alt']}"
        assert 0 < image["shown"] <= WIDTH


def test_sample_digest_fits_1280_px_with_tables_and_charts(tmp_path: Path) -> None:
    rankings, forecasts, alerts, timeliness = copy.deepcopy(sources())
    # a summary without a space anywhere and a long province label must wrap, not widen the page
    alerts[0]["annotations"]["summary"] = "x" * 400
    rankings[0]["rows"][0]["province"] = "Thành phố Hồ Chí Minh (mở rộng: Bình Dương, Bà Rịa-Vũng Tàu) " * 3
    page = render_html(build_digest(WEEK, rankings, forecasts, alerts, timeliness))
    probe = look(page, "digest-sample-2025-W38", tmp_path)
    assert_fits(probe, sections=1, tables=3)  # progress, firing alerts, reports missing or late
    assert probe["rows"][0] == 34  # every province in the progress table
