"""The work of ``tiendo publish`` (a province office's feed file) and ``tiendo replay`` (a history of feeds)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from services.cli.common import CHUNK, feed_spec, kafka_settings, partition_counts, run_kafka, start_producer
from services.cli.options import CliError
from services.demo.replay import replay, timeline
from shared.config import KafkaSettings
from shared.feedfiles import FeedFileError, count_records, read_feed_file

#: Files with at least this many events get a progress bar (on stderr, interactive terminals only).
PROGRESS_MIN = 5000


def publish_file(file: Path, topic: str, bootstrap_servers: str | None) -> None:
    """Publish a feed file's records to an existing feed topic, one message each, without keys."""
    name = feed_spec(topic, option="--topic").name
    settings = kafka_settings(bootstrap_servers)
    try:
        read_feed_file(file)  # checks the suffix and that the file exists, reads nothing
        total = count_records(file)
    except FeedFileError as exc:
        raise CliError(str(exc)) from None
    sent = asyncio.run(_publish(settings, file, name, total))
    typer.echo(f"published {sent} events from {file} to {name}")


async def _publish(settings: KafkaSettings, path: Path, topic: str, total: int) -> int:
    if topic not in await partition_counts(settings, [topic]):
        raise CliError(f"topic {topic} does not exist: create it first with 'tiendo topics create-feed {topic}'")
    producer = await start_producer(settings, "tiendo-publish")
    sent = 0
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=total < PROGRESS_MIN or not console.is_terminal,
    )
    try:
        with progress:
            task = progress.add_task(f"{path.name} → {topic}", total=total)
            pending: list[asyncio.Future[Any]] = []
            for record in read_feed_file(path):
                try:
                    pending.append(await producer.send(topic, record.value))
                except MessageSizeTooLargeError:
                    raise CliError(
                        f"{path}:{record.line}: the event is {len(record.value)} bytes, more than Kafka accepts "
                        f"({sent} events published before it)"
                    ) from None
                if len(pending) >= CHUNK:
                    await asyncio.gather(*pending)
                    sent += len(pending)
                    progress.advance(task, len(pending))
                    pending = []
            await asyncio.gather(*pending)
            sent += len(pending)
            progress.advance(task, len(pending))
    except FeedFileError as exc:
        raise CliError(f"{exc} ({sent} events published before the error)") from None
    except KafkaError as exc:
        raise CliError(f"publishing to {topic} failed after {sent} acknowledged events: {exc!r}") from None
    finally:
        await producer.stop()
    return sent


def replay_history(source: Path, speed: float, topic_prefix: str, bootstrap_servers: str | None) -> None:
    """Publish the feed files of ``source`` in event-time order, ``speed``× real time (0: flat out)."""
    if not source.exists():
        raise CliError(f"--from: {source} does not exist")
    settings = kafka_settings(bootstrap_servers)
    try:
        messages = timeline(source, topic_prefix)
    except FeedFileError as exc:
        raise CliError(str(exc)) from None
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(f"replaying {source}", total=len(messages))
        sent = run_kafka(settings, replay(settings, messages, speed or None, lambda n: bar.update(task, completed=n)))
    typer.echo(f"replayed {sent} events from {source}")
