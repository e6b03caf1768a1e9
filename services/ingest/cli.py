"""The ingest side's tools: ``tiendo publish`` (a province office's feed file) and ``tiendo dlq`` (dead letters).

``services.cli`` imports this module at start-up, so only typer is imported at module level; Kafka clients,
rich and the shared modules are imported inside the commands (a fast ``tiendo --help``). Nothing here imports
``services.cli`` at module level either (it imports this module): ``CliError`` and ``load_settings`` are
looked up when a command runs.
"""

# ruff: noqa: PLC0415

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer
    from aiokafka.structs import ConsumerRecord

    from shared.config import KafkaSettings
    from shared.deadletter import DeadLetter

#: Sends in flight before the publisher waits for their acknowledgements.
CHUNK = 1000
#: Files with at least this many events get a progress bar (on stderr, interactive terminals only).
PROGRESS_MIN = 5000
#: Characters of an original value shown in the ``dlq show`` table.
PREVIEW_CHARS = 80

dlq_app = typer.Typer(
    help="The dead-letter topic (indicator.dlq): list rejected feed events, replay them to their feed topic.",
    no_args_is_help=True,
)

#: ``--bootstrap-servers`` of every command that talks to Kafka (help texts are plain text: no markup escapes).
BootstrapOpt = Annotated[
    str | None, typer.Option("--bootstrap-servers", help="Kafka host:port list [env TIENDO_BOOTSTRAP_SERVERS].")
]
ReasonOpt = Annotated[
    list[str] | None,
    typer.Option("--reason", help="Only letters with this reason code (repeatable), e.g. unknown_province."),
]
TopicFilterOpt = Annotated[
    str | None,
    typer.Option("--topic-filter", help="Only letters from this source feed topic (shell wildcards allowed: feed.*)."),
]


# --- tiendo publish ---------------------------------------------------------------------------------------------


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
    from services.cli import CliError, feed_spec, load_settings
    from shared.config import KafkaSettings
    from shared.feedfiles import FeedFileError, count_records, read_feed_file

    name = feed_spec(topic, option="--topic").name
    settings = load_settings(KafkaSettings, bootstrap_servers=bootstrap_servers)
    try:
        read_feed_file(file)  # checks the suffix and that the file exists, reads nothing
        total = count_records(file)
    except FeedFileError as exc:
        raise CliError(str(exc)) from None
    sent = asyncio.run(_publish(settings, file, name, total))
    typer.echo(f"published {sent} events from {file} to {name}")


async def _publish(settings: KafkaSettings, path: Path, topic: str, total: int) -> int:
    from aiokafka.errors import KafkaError, MessageSizeTooLargeError
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from services.cli import CliError
    from shared.feedfiles import FeedFileError, read_feed_file

    if topic not in await _partition_counts(settings, [topic]):
        raise CliError(f"topic {topic} does not exist: create it first with 'tiendo topics create-feed {topic}'")
    producer = await _start_producer(settings, "tiendo-publish")
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


# --- tiendo dlq show / replay -------------------------------------------------------------------------------------


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
    from collections import deque

    import orjson

    from services.cli import load_settings
    from shared.config import KafkaSettings
    from shared.topics import DLQ

    settings = load_settings(KafkaSettings, bootstrap_servers=bootstrap_servers)
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
    dedupe state, and events still bad are dead-lettered again (a new letter with a new offset). Readings the
    aggregate worker refused as implausible are not replayed: ingest accepted them, so the same revision would be a
    duplicate; the office re-sends a corrected revision, or one with "confirmed": true.
    """
    from collections import Counter

    from services.cli import CliError, load_settings
    from shared.config import KafkaSettings
    from shared.normalise import Reason
    from shared.topics import DLQ

    settings = load_settings(KafkaSettings, bootstrap_servers=bootstrap_servers)
    keep = _letter_filter(reason, topic_filter)
    topic = settings.topic(DLQ.name)
    # (source topic, key, value) → source partition; one replay per distinct original, in dead-letter order.
    originals: dict[tuple[str, bytes | None, bytes], int] = {}
    counts = {"records": 0, "matching": 0, "partitions": 0, "null": 0, "omitted": 0, "implausible": 0}

    def visit(_: ConsumerRecord, letter: DeadLetter) -> None:
        if not keep(letter):
            return
        counts["matching"] += 1
        if letter.reason == Reason.IMPLAUSIBLE_VALUE:
            counts["implausible"] += 1
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
    skipped = counts["null"] + counts["omitted"] + counts["implausible"]
    if counts["matching"] - skipped > len(originals):
        extra.append(f"{counts['matching'] - skipped - len(originals)} identical letters replayed once")
    if counts["null"]:
        extra.append(f"{counts['null']} letters of null messages skipped")
    if counts["omitted"]:
        extra.append(f"{counts['omitted']} letters skipped: their originals (over 64 KiB) stay at their origin")
    if counts["implausible"]:
        extra.append(
            f"{counts['implausible']} implausible readings skipped: the office re-sends them with a higher revision"
        )
    typer.echo(
        f"{_events(done)} {verb} from {counts['matching']} matching dead letters in {topic}"
        + (f" ({'; '.join(extra)})" if extra else "")
    )
    if missing:
        raise CliError(f"source topics missing, their events were not replayed: {', '.join(sorted(missing))}")


def _letter_filter(reasons: list[str] | None, topic_filter: str | None) -> Callable[[DeadLetter], bool]:
    from fnmatch import fnmatchcase

    from services.cli import CliError
    from shared.normalise import Reason

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
    from aiokafka.errors import KafkaError

    from services.cli import CliError
    from shared.deadletter import DeadLetter
    from shared.reading import TopicStalledError, iter_to_end

    partitions = (await _partition_counts(settings, [topic])).get(topic)
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
    from aiokafka.errors import KafkaError

    from services.cli import CliError

    sources = sorted({source for source, _, _ in originals})
    partitions = await _partition_counts(settings, sources)
    producer = await _start_producer(settings, "tiendo-dlq-replay")
    try:
        pending: list[asyncio.Future[Any]] = []
        for (source, key, value), partition in originals.items():
            if source not in partitions:
                continue
            pending.append(
                await producer.send(
                    source, value, key=key, partition=partition if partition < partitions[source] else None
                )
            )
            if len(pending) >= CHUNK:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    except KafkaError as exc:
        raise CliError(f"replaying dead letters failed: {exc!r}") from None
    finally:
        await producer.stop()
    return [source for source in sources if source not in partitions]


# --- shared helpers -----------------------------------------------------------------------------------------------


async def _partition_counts(settings: KafkaSettings, topics: list[str]) -> dict[str, int]:
    """Partitions of each of ``topics`` that exists (missing topics are left out)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    from services.cli import kafka_error

    admin = AIOKafkaAdminClient(**settings.client_kwargs(), client_id="tiendo-cli")
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        wanted = [t for t in topics if t in existing]
        described = await admin.describe_topics(wanted) if wanted else []
    except KafkaError as exc:
        raise kafka_error(settings, exc) from None
    finally:
        await admin.close()
    return {d["topic"]: len(d["partitions"]) for d in described if d["error_code"] == 0 and d["partitions"]}


async def _start_producer(settings: KafkaSettings, client_id: str) -> AIOKafkaProducer:
    """An acks=all, idempotent producer: a retried send is never written twice."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    from services.cli import kafka_error

    producer = AIOKafkaProducer(
        **settings.client_kwargs(),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=10,
        max_batch_size=256 * 1024,
    )
    try:
        await producer.start()
    except KafkaError as exc:
        await producer.stop()
        raise kafka_error(settings, exc) from None
    return producer


def _events(n: int) -> str:
    return f"{n} event" if n == 1 else f"{n} events"


def _preview(data: bytes | None) -> str:
    """An original value for the table: text when UTF-8, else ``base64 '...'``; at most PREVIEW_CHARS."""
    import base64

    if data is None:
        return "(null)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = f"base64 {base64.b64encode(data).decode('ascii')!r}"
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _print_table(topic: str, shown: list[tuple[ConsumerRecord, DeadLetter]], counts: dict[str, int]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

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
