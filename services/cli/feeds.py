"""``tiendo publish``, ``tiendo replay`` and ``tiendo dlq show|replay``: feed events in, dead letters back out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.cli.options import BootstrapOpt

dlq_app = typer.Typer(
    help="The dead-letter topic (indicator.dlq): list rejected feed events, replay them to their feed topic.",
    no_args_is_help=True,
)
ReasonOpt = Annotated[
    list[str] | None,
    typer.Option("--reason", help="Only letters with this reason code (repeatable), e.g. unknown_province."),
]
TopicFilterOpt = Annotated[
    str | None,
    typer.Option("--topic-filter", help="Only letters from this source feed topic (shell wildcards allowed: feed.*)."),
]


def publish(
    file: Annotated[
        Path, typer.Argument(help="Feed file: JSON lines (.jsonl, .ndjson, .json) or CSV (.csv) with a header row.")
    ],
    topic: Annotated[
        str,
        typer.Option("--topic", "-t", help="Feed topic (feed.<name>; 'NAME' means feed.NAME). It must exist already."),
    ],
    bootstrap_servers: BootstrapOpt = None,
) -> None:
    """Publish a feed file's events to a feed topic, one message per event, as a province's office does.

    Message values are the file's records (JSON lines byte for byte, CSV rows as JSON objects), without keys.
    Nothing is checked here: the ingest worker validates each event and dead-letters bad ones.
    """
    from services.cli.publishing import publish_file  # noqa: PLC0415 - Kafka and rich load when a command runs

    publish_file(file, topic, bootstrap_servers)


def replay(
    source: Annotated[Path, typer.Option("--from", help="A feed file, or a folder of them (topic = file name).")],
    speed: Annotated[float, typer.Option("--speed", min=0, help="N× real time between event times; 0: flat out.")] = 0,
    topic_prefix: Annotated[str, typer.Option(help="Prefix added to every topic name.")] = "",
    bootstrap_servers: BootstrapOpt = None,
) -> None:
    """Replay a history of feed events into the feed topics at N× speed, event time preserved."""
    from services.cli.publishing import replay_history  # noqa: PLC0415 - Kafka and rich load when a command runs

    replay_history(source, speed, topic_prefix, bootstrap_servers)


@dlq_app.command("show")
def dlq_show(
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Show the N most recent matching letters (0: all).")
    ] = 50,
    reason: ReasonOpt = None,
    topic_filter: TopicFilterOpt = None,
    json: Annotated[bool, typer.Option("--json", help="Print JSON lines (one dead letter per line).")] = False,
    bootstrap_servers: BootstrapOpt = None,
) -> None:
    """List dead letters: where each rejected event came from, why, and its original bytes."""
    from services.cli import deadletters  # noqa: PLC0415 - Kafka and rich load when a command runs

    deadletters.show(limit, reason, topic_filter, json, bootstrap_servers)


@dlq_app.command("replay")
def dlq_replay(
    reason: ReasonOpt = None,
    topic_filter: TopicFilterOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be replayed.")] = False,
    bootstrap_servers: BootstrapOpt = None,
) -> None:
    """Re-publish dead-lettered events (original bytes and key) to their source feed topic.

    Use it after fixing what rejected them (a province alias, a unit spelling...). Safe to repeat: identical
    letters are replayed once per run, events the ingest worker already accepted are dropped as duplicates by its
    dedupe state, and events still bad are dead-lettered again (a new letter with a new offset). Updates the
    aggregate worker refused (implausible, series full) are not replayed: ingest accepted them, so the same
    revision would be a duplicate; for an implausible reading the office re-sends a corrected revision, or one with
    "confirmed": true.
    """
    from services.cli import deadletters  # noqa: PLC0415 - Kafka and rich load when a command runs

    deadletters.replay(reason, topic_filter, dry_run, bootstrap_servers)
