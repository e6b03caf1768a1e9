"""The ingest worker: feed topics in (by pattern), normalised updates and dead letters out.

The batch skeleton (``shared.batchworker``) runs :class:`~services.ingest.stage.IngestStage` on the feeds, read by
pattern; Faust runs the process (HTTP server, the dedupe-expiry timer). Faust's stream path is not used: under CPU
load it skipped the first messages of feed topics subscribed after start-up and committed past them (measured: 335
of 3,277 events lost; see docs/design.md), and it costs ~0.3 ms of CPU per event.
"""

from __future__ import annotations

import faust
from prometheus_client import CollectorRegistry

from services.ingest.metrics import IngestMetrics
from services.ingest.settings import IngestSettings
from services.ingest.stage import IngestStage
from shared.batchworker import BatchWorker
from shared.compacted import CompactedMap
from shared.consuming import INGEST_GROUP
from shared.faustapp import Outputs, make_app
from shared.metrics import add_http_endpoints
from shared.topics import DEDUPE, DLQ, UPDATES


def create_app(settings: IngestSettings, registry: CollectorRegistry | None = None) -> faust.App:
    """Build the ingest Faust app."""
    registry = registry or CollectorRegistry()
    metrics = IngestMetrics(registry)
    app = make_app("ingest", settings)
    outputs = Outputs(settings, "tiendo-ingest-out", (UPDATES, DLQ, DEDUPE))
    stage = IngestStage(
        CompactedMap(settings, DEDUPE),
        metrics,
        updates_topic=settings.topic(UPDATES.name),
        dlq_topic=settings.topic(DLQ.name),
        retention_days=settings.dedupe_retention_days,
        max_ids=settings.dedupe_max_ids,
    )
    feeds = f"(?:{settings.topic_pattern})$"
    worker = BatchWorker(
        settings, stage, metrics.worker, outputs, group=INGEST_GROUP, pattern=feeds, ready_unassigned=True
    )

    @app.task
    async def consume_feeds() -> None:
        await worker.run()

    @app.timer(interval=3600.0)
    async def expire_seen() -> None:
        if worker.ready:
            await stage.expire(await outputs.producer())

    add_http_endpoints(app, registry, joined=lambda: worker.joined, ready=lambda: worker.ready)
    return app
