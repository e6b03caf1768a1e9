"""The work of ``tiendo dlq show|replay``: read the dead-letter topic whole, list or re-publish its letters."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter, deque
from collections.abc import Callable
from fnmatch import fnmatchcase

import orjson
import typer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from rich.console import Console
from rich.table import Table
from rich.text import Text

from services.cli.common import kafka_settings, partition_counts, start_producer
from services.cli.options import CliError
from shared import kafkaclients
from shared.config import KafkaSettings
from shared.deadletter import DeadLetter
from shared.normalise import AFTER_INGEST, Reason
from shared.reading import TopicStalledError, iter_to_end
from shared.topics import DLQ

#: Characters of an original value shown in the ``dlq show`` table.
PREVIEW_CHARS = 80


def show(
    limit: int, reason: list[str] | None, topic_filter: str | None, json: bool, bootstrap_servers: str | None
) -> None:
    """Print the ``limit`` most recent matching dead letters (0: all), as a table or JSON lines."""
    settings = kafka_settings(bootstrap_servers)
    keep = _letter_filter(reason, topic_filter)
    topic = settings.topic(DLQ.name)
    shown: deque[tuple[ConsumerRecord, DeadLetter]] = deque(maxlen=limit or None)
    counts = {"records": 0, "matching": 0, "partitions": 0}

    def visit(record: ConsumerRecord, letter: DeadLetter) -> None:
        if keep(letter):
            counts["matching"] += 1
            shown.append((record, letter))

    if not asyncio.run(_scan_dlq(settings, topic, visit, counts)):
        typer.echo(f"no dead letters: topic {topic} does not exist (yet)", err=json)
        return
    if json:
        for record, _ in shown:
            line = {"partition": record.partition, "offset": record.offset, **orjson.loads(record.value)}
            typer.echo(orjson.dumps(line).decode())
        return
    _print_table(topic, list(shown), counts)


def replay(reason: list[str] | None, topic_filter: str | None, dry_run: bool, bootstrap_servers: str | None) -> None:
    """Re-publish the matching letters' originals to their source topics (or only count them: ``dry_run``)."""
    settings = kafka_settings(bootstrap_servers)
    keep = _letter_filter(reason, topic_filter)
    topic = settings.topic(DLQ.name)
    # (source topic, key, value) → source partition; one replay per distinct original, in dead-letter order.
    originals: dict[tuple[str, bytes | None, bytes], int] = {}
    counts = {"records": 0, "matching": 0, "partitions": 0, "null": 0, "omitted": 0}
    counts |= dict.fromkeys(AFTER_INGEST, 0)

    def visit(_: ConsumerRecord, letter: DeadLetter) -> None:
        if not keep(letter):
            return
        counts["matching"] += 1
        if letter.reason in AFTER_INGEST:
            counts[letter.reason] += 1
            return
        if letter.value is None:
            # A null message can never become a valid event; an original left out of its letter (too large)
            # is not in the dead-letter topic to replay.
            counts["omitted" if letter.value_omitted is not None else "null"] += 1
            return
        originals.setdefault((letter.origin.topic, letter.key, letter.value), letter.origin.partition)

    if not asyncio.run(_scan_dlq(settings, topic, visit, counts)):
        typer.echo(f"nothing to replay: topic {topic} does not exist (yet)")
        return
    per_topic = Counter(source for source, _, _ in originals)
    missing: list[str] = []
    if per_topic and not dry_run:
        missing = asyncio.run(_replay(settings, originals))
    verb = "would be replayed" if dry_run else "replayed"
    for source, n in sorted(per_topic.items()):
        status = "not replayed: the topic no longer exists" if source in missing else verb
        typer.echo(f"{source}  {_events(n)} {status}")
    done = sum(n for source, n in per_topic.items() if source not in missing)
    extra = []
    skipped = counts["null"] + counts["omitted"] + sum(counts[r] for r in AFTER_INGEST)
    if counts["matching"] - skipped > len(originals):
        extra.append(f"{counts['matching'] - skipped - len(originals)} identical letters replayed once")
    if counts["null"]:
        extra.append(f"{counts['null']} letters of null messages skipped")
    if counts["omitted"]:
        extra.append(f"{counts['omitted']} letters skipped: their originals (over 64 KiB) stay at their origin")
    if counts[Reason.IMPLAUSIBLE_VALUE]:
        extra.append(
            f"{counts[Reason.IMPLAUSIBLE_VALUE]} implausible readings skipped: the office re-sends them with a higher "
            "revision"
        )
    if counts[Reason.SERIES_FULL]:
        extra.append(
            f"{counts[Reason.SERIES_FULL]} updates of full series skipped: ingest accepted them, so they would be "
            "duplicates (docs/runbook.md#tiendostatefull)"
        )
    typer.echo(
        f"{_events(done)} {verb} from {counts['matching']} matching dead letters in {topic}"
        + (f" ({'; '.join(extra)})" if extra else "")
    )
    if missing:
        raise CliError(f"source topics missing, their events were not replayed: {', '.join(sorted(missing))}")


def _letter_filter(reasons: list[str] | None, topic_filter: str | None) -> Callable[[DeadLetter], bool]:
    known = {r.value for r in Reason}
    wanted = set(reasons or ())
    if unknown := sorted(wanted - known):
        raise CliError(f"--reason: unknown reason {', '.join(unknown)}; reasons are {', '.join(sorted(known))}")

    def keep(letter: DeadLetter) -> bool:
        if wanted and letter.reason not in wanted:
            return False
        return topic_filter is None or fnmatchcase(letter.origin.topic, topic_filter)

    return keep


async def _scan_dlq(
    settings: KafkaSettings,
    topic: str,
    visit: Callable[[ConsumerRecord, DeadLetter], None],
    counts: dict[str, int],
) -> bool:
    """Read ``topic`` from the beginning to its end as of now, without a consumer group; False if it is missing.

    Records that are not dead letters are skipped with a warning on stderr.
    """
    partitions = (await partition_counts(settings, [topic])).get(topic)
    if partitions is None:
        return False
    counts["partitions"] = partitions
    broken = 0
    try:
        async for record in iter_to_end(settings, topic):
            counts["records"] += 1
            try:
                letter = DeadLetter.decode(record.value)
            except (ValueError, KeyError, TypeError):
                broken += 1
                continue
            visit(record, letter)
    except TopicStalledError as exc:
        raise CliError(str(exc)) from None
    except KafkaError as exc:
        raise CliError(f"reading {topic} from {settings.bootstrap_servers} failed: {exc!r}") from None
    if broken:
        typer.echo(f"tiendo: warning: skipped {broken} records of {topic} that are not dead letters", err=True)
    return True


async def _replay(settings: KafkaSettings, originals: dict[tuple[str, bytes | None, bytes], int]) -> list[str]:
    """Publish the originals to their source topics (same partition when it still exists); return missing topics."""
    sources = sorted({source for source, _, _ in originals})
    partitions = await partition_counts(settings, sources)
    producer = await start_producer(settings, "tiendo-dlq-replay")
    try:
        await kafkaclients.send_all(
            producer,
            [
                (source, key, value, partition if partition < partitions[source] else None)
                for (source, key, value), partition in originals.items()
                if source in partitions
            ],
        )
    except KafkaError as exc:
        raise CliError(f"replaying dead letters failed: {exc!r}") from None
    finally:
        await producer.stop()
    return [source for source in sources if source not in partitions]


def _events(n: int) -> str:
    return f"{n} event" if n == 1 else f"{n} events"


def _preview(data: bytes | None) -> str:
    """An original value for the table: text when UTF-8, else ``base64 '...'``; at most PREVIEW_CHARS."""
    if data is None:
        return "(null)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = f"base64 {base64.b64encode(data).decode('ascii')!r}"
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _print_table(topic: str, shown: list[tuple[ConsumerRecord, DeadLetter]], counts: dict[str, int]) -> None:
    several = counts["partitions"] > 1
    table = Table(
        "offset",
        "source (topic/partition/offset)",
        "reason",
        "message",
        "original value",
        caption=f"{len(shown)} of {counts['matching']} matching letters ({counts['records']} in {topic})",
    )
    for record, letter in shown:
        o = letter.origin
        table.add_row(
            f"{record.partition}:{record.offset}" if several else str(record.offset),
            Text(f"{o.topic}/{o.partition}/{o.offset}"),
            Text(letter.reason),
            Text(letter.message),
            Text(_preview(letter.value)),
        )
    Console().print(table)
