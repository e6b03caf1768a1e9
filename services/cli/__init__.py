"""``tiendo``: the single command line for every worker and tool.

One module per command group; this one assembles them. Start-up imports only typer and these modules, so
``tiendo --help`` stays fast: each command imports its work (pydantic settings, Kafka clients, rich, Faust) when it
runs, in one import at the top of its body (``services.cli.common`` and the ``*io``/work modules, the workers'
``module:attribute`` names in ``services.cli.workers``).
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from services.cli import catalogue, digest, feeds, forecast, kafka, plans, ranking, topics, totals, whatif, workers
from services.cli.demo import demo
from services.cli.options import CliError

app = typer.Typer(
    name="tiendo",
    help="Watch Vietnamese provinces' plan indicators in real time on Kafka.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts say "[env TIENDO_…]": plain text, not markup
)
app.add_typer(kafka.app, name="kafka")
app.add_typer(topics.app, name="topics")
app.add_typer(catalogue.provinces_app, name="provinces")
app.add_typer(plans.app, name="plans")
app.command("publish")(feeds.publish)
app.add_typer(feeds.dlq_app, name="dlq")
app.command("ingest")(workers.ingest)
app.command("aggregate")(workers.aggregate)
app.command("totals")(totals.totals)
app.command("forecast")(forecast.forecast)
app.command("ranking")(ranking.ranking)
app.command("whatif")(whatif.whatif)
app.command("digest")(digest.digest)
app.command("alert")(workers.alert)
app.command("demo")(demo)
app.command("replay")(feeds.replay)
app.command("schema")(catalogue.schema)
app.command("indicators")(catalogue.indicators)


def _version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import version  # noqa: PLC0415 - 40 ms, for --version only

        typer.echo(f"tiendo {version('tiendo')}")
        raise typer.Exit


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """tiendo (tiến độ): progress against plan for Vietnam's provinces."""


def main() -> None:
    """Console-script entry point: errors are one line on stderr and a non-zero exit, never a traceback."""
    # The error line says what failed; without this, Kafka clients' own warnings (a refused connection, an
    # unclosed client) reach stderr through logging's last resort. Workers configure real handlers.
    for name in ("aiokafka", "asyncio"):
        logging.getLogger(name).addHandler(logging.NullHandler())
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # click's usage and parameter errors, as vendored by typer
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())
            sys.exit(0)
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        typer.echo(f"tiendo: error: {exc.format_message()}{where}", err=True)
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Abort:
        typer.echo("tiendo: aborted", err=True)
        sys.exit(130)
    except CliError as exc:
        typer.echo(f"tiendo: error: {exc}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
