"""The alert worker's weekly digest: ``GET /digest?week=2025-W38&format=html|md`` and what the Friday timer writes.

The sources are the worker's own (its plans and national view, with the alerts the readings dated by the digest's
day fire), put in the JSON of ``/ranking``, ``/forecast`` and ``/alerts`` by ``shared.national`` and drawn by
``shared.digest``. The dicts are made on the event loop (the view changes there); the charts are drawn in a thread
(seconds of CPU).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.digest import IsoWeek, build_digest, next_digest_at, parse_week, render_html, render_markdown
from shared.evaluation import Evaluator
from shared.logs import get_logger
from shared.national import NationalView, Query, alerts_at, forecasts, ranking_json, timeliness
from shared.plans import Plan
from shared.vntime import VN_TZ

if TYPE_CHECKING:
    from services.alert.settings import AlertSettings
    from services.alert.stage import AlertStage

log = get_logger("tiendo.alert.digest")

#: ``format`` → the page's content type.
FORMATS = {"html": "text/html; charset=utf-8", "md": "text/markdown; charset=utf-8"}


def digest_sources(
    plans: Iterable[Plan], view: NationalView, evaluator: Evaluator, week: IsoWeek, margin: Decimal
) -> dict[str, Any]:
    """``build_digest``'s arguments for ``week`` from the worker's plans and national view, judged at the end of
    the day before the week's Friday: its alerts are those the readings dated by then fire (every province's,
    whichever replica owns it), not today's."""
    plan_list = list(plans)
    at = datetime.combine(week.judged_on, time.max, VN_TZ)
    reporting = []
    for plan in plan_list:
        result = timeliness(plan, view, at)
        if result is not None and result.expected:
            reporting.append(
                {
                    "province_code": plan.province_code,
                    "province": plan.province_name,
                    "indicator": plan.indicator,
                    "expected": result.expected,
                    "on_time": result.on_time,
                    "late": result.late,
                    "missing": result.missing,
                    "rate": None if result.rate is None else str(result.rate),
                }
            )
    return {
        "week": week,
        "rankings": ranking_json(plan_list, view, Query(at=at), at)["rankings"],
        "forecasts": forecasts(plan_list, view, Query(at=at), at, margin)["forecasts"],
        "alerts": [state.to_dict() for state in alerts_at(plan_list, view, at, evaluator)],
        "timeliness": reporting,
        "curves": {(p.province_code, p.indicator, p.year, p.basis): p.milestones for p in plan_list},
    }


def render(sources: dict[str, Any], fmt: str) -> str:
    """The digest of :func:`digest_sources` as HTML or Markdown (seconds of CPU: run it in a thread)."""
    digest = build_digest(**sources)
    return render_html(digest) if fmt == "html" else render_markdown(digest)


async def digest_page(web: Any, request: Any, stage: AlertStage, margin: Decimal) -> Any:
    """``GET /digest?week=YYYY-Www&format=html|md`` (html by default); 400 with the reason for a bad parameter."""
    params = dict(request.query)
    fmt = params.get("format", "html")
    try:
        if unknown := sorted(set(params) - {"week", "format"}):
            raise ValueError(f"unknown parameter(s): {', '.join(unknown)} (known: format, week)")
        if "week" not in params:
            raise ValueError("week is missing: give week=YYYY-Www, e.g. week=2025-W38")
        if fmt not in FORMATS:
            raise ValueError(f"format={fmt!r} is not html or md")
        week = parse_week(params["week"])
    except ValueError as exc:
        return web.json({"error": str(exc)}, status=400)
    sources = digest_sources(stage.plans.values(), stage.national.view, stage.evaluator, week, margin)
    body = await asyncio.to_thread(render, sources, fmt)
    return web.text(body, content_type=FORMATS[fmt].split(";")[0])


async def write_digest(stage: AlertStage, week: IsoWeek, directory: Path, margin: Decimal) -> list[Path]:
    """Write ``week``'s digest to ``directory`` as ``tiendo-digest-<week>.html`` and ``.md``; the paths."""
    sources = digest_sources(stage.plans.values(), stage.national.view, stage.evaluator, week, margin)
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    written = []
    for fmt in FORMATS:
        path = directory / week.file_name(fmt)
        body = await asyncio.to_thread(render, sources, fmt)
        await asyncio.to_thread(path.write_text, body, encoding="utf-8")
        written.append(path)
    return written


async def digest_forever(stage: AlertStage, settings: AlertSettings, directory: Path) -> None:
    """Every ``digest_weekday`` at ``digest_time`` (Vietnam time, wall clock), the replica owning partition 0 writes
    that week's digest; a failed write is logged and tried again the next week."""
    hour, minute = (int(part) for part in settings.digest_time.split(":"))
    while True:
        at = next_digest_at(datetime.now(UTC), settings.digest_weekday, hour, minute)
        await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))
        if 0 not in stage.parts or not stage.national.loaded:
            continue
        week = IsoWeek.of(at.astimezone(VN_TZ).date())
        try:
            paths = await write_digest(stage, week, directory, settings.thresholds.shortfall_margin)
        except OSError as exc:
            log.error("digest_not_written", week=week.label, directory=str(directory), error=str(exc))
        else:
            log.info("digest_written", week=week.label, paths=[str(p) for p in paths])
