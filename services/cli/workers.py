"""``tiendo ingest|aggregate|alert``: the three workers, each command built by :func:`worker_command`."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from services.cli.options import BootstrapOpt


@dataclass(frozen=True, slots=True)
class Flag:
    """A command-line option of a worker: the settings field it sets (``None`` when not given)."""

    field: str
    annotation: Any
    convert: Callable[[Any], object] = lambda value: value


def _flag(field: str, option: str, help_text: str, kind: Any = str | None, **kw: Any) -> Flag:
    return Flag(field, Annotated[kind, typer.Option(option, help=help_text)], **kw)


COMMON = (
    Flag("bootstrap_servers", BootstrapOpt),
    _flag("web_port", "--web-port", "HTTP port for /metrics and /health.", int | None),
    _flag("log_level", "--log-level", "DEBUG, INFO, WARNING or ERROR."),
)


def _load(target: str) -> Any:
    """``module:attribute``, imported when the worker starts (Faust and the worker's code load only then)."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def worker_command(settings: str, create_app: str, doc: str, *flags: Flag) -> Callable[..., None]:
    """The command running one worker: its settings class (``module:Class``) from ``--bootstrap-servers``,
    ``flags``, ``--web-port``, ``--log-level`` and the environment, then its Faust app (``module:function``)."""
    every = (COMMON[0], *flags, *COMMON[1:])

    def command(**given: Any) -> None:
        from services.cli.common import worker_settings  # noqa: PLC0415 - pydantic loads when a worker starts

        overrides = {f.field: None if given[f.field] is None else f.convert(given[f.field]) for f in every}
        worker = worker_settings(_load(settings), **overrides)
        _load("shared.faustapp:run_worker")(_load(create_app)(worker), worker)

    command.__doc__ = doc
    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(f.field, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=f.annotation)
            for f in every
        ]
    )
    return command


ingest = worker_command(
    "services.ingest.settings:IngestSettings",
    "services.ingest.app:create_app",
    "Run the ingest worker: feed topics → indicator.updates, bad events → indicator.dlq.",
    _flag("topic_pattern", "--topic-pattern", "Feed topics to consume (regex) [env TIENDO_TOPIC_PATTERN]."),
)
aggregate = worker_command(
    "services.aggregate.settings:AggregateSettings",
    "services.aggregate.app:create_app",
    "Run the aggregate worker: indicator.updates → quarterly totals (table, indicator.totals, HTTP API).",
)
alert = worker_command(
    "services.alert.settings:AlertSettings",
    "services.alert.app:create_app",
    "Run the alert worker: plans + indicator.totals → pages to Alertmanager and the alerts topic.",
    _flag(
        "alertmanager_urls",
        "--alertmanager-url",
        "Alertmanager base URL (repeatable) [env TIENDO_ALERTMANAGER_URLS].",
        list[str] | None,
        convert=lambda urls: ",".join(urls) or None,
    ),
    _flag("clock", "--clock", "wall (live) or event (replays) [env TIENDO_CLOCK]."),
)
