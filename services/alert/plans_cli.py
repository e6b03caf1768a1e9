"""``tiendo plans load|show``: validate a plan file as a whole, publish it to the compacted ``plans`` topic.

``services.cli`` imports this module at start-up: Kafka clients, rich and the plan rules are imported inside the
functions (a fast ``tiendo --help``), and ``services.cli`` (which imports this module) only when a command runs.
"""

# ruff: noqa: PLC0415

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from services.ingest.cli import BootstrapOpt

if TYPE_CHECKING:
    from shared.config import KafkaSettings
    from shared.plans import Plan, PlanFileError

#: Problems of a bad plan file printed before "... and N more".
SHOWN_PROBLEMS = 100

plans_app = typer.Typer(help="Yearly plans the alert worker judges progress against.", no_args_is_help=True)


class PlansError(Exception):
    """A plan file problem, reported as one line (or a heading and one line per problem of the file)."""


async def publish_plans(settings: KafkaSettings, plans: list[Plan]) -> None:
    """Create the ``plans`` topic if needed and publish every plan, keyed by :attr:`Plan.key`; wait for the acks."""
    from aiokafka import AIOKafkaProducer

    from shared.topics import PLANS, ensure_topics

    await ensure_topics(settings, (PLANS,))
    producer = AIOKafkaProducer(**settings.client_kwargs(), acks="all", enable_idempotence=True)
    try:
        await producer.start()
        futures = [
            await producer.send(settings.topic(PLANS.name), orjson.dumps(p.to_dict()), key=p.key.encode())
            for p in plans
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_plans(settings: KafkaSettings) -> tuple[list[Plan], int]:
    """The plans in force (the latest value per key on the compacted topic, tombstones removed) and the number of
    latest records that are not plans (skipped)."""
    from shared.plans import Plan
    from shared.reading import read_to_end
    from shared.topics import PLANS

    latest: dict[bytes | None, bytes | None] = {}
    for record in await read_to_end(settings, settings.topic(PLANS.name)):
        latest[record.key] = record.value
    plans, skipped = [], 0
    for value in latest.values():
        if value is None:
            continue
        try:
            plans.append(Plan.from_dict(orjson.loads(value)))
        except (ValueError, KeyError, TypeError):
            skipped += 1
    return sorted(plans, key=lambda p: (p.year, p.province_code, p.indicator, p.basis)), skipped


def file_problems(file: Path, exc: PlanFileError) -> str:
    """A bad plan file's report: one line for one problem, else a heading and a ``FILE:LINE: message`` line each."""
    if len(exc.errors) == 1:
        return f"{exc}; nothing loaded"
    lines = str(exc).splitlines()
    more = len(lines) - SHOWN_PROBLEMS
    tail = [f"... and {more} more problems"] if more > 0 else []
    return "\n".join([f"{file}: {len(lines)} problems, nothing loaded", *lines[:SHOWN_PROBLEMS], *tail])


@plans_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="A YAML or CSV plan file (see deploy/plans/README.md).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only; publish nothing.")] = False,
    bootstrap_servers: BootstrapOpt = None,
) -> None:
    """Validate the whole file (nothing is loaded if any row is wrong), then publish its plans."""
    from services.cli import load_settings, run_kafka
    from shared.config import KafkaSettings
    from shared.plans import PlanFileError, load_plan_file

    try:
        plans = load_plan_file(file)
    except PlanFileError as exc:
        raise PlansError(file_problems(file, exc)) from None
    if not dry_run:
        settings = load_settings(KafkaSettings, bootstrap_servers=bootstrap_servers)
        run_kafka(settings, publish_plans(settings, plans))
    typer.echo(f"{'validated' if dry_run else 'loaded'} {len(plans)} plans from {file}")


@plans_app.command("show")
def show(
    json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    bootstrap_servers: BootstrapOpt = None,
) -> None:
    """List the plans in force."""
    from rich.console import Console
    from rich.table import Table

    from services.cli import load_settings, run_kafka
    from shared.alerting import format_amount
    from shared.config import KafkaSettings

    settings = load_settings(KafkaSettings, bootstrap_servers=bootstrap_servers)
    plans, skipped = run_kafka(settings, read_plans(settings))
    if skipped:
        typer.echo(f"tiendo: warning: skipped {skipped} records of the plans topic that are not plans", err=True)
    if json:
        for p in plans:
            typer.echo(orjson.dumps(p.to_dict()).decode())
        return
    table = Table("year", "province", "indicator", "basis", "target", "curve / milestones")
    for p in plans:
        shape = p.curve or ", ".join(f"{d:%d/%m}: {f:.0%}" for d, f in p.milestones)
        table.add_row(
            str(p.year),
            f"{p.province_code} {p.province_name}",
            p.indicator,
            p.basis,
            format_amount(p.target, p.base_unit),
            shape,
        )
    Console().print(table)
    typer.echo(f"{len(plans)} plans in force")
