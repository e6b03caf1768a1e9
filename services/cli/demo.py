"""``tiendo demo``: the whole pipeline on the local broker with a year of sample feeds (``services.demo``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.cli.options import CliError


def demo(
    *,
    seconds_per_year: Annotated[
        float,
        typer.Option(
            "--seconds-per-year", min=0, help="Replay pace: a year of feeds in this many seconds (0: flat out)."
        ),
    ] = 60.0,
    duration: Annotated[float | None, typer.Option("--duration", min=1, help="Stop after this many seconds.")] = None,
    keep_running: Annotated[bool, typer.Option("--keep-running", help="Leave the stack up for exploration.")] = False,
    monitoring: Annotated[bool, typer.Option(help="Start Prometheus and Alertmanager too.")] = True,
    namespace: Annotated[str, typer.Option(help="Prefix of the demo's topics and consumer groups.")] = "demo.",
    bootstrap_servers: Annotated[
        str | None, typer.Option("--bootstrap-servers", help="Use this Kafka cluster instead of the local broker.")
    ] = None,
    base_port: Annotated[int, typer.Option(min=1024, max=65000, help="HTTP ports of the workers: N, N+1, N+2.")] = 6066,
    home: Annotated[Path | None, typer.Option(help="Folder for logs and state (default .var/demo).")] = None,
    summary_json: Annotated[Path | None, typer.Option(help="Write the final totals and alerts here as JSON.")] = None,
) -> None:
    """The whole pipeline on the local broker with a year of sample provincial feeds: totals and alerts, live."""
    from services.demo.run import DemoOptions, ProcessError, run_demo  # noqa: PLC0415 - Kafka, rich, the workers

    options = DemoOptions(
        seconds_per_year=seconds_per_year,
        duration=duration,
        keep_running=keep_running,
        monitoring=monitoring,
        namespace=namespace,
        bootstrap_servers=bootstrap_servers,
        base_port=base_port,
        summary_json=summary_json,
    )
    if home is not None:
        options.home = home
    try:
        run_demo(options)
    except ProcessError as exc:
        raise CliError(str(exc).splitlines()[0]) from None
