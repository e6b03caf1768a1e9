"""The work of ``tiendo whatif``: the plan file, the current figures (aggregate worker) and alerts (alert worker)
into :func:`shared.whatif.what_if`, its outcomes as a table or JSON."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from services.aggregate import client
from services.apiclient import ApiError
from services.cli.alertapi import fetch
from services.cli.options import CliError, echo_json
from services.cli.plansio import file_problems
from shared.alerting import AlertState
from shared.contracts import View
from shared.evaluation import SeriesFigures, plan_series_key
from shared.plans import Plan, PlanFileError, load_plan_file
from shared.provinces import MERGER_DATE
from shared.vntime import VN_TZ
from shared.whatif import Outcome, what_if


def current_figures(aggregate_url: str, plans: list[Plan]) -> dict[str, SeriesFigures]:
    """The year-to-date figures of the plans' series from ``GET /totals``, one request per indicator, year and
    view; by series key."""
    wanted = {plan_series_key(p) for p in plans}
    figures: dict[str, SeriesFigures] = {}
    queries = {(p.indicator, p.year, View.CURRENT if p.year >= MERGER_DATE.year else View.UNIT) for p in plans}
    for indicator, year, view in sorted(queries):
        try:
            rows = client.fetch_totals(aggregate_url, {"indicator": indicator, "year": year, "view": view.value})
        except ApiError as exc:
            raise CliError(str(exc)) from None
        for row in sorted(rows, key=lambda r: int(r.get("quarter", 0))):
            total = {"view": view.value, **row}
            key = SeriesFigures.from_total(total, None).key if total.get("unit") else None
            if key in wanted:
                try:
                    figures[key] = SeriesFigures.from_total(total, figures.get(key))
                except (KeyError, ValueError) as exc:
                    raise CliError(f"{aggregate_url}: an unusable total of {key}: {exc}") from None
    return figures


def current_alerts(url: str) -> dict[str, AlertState]:
    """The alert worker's alerts (``GET /alerts``) by alert id."""
    states = {}
    for item in fetch(url, "/alerts", {}, "alerts"):
        try:
            state = AlertState.from_dict(item)
        except (KeyError, TypeError, ValueError) as exc:
            raise CliError(f"{url}/alerts: an alert that is not an alert state ({exc})") from None
        states[state.key.id] = state
    return states


def _json(outcome: Outcome) -> dict[str, Any]:
    p = outcome.plan
    return {
        "plan": p.key,
        "province_code": p.province_code,
        "province": p.province_name,
        "indicator": p.indicator,
        "year": p.year,
        "basis": p.basis,
        "rule": outcome.rule,
        "now": outcome.before,
        "then": outcome.after,
        "verdict": outcome.verdict,
        "summary": outcome.summary,
    }


def run(file: Path, day: date | None, url: str, aggregate_url: str, as_json: bool) -> None:
    try:
        plans = load_plan_file(file)
    except PlanFileError as exc:
        raise CliError(file_problems(file, exc)) from None
    at = datetime.combine(day, time.max, VN_TZ) if day else datetime.now(VN_TZ)
    outcomes = what_if(plans, current_figures(aggregate_url, plans), current_alerts(url), at)
    if as_json:
        echo_json([_json(o) for o in outcomes])
        return
    shown = [o for o in outcomes if o.verdict != "quiet"]
    if shown:
        table = Table("province", "indicator", "year", "basis", "alert", "now", "then", "outcome", "summary")
        for o in shown:
            p = o.plan
            table.add_row(
                f"{p.province_code} {p.province_name}",
                p.indicator,
                str(p.year),
                p.basis,
                o.rule,
                o.before or "-",
                o.after or "-",
                o.verdict,
                o.summary,
            )
        Console().print(table)
    counts = Counter(o.verdict for o in outcomes)
    summary = ", ".join(f"{counts[v]} {v}" for v in ("fires", "escalates", "de-escalates", "resolves", "stays firing"))
    typer.echo(f"{len(plans)} plans at {at.date().isoformat()}: {summary}; nothing published")
