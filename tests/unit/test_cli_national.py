"""``tiendo forecast|ranking|digest|whatif`` without workers: their tables from the alert worker's JSON (sample
sources built with the pure functions), and every failure as one clear line before anything is fetched."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from services import cli
from services.cli.alertapi import forecast_table, ranking_tables
from services.cli.options import CliError
from tests.digest_sources import sources


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DOWN = f"http://127.0.0.1:{_closed_port()}"


def text_of(renderable: object) -> str:
    console = Console(record=True, width=220)
    console.print(renderable)
    return console.export_text()


def failure(*args: str) -> str:
    result = CliRunner().invoke(cli.app, list(args))
    assert isinstance(result.exception, CliError), result.output
    return str(result.exception)


def test_forecast_table() -> None:
    _, forecasts, _, _ = sources()
    text = text_of(forecast_table(forecasts))
    lang_son = next(line for line in text.splitlines() if "Lạng Sơn" in line)
    row = next(f for f in forecasts if f["province"] == "Lạng Sơn")
    end = row["year_end"]
    assert f"{row['year_end']['date']}: {float(end['ratio_to_target']) * 100:.0f} %" in lang_son
    assert lang_son.rstrip(" │").endswith("yes")  # short of plan
    assert "bn VND" in lang_son


def test_ranking_tables() -> None:
    rankings, _, _, _ = sources()
    [(heading, table)] = ranking_tables(rankings)
    assert heading.startswith("public_investment_disbursed 2025 central: national aggregate 46.3 %")
    text = text_of(table)
    assert "1st of 34" in text and "34th of 34" in text
    assert sum(1 for line in text.splitlines() if " of 34 " in line) == 34


@pytest.mark.parametrize("command", ["forecast", "ranking"])
def test_an_unreachable_worker_is_one_line(command: str) -> None:
    assert failure(command, "--url", DOWN).startswith(f"the alert worker is not reachable at {DOWN} (")


def test_digest_week_and_format_are_checked_first(tmp_path: Path) -> None:
    assert failure("digest", "--week", "2025-W54", "--url", DOWN) == "--week: week 2025-W54: 2025 has weeks W01-W52"
    assert failure("digest", "--week", "W38", "--url", DOWN) == "--week: week 'W38' is not an ISO week such as 2025-W38"
    assert failure("digest", "--week", "2025-W38", "--format", "pdf") == "--format: 'pdf': give html, md or html,md"
    assert failure("digest", "--week", "2025-W38", "--url", DOWN, "--out", str(tmp_path)).startswith(
        "the alert worker is not reachable"
    )
    assert list(tmp_path.iterdir()) == []


def test_whatif_checks_the_plan_file_before_asking_anyone(tmp_path: Path) -> None:
    bad = tmp_path / "plans.csv"
    bad.write_text("province,indicator,year,basis,target,unit,curve\nLạng Sơn,public_investment_disbursed,2025,"
                   "central,4500,tỷ đồng,history:2019\n", encoding="utf-8")  # fmt: skip
    message = failure("whatif", str(bad), "--url", DOWN, "--aggregate-url", DOWN)
    assert message == (
        f"{bad}:2: no history curve for 2019: the history curves that ship are history:2025; nothing loaded"
    )
    good = tmp_path / "plans.yaml"
    good.write_text(
        "- {province: Lạng Sơn, indicator: public_investment_disbursed, year: 2025, basis: central, target: 4500,"
        " unit: tỷ đồng}\n",
        encoding="utf-8",
    )
    assert failure("whatif", str(good), "--aggregate-url", DOWN).startswith("the aggregate worker is not reachable")
