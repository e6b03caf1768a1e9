"""Settings from flags and the environment, and Kafka failures as one line: what the commands' work shares.

Commands import this module when they run, never at start-up (it loads pydantic and the Kafka clients).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from pydantic import ValidationError

from services.cli.options import CliError
from shared import kafkaclients
from shared.config import KafkaSettings
from shared.topics import FEED_PREFIX, PROJECT_TOPICS, TopicError, TopicSpec, ensure_topics, feed_topic

if TYPE_CHECKING:
    from shared.faustapp import WorkerSettings

S = TypeVar("S", bound=KafkaSettings)
W = TypeVar("W", bound="WorkerSettings")
T = TypeVar("T")

#: Sends in flight before a command waits for their acknowledgements.
CHUNK = 1000


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Settings from flags (those given) over ``TIENDO_*`` environment variables; errors become one line."""
    try:
        settings = cls(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise CliError(f"invalid settings: {problems}") from None
    if problem := _bootstrap_problem(settings.bootstrap_servers) or _security_problem(settings):
        raise CliError(f"invalid settings: {problem}")
    return settings


def worker_settings(cls: type[W], **overrides: object) -> W:
    """A worker's settings (see :func:`load_settings`) with a log level the worker can use, else one line."""
    settings = load_settings(cls, **overrides)
    if not isinstance(logging.getLevelName(settings.log_level.upper()), int):
        raise CliError(
            f"--log-level / TIENDO_LOG_LEVEL: unknown log level {settings.log_level!r}: "
            "use DEBUG, INFO, WARNING or ERROR"
        )
    return settings


def kafka_settings(bootstrap_servers: str | None, **overrides: object) -> KafkaSettings:
    """The cluster's settings: ``--bootstrap-servers`` (when given) over the environment."""
    return load_settings(KafkaSettings, bootstrap_servers=bootstrap_servers, **overrides)


def _security_problem(settings: KafkaSettings) -> str | None:
    """What keeps the security settings from making a client (CA bundle, SASL credentials), or None."""
    if settings.security_protocol.startswith("SASL") and not (settings.sasl_username and settings.sasl_password):
        return f"{settings.security_protocol} needs TIENDO_SASL_USERNAME and TIENDO_SASL_PASSWORD"
    try:
        settings.client_kwargs()  # loads the CA bundle for SSL
    except (OSError, ssl.SSLError) as exc:
        return f"ssl_cafile: cannot load the CA bundle {settings.ssl_cafile} ({exc.strerror or exc})"
    return None


def _bootstrap_problem(servers: str) -> str | None:
    """What is wrong with a ``host:port,host:port`` list (a port defaults to 9092), or None."""
    entries = [entry.strip() for entry in servers.split(",") if entry.strip()]
    if not entries:
        return f"bootstrap_servers: {servers!r} names no broker (host:port, comma-separated)"
    for entry in entries:
        host, colon, port = entry.rpartition(":") if not entry.endswith("]") else (entry, "", "")
        if not colon:
            host, port = entry, "9092"
        if not host.strip("[]") or not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
            return f"bootstrap_servers: {entry!r} is not host:port (a port is 1-65535)"
    return None


def kafka_error(settings: KafkaSettings, exc: BaseException) -> CliError:
    """The one line for a Kafka cluster that could not be reached or refused a request (no Python repr)."""
    if isinstance(exc, KafkaConnectionError):
        reason = "no broker answered"
    elif isinstance(exc, KafkaTimeoutError):
        reason = "timed out"
    else:
        reason = " ".join(str(exc).split()) or type(exc).__name__
    return CliError(f"cannot reach Kafka at {settings.bootstrap_servers} ({reason})")


def run_kafka(settings: KafkaSettings, work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(work)``: an unreachable or refusing cluster, or a refused topic, becomes one CliError line."""
    try:
        return asyncio.run(work)
    except TopicError as exc:
        raise CliError(str(exc)) from None
    except KafkaError as exc:
        raise kafka_error(settings, exc) from None


def feed_spec(name: str, partitions: int = 1, *, option: str = "") -> TopicSpec:
    """The feed topic ``feed.<name>`` for a name given on the command line; CliError for an empty or bad name."""
    where = f"{option}: " if option else ""
    try:
        spec = feed_topic(name, partitions)
    except ValueError as exc:
        raise CliError(f"{where}{exc}") from None
    if spec.name == FEED_PREFIX:
        raise CliError(f"{where}the feed name is empty: give one, e.g. bac-giang (topic feed.bac-giang)")
    return spec


def create_topics(settings: KafkaSettings, specs: Sequence[TopicSpec] = PROJECT_TOPICS) -> list[tuple[str, int, bool]]:
    """Create those of the topics that do not exist yet: (name in the namespace, partitions, created) each."""
    created = run_kafka(settings, ensure_topics(settings, specs))
    return [(settings.topic(s.name), s.partitions, settings.topic(s.name) in created) for s in specs]


async def partition_counts(settings: KafkaSettings, topics: list[str]) -> dict[str, int]:
    """Partitions of each of ``topics`` that exists (missing topics are left out)."""
    admin = kafkaclients.admin(settings, "tiendo-cli")
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


async def start_producer(settings: KafkaSettings, client_id: str) -> AIOKafkaProducer:
    """A started producer (``shared.kafkaclients``: acks=all, idempotent); a cluster out of reach is one line."""
    producer = kafkaclients.producer(settings, client_id, linger_ms=10)
    try:
        await producer.start()
    except KafkaError as exc:
        await producer.stop()
        raise kafka_error(settings, exc) from None
    return producer
