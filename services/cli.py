"""``tiendo``: the single command line for every worker and tool."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from datetime import date, datetime
from enum import StrEnum
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
import typer

from services.alert.plans_cli import PlansError, plans_app
from services.ingest.cli import BootstrapOpt, dlq_app, publish
from services.localkafka import BrokerError, LocalBroker
from shared.config import KafkaSettings
from shared.topics import FEED_PREFIX, PROJECT_TOPICS, TopicSpec, ensure_topics

if TYPE_CHECKING:
    from shared.faustapp import WorkerSettings

S = TypeVar("S", bound=KafkaSettings)
W = TypeVar("W", bound="WorkerSettings")
T = TypeVar("T")

app = typer.Typer(
    name="tiendo",
    help="Watch Vietnamese provinces' plan indicators in real time on Kafka.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts say "[env TIENDO_…]": plain text, not markup
)
kafka_app = typer.Typer(help="A local single-node Apache Kafka broker (KRaft) for development and tests.")
topics_app = typer.Typer(help="The project's Kafka topics.")
provinces_app = typer.Typer(help="The province registry (63 pre-merger and 34 post-merger units).")
app.add_typer(kafka_app, name="kafka")
app.add_typer(topics_app, name="topics")
app.add_typer(provinces_app, name="provinces")
app.add_typer(plans_app, name="plans")
app.command("publish")(publish)
app.add_typer(dlq_app, name="dlq")


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 1."""


def load_settings(cls: type[S], **overrides: object) -> S:
    """Settings from flags (those given) over ``TIENDO_*`` environment variables; errors become one line."""
    from pydantic import ValidationError

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


def _security_problem(settings: KafkaSettings) -> str | None:
    """What keeps the security settings from making a client (CA bundle, SASL credentials), or None."""
    import ssl

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


def worker_settings(cls: type[W], **overrides: object) -> W:
    """A worker's settings (see :func:`load_settings`) with a log level the worker can use, else one line."""
    settings = load_settings(cls, **overrides)
    if not isinstance(logging.getLevelName(settings.log_level.upper()), int):
        raise CliError(
            f"--log-level / TIENDO_LOG_LEVEL: unknown log level {settings.log_level!r}: "
            "use DEBUG, INFO, WARNING or ERROR"
        )
    return settings


def kafka_error(settings: KafkaSettings, exc: BaseException) -> CliError:
    """The one line for a Kafka cluster that could not be reached or refused a request (no Python repr)."""
    from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

    if isinstance(exc, KafkaConnectionError):
        reason = "no broker answered"
    elif isinstance(exc, KafkaTimeoutError):
        reason = "timed out"
    else:
        reason = " ".join(str(exc).split()) or type(exc).__name__
    return CliError(f"cannot reach Kafka at {settings.bootstrap_servers} ({reason})")


def run_kafka(settings: KafkaSettings, work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(work)``: an unreachable or refusing cluster, or a refused topic, becomes one CliError line."""
    from aiokafka.errors import KafkaError

    from shared.topics import TopicError

    try:
        return asyncio.run(work)
    except TopicError as exc:
        raise CliError(str(exc)) from None
    except KafkaError as exc:
        raise kafka_error(settings, exc) from None


def feed_spec(name: str, partitions: int = 1, *, option: str = "") -> TopicSpec:
    """The feed topic ``feed.<name>`` for a name given on the command line; CliError for an empty or bad name."""
    from shared.topics import feed_topic

    where = f"{option}: " if option else ""
    try:
        spec = feed_topic(name, partitions)
    except ValueError as exc:
        raise CliError(f"{where}{exc}") from None
    if spec.name == FEED_PREFIX:
        raise CliError(f"{where}the feed name is empty: give one, e.g. bac-giang (topic feed.bac-giang)")
    return spec


WebPortOpt = Annotated[int | None, typer.Option("--web-port", help="HTTP port for /metrics and /health.")]
LogLevelOpt = Annotated[str | None, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")]


def echo_json(obj: object) -> None:
    typer.echo(orjson.dumps(obj, option=orjson.OPT_INDENT_2, default=str).decode())


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tiendo {package_version('tiendo')}")
        raise typer.Exit


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """tiendo (tiến độ): progress against plan for Vietnam's provinces."""


@kafka_app.command("start")
def kafka_start() -> None:
    """Fetch the jars (once), format storage (once), start the broker and wait until it is ready."""
    broker = LocalBroker.from_env()
    pid = broker.start()
    typer.echo(f"Apache Kafka {broker.version()} running on {broker.bootstrap} (pid {pid}, data {broker.home})")


@kafka_app.command("stop")
def kafka_stop() -> None:
    """Stop the broker that ``tiendo kafka start`` started (that process only)."""
    broker = LocalBroker.from_env()
    typer.echo("broker stopped" if broker.stop() else "no broker was running")


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether the local broker runs, where, and which Kafka version."""
    broker = LocalBroker.from_env()
    pid = broker.pid()
    if pid is None:
        typer.echo(f"not running (data {broker.home})")
        raise typer.Exit(3)
    typer.echo(f"Apache Kafka {broker.version()} running on {broker.bootstrap} (pid {pid}, data {broker.home})")


@topics_app.command("create")
def topics_create(bootstrap_servers: BootstrapOpt = None) -> None:
    """Create every project topic that does not exist yet (idempotent)."""
    settings = load_settings(KafkaSettings, bootstrap_servers=bootstrap_servers)
    created = run_kafka(settings, ensure_topics(settings, PROJECT_TOPICS))
    for spec in PROJECT_TOPICS:
        name = settings.topic(spec.name)
        typer.echo(f"{name:<30} {spec.partitions:>2} partitions  {'created' if name in created else 'exists'}")


@topics_app.command("create-feed")
def topics_create_feed(
    name: Annotated[str, typer.Argument(help="Feed name: 'bac-giang' or 'feed.bac-giang' (the topic is feed.<name>).")],
    partitions: Annotated[int, typer.Option("--partitions", min=1, help="Partitions of a new topic.")] = 1,
    bootstrap_servers: BootstrapOpt = None,
) -> None:
    """Create a province's feed topic feed.<name> if it does not exist (feed topics are never namespaced)."""
    spec = feed_spec(name, partitions)
    settings = load_settings(KafkaSettings, bootstrap_servers=bootstrap_servers, namespace="")
    created = run_kafka(settings, ensure_topics(settings, (spec,)))
    typer.echo(f"{spec.name:<30} {spec.partitions:>2} partitions  {'created' if created else 'exists'}")


@app.command("ingest")
def ingest(
    bootstrap_servers: BootstrapOpt = None,
    topic_pattern: Annotated[
        str | None, typer.Option("--topic-pattern", help="Feed topics to consume (regex) [env TIENDO_TOPIC_PATTERN].")
    ] = None,
    web_port: WebPortOpt = None,
    log_level: LogLevelOpt = None,
) -> None:
    """Run the ingest worker: feed topics → indicator.updates, bad events → indicator.dlq."""
    from services.ingest.app import create_app
    from services.ingest.settings import IngestSettings
    from shared.faustapp import run_worker

    settings = worker_settings(
        IngestSettings,
        bootstrap_servers=bootstrap_servers,
        topic_pattern=topic_pattern,
        web_port=web_port,
        log_level=log_level,
    )
    run_worker(create_app(settings), settings)


@app.command("aggregate")
def aggregate(
    bootstrap_servers: BootstrapOpt = None,
    web_port: WebPortOpt = None,
    log_level: LogLevelOpt = None,
) -> None:
    """Run the aggregate worker: indicator.updates → quarterly totals (table, indicator.totals, HTTP API)."""
    from services.aggregate.app import create_app
    from services.aggregate.settings import AggregateSettings
    from shared.faustapp import run_worker

    settings = worker_settings(
        AggregateSettings, bootstrap_servers=bootstrap_servers, web_port=web_port, log_level=log_level
    )
    run_worker(create_app(settings), settings)


#: base unit → (divisor, display unit, decimals) of the human figures ``tiendo totals`` prints.
_HUMAN_UNITS = {
    "VND": (10**9, "tỷ đồng", 2),
    "USD": (10**6, "triệu USD", 2),
    "ha": (1, "ha", 2),
    "%": (1, "%", 2),
}


class TotalsView(StrEnum):
    """The ``--view`` of ``tiendo totals``."""

    UNIT = "unit"
    CURRENT = "current"


@app.command("totals")
def totals(
    *,
    province: Annotated[str | None, typer.Option("--province", help="Province name (any spelling) or code.")] = None,
    indicator: Annotated[str | None, typer.Option("--indicator", help="Indicator id ('tiendo indicators').")] = None,
    year: Annotated[int | None, typer.Option("--year", min=2000, max=2999, help="Year, 2000-2999.")] = None,
    quarter: Annotated[
        int | None,
        typer.Option(
            "--quarter",
            min=1,
            max=5,
            help="Quarter, 1-4, or 5: Q4+, the January tail of the disbursement plan year (31 January next year).",
        ),
    ] = None,
    view: Annotated[
        TotalsView | None,
        typer.Option("--view", help="unit: units as they were; current: rolled up after the merger."),
    ] = None,
    url: Annotated[
        str, typer.Option("--url", envvar="TIENDO_AGGREGATE_URL", help="The aggregate worker's HTTP address.")
    ] = "http://127.0.0.1:6067",
    json: Annotated[bool, typer.Option("--json", help="Print the JSON rows.")] = False,
) -> None:
    """Show quarterly totals from the aggregate worker's totals API (GET /totals)."""
    params = {
        "province": province,
        "indicator": indicator,
        "year": year,
        "quarter": quarter,
        "view": view.value if view else None,
    }
    rows = _fetch_totals(url, {k: v for k, v in params.items() if v is not None})
    if json:
        echo_json(rows)
    elif not rows:
        typer.echo("no totals match")
    else:
        _print_totals(rows)


def _fetch_totals(url: str, params: dict[str, object]) -> list[dict]:
    """``GET <url>/totals``: the rows, or a one-line CliError (the API's 400 message, an unreachable worker)."""
    import urllib.error
    import urllib.parse
    import urllib.request

    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise CliError(f"--url: {url!r} is not an http:// or https:// address")
    query = urllib.parse.urlencode(params)
    target = f"{base}/totals" + (f"?{query}" if query else "")
    try:
        with urllib.request.urlopen(target, timeout=10) as resp:  # noqa: S310 - scheme checked above
            body = orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            message = orjson.loads(raw)["error"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            message = f"HTTP {exc.code} {exc.reason}: {raw[:200].decode(errors='replace')}"
        raise CliError(" ".join(str(message).split())) from None
    except (urllib.error.URLError, OSError) as exc:  # refused, unknown host, timed out
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise CliError(f"the aggregate worker is not reachable at {base} ({reason})") from None
    except orjson.JSONDecodeError:
        raise CliError(f"{target} did not answer JSON: is {base} the aggregate worker?") from None
    rows = body.get("totals") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise CliError(f"{target} answered without a 'totals' list: is {base} the aggregate worker?")
    return rows


def _human(raw: object, base_unit: str) -> tuple[str, str]:
    """An exact base-unit value as a rounded figure with thousands separators in a readable unit."""
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return str(raw), base_unit
    divisor, shown_unit, decimals = _HUMAN_UNITS.get(base_unit, (1, base_unit, 0))
    value /= divisor
    if decimals == 0 and value != value.to_integral_value():
        decimals = 2
    return f"{value:,.{decimals}f}", shown_unit


def _print_totals(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    from shared.provinces import MERGER_DATE, UnknownProvinceError, registry

    reg = registry()
    names = {p.uid: p.name for p in reg.all_units()}

    def province_label(row: dict) -> str:
        unit = str(row.get("unit", ""))
        name = names.get(unit)
        if row.get("view") == "current" or name is None:  # the unit is a current province's code
            try:
                name = reg.get(unit, on=MERGER_DATE).name
            except UnknownProvinceError:
                name = name or ""
        return f"{unit.split('@', maxsplit=1)[0]} {name}".strip()

    table = Table("province", "indicator", "year", "quarter", "value", "year to date", "unit", "events", "last as of")
    for column in table.columns[4:6] + table.columns[7:8]:
        column.justify = "right"
    for row in rows:
        base_unit = str(row.get("base_unit", ""))
        value, shown_unit = _human(row.get("value"), base_unit)
        ytd, _ = _human(row.get("ytd"), base_unit)
        as_of = row.get("last_as_of")
        table.add_row(
            province_label(row),
            str(row.get("indicator", "")),
            str(row.get("year", "")),
            str(row.get("period", "")),
            value,
            ytd,
            shown_unit,
            str(row.get("events", "")),
            str(as_of)[:10] if as_of else "-",
        )
    Console().print(table)


@app.command("alert")
def alert(
    bootstrap_servers: BootstrapOpt = None,
    alertmanager_url: Annotated[
        list[str] | None,
        typer.Option("--alertmanager-url", help="Alertmanager base URL (repeatable) [env TIENDO_ALERTMANAGER_URLS]."),
    ] = None,
    clock: Annotated[
        str | None, typer.Option("--clock", help="wall (live) or event (replays) [env TIENDO_CLOCK].")
    ] = None,
    web_port: WebPortOpt = None,
    log_level: LogLevelOpt = None,
) -> None:
    """Run the alert worker: plans + indicator.totals → pages to Alertmanager and the alerts topic."""
    from services.alert.app import create_app
    from services.alert.settings import AlertSettings
    from shared.faustapp import run_worker

    settings = worker_settings(
        AlertSettings,
        bootstrap_servers=bootstrap_servers,
        alertmanager_urls=",".join(alertmanager_url) if alertmanager_url else None,
        clock=clock,
        web_port=web_port,
        log_level=log_level,
    )
    run_worker(create_app(settings), settings)


@app.command("demo")
def demo(
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
    from services.demo.run import DemoOptions, run_demo
    from services.demo.stack import StackError

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
    except StackError as exc:
        raise CliError(str(exc).splitlines()[0]) from None


@app.command("replay")
def replay_cmd(
    source: Annotated[Path, typer.Option("--from", help="A feed file, or a folder of them (topic = file name).")],
    speed: Annotated[float, typer.Option("--speed", min=0, help="N× real time between event times; 0: flat out.")] = 0,
    topic_prefix: Annotated[str, typer.Option(help="Prefix added to every topic name.")] = "",
    bootstrap_servers: BootstrapOpt = None,
) -> None:
    """Replay a history of feed events into the feed topics at N× speed, event time preserved."""
    from rich.console import Console
    from rich.progress import Progress

    from services.demo.replay import replay, timeline
    from shared.feedfiles import FeedFileError

    if not source.exists():
        raise CliError(f"--from: {source} does not exist")
    settings = load_settings(KafkaSettings, bootstrap_servers=bootstrap_servers)
    try:
        messages = timeline(source, topic_prefix)
    except FeedFileError as exc:
        raise CliError(str(exc)) from None
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(f"replaying {source}", total=len(messages))
        sent = run_kafka(settings, replay(settings, messages, speed or None, lambda n: bar.update(task, completed=n)))
    typer.echo(f"replayed {sent} events from {source}")


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of feed events (v1)."""
    from shared.events import event_json_schema

    echo_json(event_json_schema())


@provinces_app.command("resolve")
def provinces_resolve(
    name: Annotated[str, typer.Argument(help="A province name in any spelling, or its code.")],
    on: Annotated[
        str | None, typer.Option(help="Date (YYYY-MM-DD) the name applies to; today in Vietnam if unset.")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Resolve a province name or code to the unit valid on a date, and the current unit it rolls up to."""
    from shared.provinces import UnknownProvinceError, registry
    from shared.vntime import VN_TZ

    try:
        day = date.fromisoformat(on) if on else datetime.now(VN_TZ).date()
    except ValueError as exc:
        raise CliError(f"--on: {on!r} is not a date (YYYY-MM-DD)") from exc
    reg = registry()
    try:
        unit = reg.resolve(name, on=day)
    except UnknownProvinceError as exc:
        raise CliError(str(exc)) from exc
    current = reg.rollup(unit.code, on=day)
    row = {
        "code": unit.code,
        "name": unit.name,
        "official_name": unit.official_name,
        "valid_from": unit.valid_from,
        "valid_to": unit.valid_to,
        "current_code": current.code,
        "current_name": current.name,
    }
    if json:
        echo_json(row)
        return
    rolls = "" if current == unit else f"  → rolls up to {current.code} {current.name}"
    typer.echo(f"{unit.code} {unit.official_name} (on {day}){rolls}")


@app.command("indicators")
def indicators(json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the indicator catalogue."""
    from rich import box
    from rich.console import Console
    from rich.table import Column, Table

    from shared.indicators import CATALOGUE

    rows = [
        {
            "id": ind.id,
            "name_vi": ind.name_vi,
            "name_en": ind.name_en,
            "kind": str(ind.kind),
            "base_unit": ind.base_unit,
            "higher_is_better": ind.higher_is_better,
            "cadence_days": ind.cadence_days,
            "default_curve": ind.default_curve,
        }
        for ind in CATALOGUE.values()
    ]
    if json:
        echo_json(rows)
        return
    # Ids are what users type: never cut, whatever the terminal width; the names (Vietnamese above English)
    # take the room left and wrap.
    table = Table(
        Column("id", no_wrap=True, min_width=max(len(r["id"]) for r in rows)),
        Column("name (vi / en)", ratio=1, overflow="fold"),
        Column("kind", no_wrap=True),
        Column("base\nunit", no_wrap=True),
        Column("cadence\n(days)", no_wrap=True, justify="right"),
        box=box.SIMPLE_HEAD,
    )
    for r in rows:
        name = f"{r['name_vi']}\n{r['name_en']}"
        table.add_row(r["id"], name, r["kind"], r["base_unit"], str(r["cadence_days"]))
    Console().print(table)


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
    except (CliError, BrokerError, PlansError) as exc:
        typer.echo(f"tiendo: error: {exc}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
