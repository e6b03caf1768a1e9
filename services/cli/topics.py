"""``tiendo topics create|create-feed``: the project's topics, and a province's feed topic."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli.options import BootstrapOpt

app = typer.Typer(help="The project's Kafka topics.")


def _report(rows: list[tuple[str, int, bool]]) -> None:
    for name, partitions, created in rows:
        typer.echo(f"{name:<30} {partitions:>2} partitions  {'created' if created else 'exists'}")


@app.command("create")
def create(bootstrap_servers: BootstrapOpt = None) -> None:
    """Create every project topic that does not exist yet (idempotent)."""
    from services.cli import common  # noqa: PLC0415 - pydantic and Kafka's clients load when a command runs

    _report(common.create_topics(common.kafka_settings(bootstrap_servers)))


@app.command("create-feed")
def create_feed(
    name: Annotated[str, typer.Argument(help="Feed name: 'bac-giang' or 'feed.bac-giang' (the topic is feed.<name>).")],
    partitions: Annotated[int, typer.Option("--partitions", min=1, help="Partitions of a new topic.")] = 1,
    bootstrap_servers: BootstrapOpt = None,
) -> None:
    """Create a province's feed topic feed.<name> if it does not exist (feed topics are never namespaced)."""
    from services.cli import common  # noqa: PLC0415 - pydantic and Kafka's clients load when a command runs

    spec = common.feed_spec(name, partitions)
    _report(common.create_topics(common.kafka_settings(bootstrap_servers, namespace=""), [spec]))
