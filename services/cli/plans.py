"""``tiendo plans load|show``: validate a plan file as a whole, publish it to the compacted ``plans`` topic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.cli.options import BootstrapOpt

app = typer.Typer(help="Yearly plans the alert worker judges progress against.", no_args_is_help=True)


@app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="A YAML or CSV plan file (see deploy/plans/README.md).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only; publish nothing.")] = False,
    bootstrap_servers: BootstrapOpt = None,
) -> None:
    """Validate the whole file (nothing is loaded if any row is wrong), then publish its plans."""
    from services.cli import plansio  # noqa: PLC0415 - the plan rules and Kafka load when a command runs

    plansio.load(file, dry_run, bootstrap_servers)


@app.command("show")
def show(
    json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    bootstrap_servers: BootstrapOpt = None,
) -> None:
    """List the plans in force."""
    from services.cli import plansio  # noqa: PLC0415 - the plan rules and Kafka load when a command runs

    plansio.show(json, bootstrap_servers)
