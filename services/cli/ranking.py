"""``tiendo ranking``: provinces ranked against the national figures, from the alert worker's ``GET /ranking``."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli.forecast import DEFAULT_ALERT_URL, AlertUrlOpt, AtOpt, BasisOpt, IndicatorOpt, ProvinceOpt, YearOpt
from services.cli.options import echo_json


def ranking(
    *,
    province: ProvinceOpt = None,
    indicator: IndicatorOpt = None,
    year: YearOpt = None,
    basis: BasisOpt = None,
    at: AtOpt = None,
    url: AlertUrlOpt = DEFAULT_ALERT_URL,
    json: Annotated[bool, typer.Option("--json", help="Print the JSON of GET /ranking.")] = False,
) -> None:
    """Every province's progress, rank and rank change per indicator, year and basis (GET /ranking)."""
    from services.cli import alertapi  # noqa: PLC0415 - rich and the HTTP client load when it runs

    params = alertapi.filters(province, indicator, year, basis, at.date() if at else None)
    rankings = alertapi.fetch(url, "/ranking", params, "rankings")
    if json:
        echo_json(rankings)
    elif not rankings:
        typer.echo("no ranking matches (no plan with a reading yet?)")
    else:
        alertapi.print_rankings(rankings)
