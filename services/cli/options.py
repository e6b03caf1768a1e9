"""What every command shares without loading Kafka clients or pydantic: the error type, options, JSON output."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer


class CliError(Exception):
    """A user-facing error: printed as one line (or a heading and one line per problem), exit code 1."""


#: ``--bootstrap-servers`` of every command that talks to Kafka (help texts are plain text: no markup escapes).
BootstrapOpt = Annotated[
    str | None, typer.Option("--bootstrap-servers", help="Kafka host:port list [env TIENDO_BOOTSTRAP_SERVERS].")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def echo_json(obj: object) -> None:
    typer.echo(orjson.dumps(obj, option=orjson.OPT_INDENT_2, default=str).decode())
