"""``tiendo demo``: the whole pipeline on a local broker with a year of sample provincial feeds.

Starts (or reuses) the local Kafka broker, creates the topics, starts ingest, aggregate and alert as separate
processes, Prometheus and Alertmanager when installed, loads the example plans, replays the sample feeds at
N× speed, and shows events, quarterly totals and firing alerts live; at the end a summary and where to look.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import threading
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from services.alert.plans import publish_plans
from services.cli import alertapi
from services.cli.options import CliError
from services.demo.replay import Timed, replay, timeline
from services.demo.stack import alertmanager, get_json, get_text, prometheus, worker
from services.localkafka import BrokerError, LocalBroker
from services.processes import ROOT, Process, ProcessError
from shared.alerting import format_amount
from shared.config import KafkaSettings
from shared.digest import IsoWeek
from shared.evaluation import province_of
from shared.metrics import metric_sum
from shared.plans import load_plan_file
from shared.topics import PROJECT_TOPICS, TopicSpec, ensure_topics

#: Indicators shown in the live totals table.
SHOWN = (
    ("public_investment_disbursed", "Giải ngân ĐTC"),
    ("state_budget_revenue", "Thu NSNN"),
    ("industrial_production_value", "GTSX công nghiệp"),
    ("import_export_value", "XNK"),
    ("new_enterprises", "DN mới"),
)


@dataclass
class DemoOptions:
    feeds: Path = ROOT / "deploy" / "samples" / "feeds-2024"
    plans: Path = ROOT / "deploy" / "plans" / "example-2024.yaml"
    home: Path = ROOT / ".var" / "demo"
    namespace: str = "demo."
    seconds_per_year: float = 60.0
    duration: float | None = None
    keep_running: bool = False
    monitoring: bool = True
    base_port: int = 6066
    bootstrap_servers: str | None = None
    summary_json: Path | None = None


@dataclass
class Snapshot:
    """What the live view shows, read from the workers' HTTP endpoints."""

    published: int = 0
    total: int = 0
    accepted: float = 0
    duplicate: float = 0
    rejected: float = 0
    applied: float = 0
    lag: float = 0
    totals: list[dict] | None = None
    alerts: list[dict] | None = None


class Demo:
    """One demo run: the processes it started, the replay, and the view."""

    def __init__(self, options: DemoOptions, console: Console) -> None:
        self.o = options
        self.console = console
        self.settings = KafkaSettings(namespace=options.namespace)
        self.feeds = KafkaSettings()
        self.processes: list[Process] = []
        self.broker: LocalBroker | None = None
        self.snapshot = Snapshot()
        self.ports = {n: options.base_port + i for i, n in enumerate(("ingest", "aggregate", "alert"))}

    def url(self, name: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"

    def start(self) -> list[Timed]:
        bootstrap = self.o.bootstrap_servers
        if bootstrap is None:
            broker = LocalBroker.from_env()
            if broker.pid() is None:
                self.console.print(f"starting Apache Kafka on {broker.bootstrap} …")
                try:
                    broker.start()
                except BrokerError as exc:
                    raise ProcessError(str(exc)) from None
                self.broker = broker
            bootstrap = broker.bootstrap
        self.settings = KafkaSettings(bootstrap_servers=bootstrap, namespace=self.o.namespace)
        self.feeds = KafkaSettings(bootstrap_servers=bootstrap)
        prefix = self.o.namespace
        messages = timeline(self.o.feeds, topic_prefix=prefix)
        feed_topics = sorted({m.topic for m in messages})
        plans = load_plan_file(self.o.plans)  # a bad plan file stops the demo before anything starts
        asyncio.run(self._topics(feed_topics))
        env = {
            "TIENDO_BOOTSTRAP_SERVERS": bootstrap,
            "TIENDO_NAMESPACE": self.o.namespace,
            "TIENDO_TOPIC_PATTERN": rf"{re.escape(prefix)}feed\..*",
            "TIENDO_LOG_JSON": "true",
        }
        alert_env = {
            **env,
            "TIENDO_CLOCK": "event",
            "TIENDO_EVALUATE_INTERVAL_S": "2",
            "TIENDO_RESEND_INTERVAL_S": "30",
        }
        if self.o.monitoring:
            for proc in (prometheus(self.o.home), alertmanager(self.o.home)):
                if proc is None:
                    self.console.print("[yellow]Prometheus/Alertmanager not installed: run `make demo` to install[/]")
                elif proc.ready():
                    self.console.print(f"{proc.name} already runs: reusing it")
                else:
                    self.processes.append(proc.start())
            alert_env["TIENDO_ALERTMANAGER_URLS"] = "http://127.0.0.1:9093"
        for name in ("ingest", "aggregate", "alert"):
            self.processes.append(
                worker(name, self.ports[name], self.o.home, alert_env if name == "alert" else env).start()
            )
        for proc in self.processes:
            self.console.print(f"waiting for {proc.name} …")
            proc.wait_ready()
        asyncio.run(publish_plans(self.settings, plans))
        self.console.print(f"loaded {len(plans)} plans from {self.o.plans.relative_to(ROOT)}")
        return messages

    async def _topics(self, feed_topics: list[str]) -> None:
        await ensure_topics(self.settings, PROJECT_TOPICS)
        await ensure_topics(self.feeds, [TopicSpec(t, 1) for t in feed_topics])

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        if self.broker is not None:
            self.broker.stop()

    def poll(self) -> None:
        s = self.snapshot
        with contextlib.suppress(OSError, ValueError):
            ingest = get_text(self.url("ingest", "/metrics"))
            s.accepted = metric_sum(ingest, "tiendo_ingest_events_total", {"outcome": "accepted"})
            s.duplicate = metric_sum(ingest, "tiendo_ingest_events_total", {"outcome": "duplicate"})
            s.rejected = metric_sum(ingest, "tiendo_ingest_events_total", {"outcome": "rejected"})
            aggregate = get_text(self.url("aggregate", "/metrics"))
            s.applied = metric_sum(aggregate, "tiendo_aggregate_updates_total")
            s.lag = metric_sum(ingest, "tiendo_ingest_consumer_lag_messages") + metric_sum(
                aggregate, "tiendo_aggregate_consumer_lag_messages"
            )
            s.totals = get_json(self.url("aggregate", "/totals?view=unit&year=2024"))["totals"]
            s.alerts = [a for a in get_json(self.url("alert", "/alerts"))["alerts"] if a["status"] == "firing"]

    def view(self) -> Group:
        s = self.snapshot
        head = Table.grid(padding=(0, 3))
        head.add_row(
            f"replayed [bold]{s.published:,}[/]/{s.total:,} feed events",
            f"accepted [green]{int(s.accepted):,}[/]",
            f"duplicates [yellow]{int(s.duplicate):,}[/]",
            f"dead-lettered [red]{int(s.rejected):,}[/]",
            f"applied [cyan]{int(s.applied):,}[/]",
            f"lag {int(s.lag):,}",
        )
        return Group(head, totals_table(s.totals or []), alerts_table(s.alerts or []))

    def drained(self, replayed_at: float) -> bool:
        """Every replayed event processed, no lag, and a few alert evaluations since the replay ended."""
        s = self.snapshot
        processed = s.accepted + s.duplicate + s.rejected >= s.total
        return processed and s.lag == 0 and time.monotonic() - replayed_at > 6


def totals_table(totals: list[dict]) -> Table:
    """Year-to-date 2024 per province (the latest quarter of each series)."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for t in totals:
        key = (t["unit"], t["indicator"])
        if key not in latest or t["quarter"] > latest[key]["quarter"]:
            latest[key] = t
    table = Table(title="Year-to-date 2024 (latest quarter reported)", title_justify="left")
    table.add_column("province")
    for _, label in SHOWN:
        table.add_column(label, justify="right")
    for unit in sorted({unit for unit, _ in latest}):
        province = province_of(unit)
        row = [f"{province.code} {province.name}"]
        for indicator, _ in SHOWN:
            shown = latest.get((unit, indicator))
            row.append(
                ""
                if shown is None
                else f"{format_amount(Decimal(shown['ytd']), shown['base_unit'])} ({shown['period']})"
            )
        table.add_row(*row)
    return table


def alerts_table(alerts: list[dict]) -> Table:
    table = Table(title=f"Firing alerts ({len(alerts)})", title_justify="left")
    table.add_column("severity")
    table.add_column("alert")
    table.add_column("summary")
    for a in sorted(alerts, key=lambda a: (a["severity"] != "critical", a["annotations"].get("summary", ""))):
        colour = "red" if a["severity"] == "critical" else "yellow"
        table.add_row(f"[{colour}]{a['severity']}[/]", a["key"]["rule"], a["annotations"].get("summary", ""))
    return table


def run_demo(options: DemoOptions, console: Console | None = None) -> Snapshot:
    """Run the demo; return the last snapshot (totals and firing alerts). Ctrl-C stops everything cleanly."""
    console = console or Console()
    demo = Demo(options, console)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the stack as cleanly as Ctrl-C
    try:
        messages = demo.start()
        demo.snapshot.total = len(messages)
        speed = 365 * 86400 / options.seconds_per_year if options.seconds_per_year > 0 else None
        done = threading.Event()

        def progress(n: int) -> None:
            demo.snapshot.published = n

        def publish() -> None:
            try:
                asyncio.run(replay(demo.feeds, messages, speed, progress))
            finally:
                done.set()

        threading.Thread(target=publish, name="replay", daemon=True).start()
        started = time.monotonic()
        replayed_at: float | None = None
        with Live(demo.view(), console=console, refresh_per_second=2) as live:
            while True:
                time.sleep(1)
                demo.poll()
                live.update(demo.view())
                if done.is_set() and replayed_at is None:
                    replayed_at = time.monotonic()
                if options.duration is not None and time.monotonic() - started > options.duration:
                    break
                if replayed_at is not None and demo.drained(replayed_at) and not options.keep_running:
                    break
        demo.poll()
        summary(demo, console)
        if options.summary_json is not None:
            options.summary_json.write_bytes(orjson.dumps(demo.snapshot, option=orjson.OPT_INDENT_2))
        if options.keep_running:
            console.print("[bold]--keep-running:[/] the stack stays up; Ctrl-C stops it.")
            while True:
                time.sleep(3600)
        return demo.snapshot
    except KeyboardInterrupt:
        console.print("stopping …")
        return demo.snapshot
    except ProcessError as exc:
        console.print(f"[red]{exc}[/]")
        raise
    finally:
        demo.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def summary(demo: Demo, console: Console) -> None:
    s = demo.snapshot
    console.print(demo.view())
    console.print(
        f"feed events {s.total:,}: accepted {int(s.accepted):,}, duplicates {int(s.duplicate):,}, "
        f"dead-lettered {int(s.rejected):,}; firing alerts {len(s.alerts or [])}"
    )
    digests: list[Path] = []
    try:
        ranking = get_json(demo.url("alert", "/ranking"))
        console.print(national_tables(ranking, get_json(demo.url("alert", "/forecast"))))
        digests = write_digest(demo, IsoWeek.of(date.fromisoformat(ranking["at"])))
    except (OSError, ValueError, KeyError, CliError) as exc:
        console.print(f"[yellow]the national view and the digest are not available: {exc}[/]")
    where = Table(title="Where to look", title_justify="left", show_header=False)
    where.add_row("totals API", demo.url("aggregate", "/totals?province=Bac%20Giang&year=2024"))
    where.add_row("alerts", demo.url("alert", "/alerts"))
    where.add_row("ranking, forecasts", f"{demo.url('alert', '/ranking')}, {demo.url('alert', '/forecast')}")
    if digests:
        where.add_row("weekly digest", ", ".join(str(p) for p in digests))
    where.add_row("metrics", ", ".join(demo.url(n, "/metrics") for n in demo.ports))
    if any(p.name == "prometheus" for p in demo.processes):
        where.add_row("Prometheus", "http://127.0.0.1:9090")
    if any(p.name == "alertmanager" for p in demo.processes):
        where.add_row("Alertmanager", "http://127.0.0.1:9093")
    where.add_row("logs", str(demo.o.home / "logs"))
    where.add_row("dead letters", f"TIENDO_NAMESPACE={demo.o.namespace} tiendo dlq show")
    console.print(where)


def write_digest(demo: Demo, week: IsoWeek) -> list[Path]:
    """The alert worker's digest of the sample year's last week, written as HTML and Markdown (as ``tiendo
    digest`` writes it)."""
    return alertapi.write_digest(demo.url("alert", ""), week.label, demo.o.home / "digests", ["html", "md"])


def national_tables(ranking: dict, forecasts: dict) -> Table:
    """The alert worker's ranking (GET /ranking) and year-end forecasts (GET /forecast): per plan group and
    province its rank, percent of target at its reading, projected year-end share of plan with its range."""
    projected = {
        (f["indicator"], f["year"], f["basis"], f["province_code"]): f["year_end"] for f in forecasts["forecasts"]
    }
    table = Table(title=f"Ranking and year-end forecasts ({ranking['at']})", title_justify="left")
    for name in ("plan", "national", "rank", "province", "% of target", "as of", "year-end projection", "on time"):
        table.add_column(name)
    for group in ranking["rankings"]:
        plan = f"{group['indicator']} {group['year']} {group['basis']}"
        for row in group["rows"]:
            end = projected.get((group["indicator"], group["year"], group["basis"], row["province_code"]))
            share = "" if end is None or end["ratio_to_target"] is None else (
                f"{Decimal(end['ratio_to_target']):.0%} ({Decimal(end['ratio_low'] or 0):.0%}-"
                f"{Decimal(end['ratio_high'] or 0):.0%})"
            )  # fmt: skip
            table.add_row(
                plan, f"{group['national_aggregate_percent']} %", row["position"], row["province"], row["percent"],
                row["as_of"][:10], share, row["on_time_rate"] or "",
            )  # fmt: skip
    return table
