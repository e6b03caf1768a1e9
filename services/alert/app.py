"""The alert worker: quarterly totals and plans in, pages to Alertmanager (and the alerts topic) out.

The batch skeleton (``shared.batchworker``) runs :class:`~services.alert.stage.AlertStage` on ``indicator.totals``,
partitioned by province: replicas share the partitions, and each alert belongs to the replica owning its series'
partition (state in memory per partition, mirrored to ``tiendo-alert-state``). Every replica follows every plan.
Faust runs the process: the HTTP server (/metrics, /health, /alerts, /forecast, /ranking, /digest), the evaluation
timer, the plans, national-view and delivery tasks. No Faust agent or table: no stream-processing path runs twice.
Every replica follows the whole totals topic (``services.alert.national``): /forecast and /ranking answer for
every province, on any replica.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from services.alert.delivery import Delivery
from services.alert.digest import digest_forever, digest_page
from services.alert.metrics import AlertMetrics
from services.alert.settings import AlertSettings
from services.alert.stage import AlertStage, Topics, deliver_forever
from shared.batchworker import BatchWorker
from shared.consuming import ALERT_GROUP
from shared.evaluation import Evaluator
from shared.faustapp import Outputs, make_app
from shared.metrics import add_http_endpoints
from shared.national import Query, forecasts, parse_query, ranking_json
from shared.topics import ALERT_STATE, ALERTS, PLANS, TOTALS


def create_app(settings: AlertSettings, registry: CollectorRegistry | None = None) -> faust.App:
    """Build the alert Faust app."""
    registry = registry or CollectorRegistry()
    metrics = AlertMetrics(registry)
    delivery = Delivery(settings.alertmanager_urls, settings.webhook_url, registry, give_up_s=settings.valid_for_s)
    app = make_app("alert", settings)
    outputs = Outputs(settings, "tiendo-alert-out", (TOTALS, PLANS, ALERTS, ALERT_STATE))  # inputs created too
    evaluator = Evaluator(
        settings.thresholds.to_thresholds(),
        {k: v.to_thresholds() for k, v in settings.threshold_overrides.items()},
        settings.runbook_url,
    )
    topics = Topics(
        settings.topic(ALERTS.name),
        settings.topic(ALERT_STATE.name),
        settings.topic(PLANS.name),
        settings.topic(TOTALS.name),
    )
    stage = AlertStage(settings, evaluator, metrics, outputs, topics, partitions=TOTALS.partitions)
    worker = BatchWorker(
        settings, stage, metrics.worker, outputs, group=ALERT_GROUP, topics=[settings.topic(TOTALS.name)]
    )
    stage.lock = worker.lock  # plan changes, timer rounds and deliveries wait for the batch, and for rebalances

    def ready() -> bool:
        return worker.ready and stage.plans.loaded and stage.national.loaded

    @app.task
    async def consume_totals() -> None:
        await worker.run()

    @app.task
    async def follow_plans() -> None:
        while not stage.plans.loaded:  # read to its end by the stage's start, before joining
            await stage.wake_plans.wait()
        await stage.follow_plans()

    @app.timer(interval=settings.evaluate_interval_s)
    async def evaluate_all() -> None:
        if stage.plans.loaded:
            await stage.evaluate_all()

    @app.task
    async def follow_national() -> None:
        await stage.national.ready.wait()  # read to its end by the stage's start
        await stage.national.follow()

    if settings.digest_dir is not None:
        digest_dir = settings.digest_dir

        @app.task
        async def weekly_digest() -> None:
            await digest_forever(stage, settings, digest_dir)

    @app.task
    async def deliver() -> None:
        await deliver_forever(stage, delivery, settings.resend_interval_s)

    @app.page("/alerts")
    async def list_alerts(web: Any, request: Any) -> Any:
        """The alerts of the partitions this replica owns."""
        states = [s.to_dict() for s in stage.owned_alerts()]
        return web.json({"alerts": sorted(states, key=lambda s: (s["status"] != "firing", s["key"]["rule"]))})

    def national(request: Any, answer: Callable[[Query, datetime], dict[str, Any]]) -> Any:
        try:
            query = parse_query(dict(request.query))
        except ValueError as exc:
            return None, {"error": str(exc)}
        at = query.at or stage.national_now()
        if at is None:
            return None, {"error": "no figures yet: nothing to judge (give at=YYYY-MM-DD)"}
        return answer(query, at), None

    @app.page("/forecast")
    async def forecast_page(web: Any, request: Any) -> Any:
        """Every plan's forecast at the query's day (default: now), from the national view."""
        margin = settings.thresholds.shortfall_margin
        body, error = national(
            request, lambda q, at: forecasts(stage.plans.values(), stage.national.view, q, at, margin)
        )
        return web.json(error, status=400) if error else web.json(body)

    @app.page("/ranking")
    async def ranking_page(web: Any, request: Any) -> Any:
        """The provinces ranked per indicator, year and basis at the query's day (default: now)."""
        body, error = national(request, lambda q, at: ranking_json(stage.plans.values(), stage.national.view, q, at))
        return web.json(error, status=400) if error else web.json(body)

    @app.page("/digest")
    async def digest(web: Any, request: Any) -> Any:
        """The weekly digest (``services.alert.digest``): ``?week=YYYY-Www&format=html|md``."""
        return await digest_page(web, request, stage, settings.thresholds.shortfall_margin)

    add_http_endpoints(app, registry, joined=lambda: worker.joined, ready=ready)
    return app
