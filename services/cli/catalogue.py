"""``tiendo schema``, ``tiendo indicators`` and ``tiendo provinces resolve``: what feed events may say."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import typer

from services.cli.options import CliError, JsonOpt, echo_json

provinces_app = typer.Typer(help="The province registry (63 pre-merger and 34 post-merger units).")


def schema() -> None:
    """Print the JSON Schema of feed events (v1)."""
    from shared.events import event_json_schema  # noqa: PLC0415 - the event rules load pydantic: only when asked

    echo_json(event_json_schema())


def indicators(json: JsonOpt = False) -> None:
    """List the indicator catalogue."""
    from shared.indicators import CATALOGUE  # noqa: PLC0415 - the catalogue (and rich below) load when asked

    rows: list[dict[str, Any]] = [
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
    from rich import box, console, table  # noqa: PLC0415 - rich loads only to print a table

    # Ids are what users type: never cut, whatever the terminal width; the names (Vietnamese above English)
    # take the room left and wrap.
    shown = table.Table(
        table.Column("id", no_wrap=True, min_width=max(len(r["id"]) for r in rows)),
        table.Column("name (vi / en)", ratio=1, overflow="fold"),
        table.Column("kind", no_wrap=True),
        table.Column("base\nunit", no_wrap=True),
        table.Column("cadence\n(days)", no_wrap=True, justify="right"),
        box=box.SIMPLE_HEAD,
    )
    for r in rows:
        shown.add_row(r["id"], f"{r['name_vi']}\n{r['name_en']}", r["kind"], r["base_unit"], str(r["cadence_days"]))
    console.Console().print(shown)


@provinces_app.command("resolve")
def provinces_resolve(
    name: Annotated[str, typer.Argument(help="A province name in any spelling, or its code.")],
    on: Annotated[
        str | None, typer.Option(help="Date (YYYY-MM-DD) the name applies to; today in Vietnam if unset.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Resolve a province name or code to the unit valid on a date, and the current unit it rolls up to."""
    from shared import provinces, vntime  # noqa: PLC0415 - the registry loads when asked

    try:
        day = date.fromisoformat(on) if on else datetime.now(vntime.VN_TZ).date()
    except ValueError as exc:
        raise CliError(f"--on: {on!r} is not a date (YYYY-MM-DD)") from exc
    reg = provinces.registry()
    try:
        unit = reg.resolve(name, on=day)
    except provinces.UnknownProvinceError as exc:
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
