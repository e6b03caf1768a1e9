"""``tiendo kafka start|stop|status``: the local single-node broker (``services.localkafka``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import typer

from services.cli.options import CliError

if TYPE_CHECKING:
    from services.localkafka import LocalBroker

app = typer.Typer(help="A local single-node Apache Kafka broker (KRaft) for development and tests.")


@contextlib.contextmanager
def _broker() -> Iterator[LocalBroker]:
    """The broker ``TIENDO_KAFKA_*`` describes; its failures become one CliError line."""
    from services.localkafka import BrokerError, LocalBroker  # noqa: PLC0415 - Kafka's client loads when asked

    try:
        yield LocalBroker.from_env()
    except BrokerError as exc:
        raise CliError(str(exc)) from None


def _running(broker: LocalBroker, pid: int) -> str:
    return f"Apache Kafka {broker.version()} running on {broker.bootstrap} (pid {pid}, data {broker.home})"


@app.command("start")
def start() -> None:
    """Fetch the jars (once), format storage (once), start the broker and wait until it is ready."""
    with _broker() as broker:
        typer.echo(_running(broker, broker.start()))


@app.command("stop")
def stop() -> None:
    """Stop the broker that ``tiendo kafka start`` started (that process only)."""
    with _broker() as broker:
        typer.echo("broker stopped" if broker.stop() else "no broker was running")


@app.command("status")
def status() -> None:
    """Say whether the local broker runs, where, and which Kafka version."""
    with _broker() as broker:
        pid = broker.pid()
        if pid is None:
            typer.echo(f"not running (data {broker.home})")
            raise typer.Exit(3)
        typer.echo(_running(broker, pid))
