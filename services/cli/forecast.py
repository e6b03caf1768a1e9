"""``tiendo forecast``: where each plan series is heading, from the alert worker's ``GET /forecast``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from services.cli.options import echo_json

#: The filters of ``tiendo forecast`` and ``tiendo ranking`` (the alert worker's query parameters).
ProvinceOpt = Annotated[str | None, typer.Option("--province", help="Province name (any spelling) or code.")]
IndicatorOpt = Annotated[str | None, typer.Option("--indicator", help="Indicator id ('tiendo indicators').")]
YearOpt = Annotated[int | None, typer.Option("--year", min=2000, max=2100, help="Plan year, 2000-2100.")]
BasisOpt = Annotated[str | None, typer.Option("--basis", help="central or provincial.")]
AtOpt = Annotated[
    datetime | None,
    typer.Option("--at", formats=["%Y-%m-%d"], help="Judge as of the end of this day (YYYY-MM-DD, Vietnam time)."),
]
AlertUrlOpt = Annotated[str, typer.Option("--url", envvar="TIENDO_ALERT_URL", help="The alert worker's HTTP address.")]
DEFAULT_ALERT_URL = "http://127.0.0.1:6068"  # services/alert/settings.py: web_port


def forecast(
    *,
    province: ProvinceOpt = None,
    indicator: IndicatorOpt = None,
    year: YearOpt = None,
    basis: BasisOpt = None,
    at: AtOpt = None,
    url: AlertUrlOpt = DEFAULT_ALERT_URL,
    json: Annotated[bool, typer.Option("--json", help="Print the JSON of GET /forecast.")] = False,
) -> None:
    """Projected figure at the next milestone and at the plan year's end, with a range (GET /forecast)."""
    from services.cli import alertapi  # noqa: PLC0415 - rich and the HTTP client load when it runs

    params = alertapi.filters(province, indicator, year, basis, at.date() if at else None)
    rows = alertapi.fetch(url, "/forecast", params, "forecasts")
    if json:
        echo_json(rows)
    elif not rows:
        typer.echo("no forecast matches (no plan with a reading yet?)")
    else:
        alertapi.print_forecasts(rows)
