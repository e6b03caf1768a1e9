"""A client of the aggregate worker's totals API (``GET /totals``), and its rows as a table for people."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from rich.console import Console
from rich.table import Table

from services.apiclient import get_list
from shared.provinces import MERGER_DATE, UnknownProvinceError, registry

#: base unit → (divisor, display unit, decimals) of the human figures in the table.
HUMAN_UNITS = {
    "VND": (10**9, "tỷ đồng", 2),
    "USD": (10**6, "triệu USD", 2),
    "ha": (1, "ha", 2),
    "%": (1, "%", 2),
}


def fetch_totals(url: str, params: dict[str, object]) -> list[dict]:
    """``GET <url>/totals``: the rows, or ApiError (the API's 400 message, an unreachable worker)."""
    return get_list(url, "/totals", params, "totals", worker="aggregate", timeout=10)


def human(raw: object, base_unit: str) -> tuple[str, str]:
    """An exact base-unit value as a rounded figure with thousands separators in a readable unit."""
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return str(raw), base_unit
    divisor, shown_unit, decimals = HUMAN_UNITS.get(base_unit, (1, base_unit, 0))
    value /= divisor
    if decimals == 0 and value != value.to_integral_value():
        decimals = 2
    return f"{value:,.{decimals}f}", shown_unit


def totals_table(rows: list[dict]) -> Table:
    """The rows with province names, readable units and the period (Q1-Q4, Q4+)."""
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
        value, shown_unit = human(row.get("value"), base_unit)
        ytd, _ = human(row.get("ytd"), base_unit)
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
    return table


def print_totals(rows: list[dict]) -> None:
    Console().print(totals_table(rows))
