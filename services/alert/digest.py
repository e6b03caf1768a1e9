"""The alert worker's weekly digest: ``GET /digest?week=2025-W38&format=html|md`` and what the Friday timer writes.

The sources are the worker's own (its plans, its national view, the alerts of the partitions it owns), put in the
JSON of ``/ranking``, ``/forecast`` and ``/alerts`` by ``shared.national`` and drawn by ``shared.digest``. The
dicts are made on the event loop (the view changes there); the charts are drawn in a thread (seconds of CPU).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared.alerting import AlertState
from shared.digest import IsoWeek, build_digest, parse_week, render_html, render_markdown
from shared.national import NationalView, Query, forecasts, ranking_json, timeliness
from shared.plans import Plan
from shared.vntime import VN_TZ

if TYPE_CHECKING:
    from services.alert.stage import AlertStage

#: ``format`` → the page's content type.
FORMATS = {"html": "text/html; charset=utf-8", "md": "text/markdown; charset=utf-8"}


def digest_sources(
    plans: Iterable[Plan], view: NationalView, alerts: Iterable[AlertState], week: IsoWeek, margin: Decimal
) -> dict[str, Any]:
    """``build_digest``'s arguments for ``week`` from the worker's plans, national view and alerts, judged at the
    end of the day before the week's Friday."""
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
        "alerts": [state.to_dict() for state in alerts],
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
    sources = digest_sources(stage.plans.values(), stage.national.view, stage.owned_alerts(), week, margin)
    body = await asyncio.to_thread(render, sources, fmt)
    return web.text(body, content_type=FORMATS[fmt].split(";")[0])
