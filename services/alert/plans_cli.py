"""``tiendo plans load|show``: validate a plan file as a whole, publish it to the compacted ``plans`` topic."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import orjson
import typer
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.table import Table

from shared.alerting import format_amount
from shared.config import KafkaSettings
from shared.plans import Plan, PlanFileError, load_plan_file
from shared.reading import read_to_end
from shared.topics import PLANS, ensure_topics

plans_app = typer.Typer(help="Yearly plans the alert worker judges progress against.")


class PlansError(Exception):
    """A plan file or topic problem, reported as one line (or one line per row error)."""


async def publish_plans(settings: KafkaSettings, plans: list[Plan]) -> None:
    await ensure_topics(settings, (PLANS,))
    producer = AIOKafkaProducer(**settings.client_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = [
            await producer.send(settings.topic(PLANS.name), orjson.dumps(p.to_dict()), key=p.key.encode())
            for p in plans
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_plans(settings: KafkaSettings) -> list[Plan]:
    """The plans in force: the latest value per key on the compacted topic, tombstones removed."""
    latest: dict[bytes, bytes | None] = {}
    for record in await read_to_end(settings, settings.topic(PLANS.name)):
        latest[record.key] = record.value
    return sorted(
        (Plan.from_dict(orjson.loads(v)) for v in latest.values() if v is not None),
        key=lambda p: (p.year, p.province_code, p.indicator, p.basis),
    )


@plans_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="A YAML or CSV plan file (see deploy/plans/README.md).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only; publish nothing.")] = False,
) -> None:
    """Validate the whole file (nothing is loaded if any row is wrong), then publish its plans."""
    try:
        plans = load_plan_file(file)
    except PlanFileError as exc:
        # A heading line, then each problem on a line of its own as FILE:LINE: message (editors, grep).
        problems = f"{len(exc.errors)} problem{'s' if len(exc.errors) != 1 else ''}"
        raise PlansError(f"{file}: {problems}, nothing loaded\n{exc}") from None
    if not dry_run:
        asyncio.run(publish_plans(KafkaSettings(), plans))
    typer.echo(f"{'validated' if dry_run else 'loaded'} {len(plans)} plans from {file}")


@plans_app.command("show")
def show(json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False) -> None:
    """List the plans in force."""
    plans = asyncio.run(read_plans(KafkaSettings()))
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
