"""``tiendo kafka start|stop|status``: the local broker, alone or as a 3-node cluster (``services.localkafka``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from services.cli.options import CliError

if TYPE_CHECKING:
    from services.localkafka import LocalBroker, LocalCluster

app = typer.Typer(help="A local Apache Kafka broker (KRaft), alone or as a 3-node cluster, for development and tests.")


@contextlib.contextmanager
def _local() -> Iterator[tuple[LocalBroker, LocalCluster]]:
    """The broker ``TIENDO_KAFKA_*`` describes and the cluster from its ports on; failures become one CliError line."""
    from services.localkafka import BrokerError, LocalBroker, LocalCluster  # noqa: PLC0415 - Kafka's client loads when asked

    try:
        yield LocalBroker.from_env(), LocalCluster.from_env()
    except BrokerError as exc:
        raise CliError(str(exc)) from None


def _running(broker: LocalBroker, pid: int) -> str:
    return f"Apache Kafka {broker.version()} running on {broker.bootstrap} (pid {pid}, data {broker.home})"


def _cluster(cluster: LocalCluster) -> str:
    nodes = ", ".join(f"node {n} {'pid ' + str(pid) if pid else 'down'}" for n, pid in cluster.pids().items())
    return (
        f"Apache Kafka {cluster.nodes[0].version()} cluster on {cluster.bootstrap} ({nodes}; data {cluster.home}); "
        f"workers: TIENDO_BOOTSTRAP_SERVERS={cluster.bootstrap} TIENDO_REPLICATION_FACTOR={cluster.size}"
    )


@app.command("start")
def start(
    brokers: Annotated[
        int, typer.Option(help="1: one broker; 3: a KRaft cluster, each node broker and controller (a quorum of 3).")
    ] = 1,
) -> None:
    """Fetch the jars (once), format storage (once), start the broker(s) and wait until ready; a cluster is ready
    when every node answers metadata listing all three brokers (each registered with the quorum's controller)."""
    if brokers not in (1, 3):
        raise CliError(f"--brokers must be 1 or 3, not {brokers}")
    with _local() as (broker, cluster):
        if brokers == 1:
            if any(cluster.pids().values()):
                raise CliError(f"the local cluster runs on {cluster.bootstrap}: tiendo kafka stop first")
            typer.echo(_running(broker, broker.start()))
        else:
            if broker.pid() is not None:
                raise CliError(f"the single local broker runs on {broker.bootstrap}: tiendo kafka stop first")
            cluster.start()
            typer.echo(_cluster(cluster))


@app.command("stop")
def stop() -> None:
    """Stop the broker or cluster that ``tiendo kafka start`` started (those processes only)."""
    with _local() as (broker, cluster):
        stopped = [what for what, done in (("broker", broker.stop()), ("cluster", cluster.stop())) if done]
        typer.echo(f"{' and '.join(stopped)} stopped" if stopped else "no broker was running")


@app.command("status")
def status() -> None:
    """Say whether the local broker or cluster runs (exit 3 when neither does), where, and which Kafka version."""
    with _local() as (broker, cluster):
        pid = broker.pid()
        if pid is not None:
            typer.echo(_running(broker, pid))
        if any(cluster.pids().values()):
            typer.echo(_cluster(cluster))
        elif pid is None:
            typer.echo(f"not running (data {broker.home})")
            raise typer.Exit(3)
