"""``tiendo digest``: the weekly digest of an ISO week as HTML and Markdown, from the alert worker's API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.cli.forecast import DEFAULT_ALERT_URL, AlertUrlOpt
from services.cli.options import CliError

FORMATS = ("html", "md")


def digest(
    *,
    week: Annotated[str, typer.Option("--week", help="ISO week, e.g. 2025-W38.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write tiendo-digest-<week>.<format> in.")] = Path(),
    formats: Annotated[str, typer.Option("--format", help="Comma-separated: html, md.")] = "html,md",
    url: AlertUrlOpt = DEFAULT_ALERT_URL,
) -> None:
    """Write the weekly digest (progress tables with ranks and movers, firing alerts, shortfall forecasts,
    missing or late reports, charts), judged at the end of the Thursday before the week's Friday."""
    from services.cli import alertapi  # noqa: PLC0415 - matplotlib and the HTTP client load when it runs

    chosen = [f.strip().lower() for f in formats.split(",") if f.strip()]
    if not chosen or any(f not in FORMATS for f in chosen):
        raise CliError(f"--format: {formats!r}: give html, md or html,md")
    for path in alertapi.write_digest(url, week, out, list(dict.fromkeys(chosen))):
        typer.echo(f"wrote {path}")
