"""``tiendo whatif PLANFILE``: changed plans judged against the current figures and alerts; nothing is published."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from services.cli.forecast import DEFAULT_ALERT_URL, AlertUrlOpt, AtOpt

DEFAULT_AGGREGATE_URL = "http://127.0.0.1:6067"  # services/aggregate/settings.py: web_port


def whatif(
    file: Annotated[Path, typer.Argument(help="A YAML or CSV plan file with the changed plans (deploy/plans).")],
    *,
    at: AtOpt = None,
    url: AlertUrlOpt = DEFAULT_ALERT_URL,
    aggregate_url: Annotated[
        str, typer.Option("--aggregate-url", envvar="TIENDO_AGGREGATE_URL", help="The aggregate worker's address.")
    ] = DEFAULT_AGGREGATE_URL,
    json: Annotated[bool, typer.Option("--json", help="Print every rule's outcome as JSON.")] = False,
) -> None:
    """Which alerts the changed plans would fire, keep or resolve on today's figures (GET /totals of the aggregate
    worker, GET /alerts of the alert worker), judged by the alert rules here: nothing is published."""
    from services.cli import whatifio  # noqa: PLC0415 - the plan rules and the HTTP clients load when it runs

    whatifio.run(file, at.date() if isinstance(at, datetime) else None, url, aggregate_url, json)
