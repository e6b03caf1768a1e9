"""The aggregate worker: indicator.updates in, quarterly totals out, series states in RocksDB with a changelog.

Faust runs the process (HTTP server); the batch skeleton (``shared.batchworker``) runs
:class:`~services.aggregate.batches.AggregateStage` on the updates. The state of the partitions it owns is recovered on
assignment (``services.aggregate.partitions``) into one RocksDB folder per partition, from a compacted changelog topic
that a new machine rebuilds it from. A Faust table and agent did this first and ran at 0.08 of a raw aiokafka loop,
most of it spent in Faust's per-event machinery and in decoding states per batch (see docs/design.md).
"""

from __future__ import annotations

from typing import Any

import faust
from prometheus_client import CollectorRegistry

from services.aggregate.batches import AggregateStage, Topics
from services.aggregate.metrics import AggregateMetrics
from services.aggregate.openapi import OPENAPI
from services.aggregate.query import QueryError, TotalsQuery, key_filter, run
from services.aggregate.settings import AggregateSettings
from services.aggregate.store import SeriesStore, decode_state
from shared.batchworker import BatchWorker
from shared.consuming import AGGREGATE_GROUP
from shared.faustapp import Outputs, make_app
from shared.metrics import add_http_endpoints
from shared.topics import DLQ, SERIES_CHANGELOG, TOTALS, UPDATES


def create_app(settings: AggregateSettings, registry_: CollectorRegistry | None = None) -> faust.App:
    """Build the aggregate Faust app."""
    metrics_registry = registry_ or CollectorRegistry()
    metrics = AggregateMetrics(metrics_registry)
    app = make_app("aggregate", settings)
    store = SeriesStore(settings.data_dir / f"{settings.namespace}aggregate", settings.state_cache_series)
    outputs = Outputs(settings, "tiendo-aggregate-out", (UPDATES, TOTALS, SERIES_CHANGELOG, DLQ))
    topics = Topics(settings.topic(TOTALS.name), settings.topic(SERIES_CHANGELOG.name), settings.topic(DLQ.name))
    stage = AggregateStage(settings, store, topics, metrics)
    worker = BatchWorker(
        settings, stage, metrics.worker, outputs, group=AGGREGATE_GROUP, topics=[settings.topic(UPDATES.name)]
    )

    @app.task
    async def consume_updates() -> None:
        await worker.run()

    add_query_api(app, store)
    add_http_endpoints(app, metrics_registry, joined=lambda: worker.joined, ready=lambda: worker.ready)
    return app


def add_query_api(app: faust.App, store: SeriesStore) -> None:
    """``GET /totals`` (JSON, 400 on a bad parameter) and ``GET /openapi.json``."""

    @app.page("/totals")
    async def totals(web: Any, request: Any) -> Any:
        try:
            query = TotalsQuery.parse(dict(request.query))
        except QueryError as exc:
            return web.json({"error": str(exc)}, status=400)
        # Decode only the series the query can select: a worker may hold 100,000, and decoding them all took
        # seconds per request, during which the event loop (processing, heartbeats) stood still.
        keep = key_filter(query)
        states = (decode_state(raw) for key, raw in store.items() if keep(key))
        rows = [{"view": str(query.view), **t.to_dict()} for t in run(query, states)]
        return web.json({"totals": rows, "count": len(rows)})

    @app.page("/openapi.json")
    async def openapi(web: Any, request: Any) -> Any:
        return web.json(OPENAPI)
