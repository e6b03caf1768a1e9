"""The work of ``tiendo forecast|ranking|digest``: the alert worker's ``GET /forecast``, ``/ranking`` and
``/alerts`` (JSON, numbers as decimal strings), and their rows as tables for people."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from services.apiclient import ApiError, get_body, get_list
from services.cli.options import CliError
from shared.alerting import format_amount


def fetch(url: str, path: str, params: dict[str, object], key: str) -> Any:
    """``GET <url><path>?params``: the body's ``key``; CliError for the worker's 400 message, an unreachable
    worker or an answer that is not the alert worker's."""
    try:
        return get_list(url, path, params, key, worker="alert", timeout=30)
    except ApiError as exc:
        raise CliError(f"the alert worker refused {path}: {exc}" if exc.refused else str(exc)) from None


def filters(
    province: str | None, indicator: str | None, year: int | None, basis: str | None, at: date | None
) -> dict[str, object]:
    """The query parameters of ``/forecast`` and ``/ranking``."""
    return {
        "province": province,
        "indicator": indicator,
        "year": year,
        "basis": basis,
        "at": at.isoformat() if at else None,
    }


def _dec(raw: object) -> Decimal | None:
    try:
        return None if raw is None else Decimal(str(raw))
    except InvalidOperation:
        return None


def _pct(raw: object, places: int = 0) -> str:
    value = _dec(raw)
    return "-" if value is None else f"{value * 100:.{places}f} %"


def _ratio(raw: object) -> str:
    value = _dec(raw)
    return "-" if value is None else f"{value:.2f}"


def _amount(raw: object, unit: str) -> str:
    value = _dec(raw)
    return "-" if value is None else format_amount(value, unit)


def forecast_table(rows: list[dict[str, Any]]) -> Table:
    """One line per plan: reading, pace, the next milestone's and the year end's projection with its range."""
    table = Table(
        "province", "indicator", "year", "basis", "reading of", "actual", "pace", "next milestone", "year end", "short"
    )
    for row in rows:
        unit = str(row.get("unit", ""))
        nxt, end = row.get("next_milestone") or {}, row.get("year_end") or {}
        table.add_row(
            f"{row.get('province_code', '')} {row.get('province', '')}",
            str(row.get("indicator", "")),
            str(row.get("year", "")),
            str(row.get("basis", "")),
            str(row.get("as_of", ""))[:10],
            _amount(row.get("actual"), unit),
            _ratio(row.get("pace")),
            f"{nxt.get('date', '-')}: {_amount(nxt.get('point'), unit)} ({_ratio(nxt.get('ratio_to_target'))} of plan)",
            f"{end.get('date', '-')}: {_pct(end.get('ratio_to_target'))} "
            f"({_pct(end.get('ratio_low'))}-{_pct(end.get('ratio_high'))})",
            "yes" if row.get("shortfall") else "",
        )
    return table


def _move(change: object) -> str:
    if change is None:
        return "new"
    number = int(str(change))
    return f"+{number}" if number > 0 else str(number) if number < 0 else "="


def ranking_tables(rankings: list[dict[str, Any]]) -> list[tuple[str, Table]]:
    """Per indicator, year and basis: a heading with the national figures and the provinces by rank."""
    out = []
    for ranking in rankings:
        heading = (
            f"{ranking.get('indicator')} {ranking.get('year')} {ranking.get('basis')}: national aggregate "
            f"{ranking.get('national_aggregate_percent')} %, average of provinces "
            f"{ranking.get('national_average_percent')} % (standing against the {ranking.get('against')})"
        )
        table = Table("rank", "move", "province", "% of plan", "vs expected", "standing", "on time", "reading of")
        for column in (table.columns[0], table.columns[3], table.columns[4], table.columns[6]):
            column.justify = "right"
        for row in ranking.get("rows") or []:
            table.add_row(
                str(row.get("position") or row.get("rank", "")),
                _move(row.get("rank_change")),
                f"{row.get('province_code', '')} {row.get('province', '')}",
                f"{row.get('percent', '-')} %",
                str(row.get("ratio") or "-"),
                str(row.get("standing", "")),
                _pct(row.get("on_time_rate")),
                str(row.get("as_of", ""))[:10],
            )
        out.append((heading, table))
    return out


def print_forecasts(rows: list[dict[str, Any]]) -> None:
    Console().print(forecast_table(rows))


def print_rankings(rankings: list[dict[str, Any]]) -> None:
    console = Console()
    for heading, table in ranking_tables(rankings):
        console.print(heading)
        console.print(table)


def write_digest(url: str, week_text: str, out: Path, formats: list[str]) -> list[Path]:
    """The alert worker's digest of a week (``GET /digest``: judged at the end of the day before the week's
    Friday, every province's alerts as the readings dated by then fire them), written as
    ``tiendo-digest-<week>.<html|md>`` in ``out``."""
    from shared.digest import parse_week  # noqa: PLC0415

    try:
        week = parse_week(week_text)
    except ValueError as exc:
        raise CliError(f"--week: {exc}") from None
    written: list[Path] = []
    for fmt in formats:
        try:
            body = get_body(url, "/digest", {"week": week.label, "format": fmt}, worker="alert", timeout=120)
        except ApiError as exc:
            raise CliError(str(exc)) from None
        path = out / week.file_name(fmt)
        try:
            out.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        except OSError as exc:
            raise CliError(f"--out: cannot write the digest in {out} ({exc.strerror or exc})") from None
        written.append(path)
    return written
