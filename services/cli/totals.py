"""``tiendo totals``: quarterly totals from the aggregate worker's totals API (``services.aggregate.client``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from services.apiclient import ApiError
from services.cli.options import CliError, echo_json


class TotalsView(StrEnum):
    """The ``--view`` of ``tiendo totals``."""

    UNIT = "unit"
    CURRENT = "current"


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
    from services.aggregate import client  # noqa: PLC0415 - rich and the province registry load when it runs

    view_name = view.value if view else None
    params = {"province": province, "indicator": indicator, "year": year, "quarter": quarter, "view": view_name}
    try:
        rows = client.fetch_totals(url, {k: v for k, v in params.items() if v is not None})
    except ApiError as exc:
        raise CliError(str(exc)) from None
    if json:
        echo_json(rows)
    elif not rows:
        typer.echo("no totals match")
    else:
        client.print_totals(rows)
