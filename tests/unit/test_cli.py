"""``tiendo`` without a broker: every failure is one line on stderr and a non-zero exit, never a traceback.

The one-line cases run as real subprocesses (what a user sees, logging's last resort included), all at once;
option parsing and output shapes run in-process through typer's CliRunner.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services import cli
from services.aggregate import client
from services.cli import catalogue
from services.cli.plansio import SHOWN_PROBLEMS, file_problems
from shared.indicators import CATALOGUE
from shared.plans import PlanFileError, load_plan_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "plans" / "example-2024.yaml"
ROW = "- {province: Lạng Sơn, indicator: new_jobs, year: 2024, basis: central, target: 10, unit: jobs"
#: "Billion laughs" in plan rows: 531 bytes; the province of the last row is 9^9 strings once expanded (before
#: anchors were refused, a check of it took 45 s and gigabytes, and printed the expansion).
BOMB = "\n".join(
    ["- {year: 2024, province: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]}"]
    + [
        f"- {{year: 2024, province: &{b} [{','.join([f'*{a}'] * 9)}]}}"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DOWN = f"127.0.0.1:{_closed_port()}"  # nothing listens there: connections are refused at once


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


#: case id → (arguments, files to write first {name: text or bytes}, what the one error line must contain).
CASES: dict[str, tuple[list[str], dict[str, str | bytes], str]] = {
    "topics-create": (["topics", "create"], {}, f"cannot reach Kafka at {DOWN} (no broker answered)"),
    "topics-create-flag": (
        ["topics", "create", "--bootstrap-servers", DOWN],
        {},
        f"cannot reach Kafka at {DOWN}",
    ),
    "create-feed": (["topics", "create-feed", "bac-giang"], {}, f"cannot reach Kafka at {DOWN}"),
    "create-feed-empty": (["topics", "create-feed", ""], {}, "the feed name is empty"),
    "create-feed-prefix-only": (["topics", "create-feed", "feed."], {}, "the feed name is empty"),
    "publish-empty-topic": (
        ["publish", "feed.jsonl", "--topic", ""],
        {"feed.jsonl": "{}\n"},
        "--topic: the feed name is empty",
    ),
    "publish": (["publish", "feed.jsonl", "--topic", "x"], {"feed.jsonl": "{}\n"}, f"cannot reach Kafka at {DOWN}"),
    "dlq-show": (["dlq", "show"], {}, f"cannot reach Kafka at {DOWN}"),
    "replay": (["replay", "--from", "feed.x.jsonl"], {"feed.x.jsonl": "{}\n"}, f"cannot reach Kafka at {DOWN}"),
    "plans-load": (["plans", "load", str(EXAMPLE)], {}, f"cannot reach Kafka at {DOWN}"),
    "plans-load-flag": (
        ["plans", "load", str(EXAMPLE), "--bootstrap-servers", DOWN],
        {},
        f"cannot reach Kafka at {DOWN}",
    ),
    "plans-show": (["plans", "show"], {}, f"cannot reach Kafka at {DOWN}"),
    "plans-show-flag": (["plans", "show", "--bootstrap-servers", DOWN], {}, f"cannot reach Kafka at {DOWN}"),
    "bad-bootstrap": (
        ["topics", "create", "--bootstrap-servers", "kafka:abc"],
        {},
        "invalid settings: bootstrap_servers: 'kafka:abc' is not host:port (a port is 1-65535)",
    ),
    "bootstrap-port-too-big": (
        ["plans", "show", "--bootstrap-servers", "127.0.0.1:99999"],
        {},
        "'127.0.0.1:99999' is not host:port",
    ),
    "ssl-cafile-missing": (
        ["topics", "create"],
        {},
        "invalid settings: ssl_cafile: cannot load the CA bundle gone.pem (No such file or directory)",
    ),
    "sasl-without-credentials": (
        ["dlq", "show"],
        {},
        "invalid settings: SASL_PLAINTEXT needs TIENDO_SASL_USERNAME and TIENDO_SASL_PASSWORD",
    ),
    "ingest-log-level": (["ingest", "--log-level", "LOUD"], {}, "unknown log level 'LOUD'"),
    "aggregate-log-level": (["aggregate", "--log-level", "LOUD"], {}, "unknown log level 'LOUD'"),
    "alert-log-level": (["alert", "--log-level", "LOUD"], {}, "unknown log level 'LOUD'"),
    "milestone-2024-06-31": (
        ["plans", "load", "p.yaml"],
        {"p.yaml": ROW + ", milestones: {2024-06-31: 0.35}}\n"},
        "p.yaml:1: milestone 2024-06-31: no such day (day is out of range for month); nothing loaded",
    ),
    "milestone-2024-06-31-dry-run": (
        ["plans", "load", "--dry-run", "p.yaml"],
        {"p.yaml": ROW + ", milestones: {2024-06-31: 0.35}}\n"},
        "p.yaml:1: milestone 2024-06-31: no such day",
    ),
    "year-2024-02-30": (
        ["plans", "load", "--dry-run", "p.yaml"],
        {"p.yaml": ROW.replace("year: 2024", "year: 2024-02-30") + "}\n"},
        "p.yaml:1: year '2024-02-30' is not a year between 1900 and 2999",
    ),
    "missing-file": (["plans", "load", "gone.yaml"], {}, "gone.yaml: no such plan file; nothing loaded"),
    "missing-file-dry-run": (["plans", "load", "--dry-run", "gone.csv"], {}, "gone.csv: no such plan file"),
    "folder": (["plans", "load", "."], {}, ".: is a folder, not a plan file"),
    "not-utf8": (
        ["plans", "load", "--dry-run", "p.csv"],
        {"p.csv": b"province,indicator,year,basis,target,unit\nB\xe1c Giang,new_jobs,2024,central,1,jobs\n"},
        "p.csv:2: not UTF-8 text (invalid continuation byte)",
    ),
    "unterminated-quote": (
        ["plans", "load", "p.csv"],
        {"p.csv": 'province,indicator,year,basis,target,unit\nBắc Giang,new_jobs,2024,central,"1,jobs\nx\n'},
        'p.csv:2: a quoted cell is never closed: its opening " has no closing "',
    ),
    "empty-file": (["plans", "load", "--dry-run", "p.yaml"], {"p.yaml": "# none yet\n"}, "no plans in the file"),
    "alias-bomb": (
        ["plans", "load", "--dry-run", "bomb.yaml"],
        {"bomb.yaml": BOMB},
        "bomb.yaml:1: YAML anchors and aliases (&, *) are not allowed in plan files",
    ),
}


#: Environment of the cases that need more than the unreachable broker.
CASE_ENV: dict[str, dict[str, str]] = {
    "ssl-cafile-missing": {"TIENDO_SECURITY_PROTOCOL": "SSL", "TIENDO_SSL_CAFILE": "gone.pem"},
    "sasl-without-credentials": {"TIENDO_SECURITY_PROTOCOL": "SASL_PLAINTEXT"},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """Every case of CASES run as ``python -m services ...`` in a folder of its own, concurrently."""

    def run(case: str) -> Run:
        args, files, _ = CASES[case]
        cwd = tmp_path_factory.mktemp(case)
        for name, content in files.items():
            (cwd / name).write_bytes(content if isinstance(content, bytes) else content.encode())
        env = {**os.environ, "TIENDO_BOOTSTRAP_SERVERS": DOWN, "PYTHONPATH": str(ROOT), **CASE_ENV.get(case, {})}
        try:
            done = subprocess.run(
                [sys.executable, "-m", "services", *args],
                check=False,
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            return Run(-1, "", "(no answer within 60 s: hung or expanding)")
        return Run(done.returncode, done.stdout, done.stderr)

    with ThreadPoolExecutor(max_workers=6) as pool:
        yield dict(zip(CASES, pool.map(run, CASES), strict=True))


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_failure_is_one_line(runs: dict[str, Run], case: str) -> None:
    result, expected = runs[case], CASES[case][2]
    assert result.returncode == 1, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tiendo: error: "), result.stderr[:2000]
    assert expected in lines[0], lines[0]
    assert not result.stdout.strip(), result.stdout[:2000]


def test_an_alias_bomb_is_refused_at_once(runs: dict[str, Run]) -> None:
    # ~500 bytes that expand to gigabytes: refused before anything is expanded (an expanding run would be killed
    # at the 60 s guard or run out of memory, and not answer with the loader's error), in one short line.
    assert len(BOMB) < 600
    result = runs["alias-bomb"]
    assert result.returncode == 1 and len(result.stderr) < 200, result


def test_a_plan_file_with_many_problems_shows_the_first_hundred(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("province,indicator,year,basis,target,unit\n" + "Atlantis,new_jobs,2024,central,1,jobs\n" * 150)
    with pytest.raises(PlanFileError) as caught:
        load_plan_file(path)
    heading, *lines, tail = file_problems(path, caught.value).splitlines()
    assert heading == f"{path}: 150 problems, nothing loaded"
    assert len(lines) == SHOWN_PROBLEMS and lines[0].startswith(f"{path}:2: unknown province 'Atlantis'")
    assert tail == "... and 50 more problems"


runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--quarter", "6"], "--quarter"),
        (["--quarter", "0"], "--quarter"),
        (["--view", "foo"], "--view"),
        (["--year", "1999"], "--year"),
        (["--year", "3000"], "--year"),
    ],
)
def test_totals_arguments_are_checked_locally(args: list[str], option: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "fetch_totals", lambda url, params: pytest.fail("nothing may be asked"))
    result = runner.invoke(cli.app, ["totals", *args])
    assert result.exit_code == 2 and option in result.output, result.output


def test_totals_accepts_quarter_5_and_both_views(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[dict[str, object]] = []
    monkeypatch.setattr(client, "fetch_totals", lambda url, params: asked.append(params) or [])
    for view in ("unit", "current"):
        result = runner.invoke(cli.app, ["totals", "--quarter", "5", "--year", "2024", "--view", view])
        assert result.exit_code == 0, result.output
    assert asked == [{"year": 2024, "quarter": 5, "view": "unit"}, {"year": 2024, "quarter": 5, "view": "current"}]
    assert "5: Q4+" in runner.invoke(cli.app, ["totals", "--help"]).output


def test_indicator_ids_are_whole_at_80_columns() -> None:
    result = runner.invoke(cli.app, ["indicators"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    words = {word for line in lines for word in line.split()}
    assert set(CATALOGUE) <= words


@pytest.mark.parametrize(
    "command",
    [
        ["topics", "create"],
        ["topics", "create-feed"],
        ["plans", "load"],
        ["plans", "show"],
        ["publish"],
        ["dlq", "show"],
        ["dlq", "replay"],
        ["ingest"],
        ["aggregate"],
        ["alert"],
        ["replay"],
    ],
)
def test_kafka_commands_take_bootstrap_servers_in_plain_help(command: list[str]) -> None:
    result = runner.invoke(cli.app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "--bootstrap-servers <str> Kafka host:port list [env TIENDO_BOOTSTRAP_SERVERS]." in text
    assert "\\[" not in text


class _Frozen(datetime):
    """``datetime.now()`` at 2025-06-30 18:00 UTC: already 1 July (the merger) in Vietnam."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:
        return datetime(2025, 6, 30, 18, 0, tzinfo=UTC).astimezone(tz)


def test_provinces_resolve_means_today_in_vietnam(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalogue, "datetime", _Frozen)
    result = runner.invoke(cli.app, ["provinces", "resolve", "Bac Giang"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "24 Tỉnh Bắc Ninh (on 2025-07-01)"
    assert "today in Vietnam" in runner.invoke(cli.app, ["provinces", "resolve", "--help"]).output
