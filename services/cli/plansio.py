"""The work of ``tiendo plans load|show``: a plan file validated as a whole, the plans in force as a table."""

from __future__ import annotations

from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.table import Table

from services.alert.plans import publish_plans, read_plans
from services.cli.common import kafka_settings, run_kafka
from services.cli.options import CliError
from shared.alerting import format_amount
from shared.plans import PlanFileError, load_plan_file

#: Problems of a bad plan file printed before "... and N more".
SHOWN_PROBLEMS = 100


def file_problems(file: Path, exc: PlanFileError) -> str:
    """A bad plan file's report: one line for one problem, else a heading and a ``FILE:LINE: message`` line each."""
    if len(exc.errors) == 1:
        return f"{exc}; nothing loaded"
    lines = str(exc).splitlines()
    more = len(lines) - SHOWN_PROBLEMS
    tail = [f"... and {more} more problems"] if more > 0 else []
    return "\n".join([f"{file}: {len(lines)} problems, nothing loaded", *lines[:SHOWN_PROBLEMS], *tail])


def load(file: Path, dry_run: bool, bootstrap_servers: str | None) -> None:
    """Validate the whole file, then (unless ``dry_run``) publish its plans."""
    try:
        plans = load_plan_file(file)
    except PlanFileError as exc:
        raise CliError(file_problems(file, exc)) from None
    if not dry_run:
        settings = kafka_settings(bootstrap_servers)
        run_kafka(settings, publish_plans(settings, plans))
    typer.echo(f"{'validated' if dry_run else 'loaded'} {len(plans)} plans from {file}")


def show(json: bool, bootstrap_servers: str | None) -> None:
    """Print the plans in force, as a table or JSON lines."""
    settings = kafka_settings(bootstrap_servers)
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
