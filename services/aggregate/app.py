"""The aggregate worker: indicator.updates in, quarterly totals out, series states in RocksDB with a changelog.

Faust runs the worker (HTTP server, timers). The updates are read by the worker's own aiokafka consumer in
batches (``services.aggregate.batches``); the state of the partitions it owns is recovered on assignment
(``services.aggregate.partitions``) into one RocksDB folder per partition, from a compacted changelog topic that
a new machine rebuilds it from. A Faust table and agent did this first and ran at 0.08 of a raw aiokafka loop,
most of it spent in Faust's per-event machinery and in decoding states per batch (see docs/design.md).
"""

from __future__ import annotations

import time
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from services.aggregate.batches import BatchProcessor, Topics
from services.aggregate.metrics import AggregateMetrics
from services.aggregate.openapi import OPENAPI
from services.aggregate.partitions import Ownership
from services.aggregate.query import QueryError, TotalsQuery, key_filter, run
from services.aggregate.settings import AggregateSettings
from services.aggregate.store import SeriesStore, decode_state
from shared.consuming import AGGREGATE_GROUP, Batches, commit, group_consumer, owned, retry_later, rewind
from shared.faustapp import Outputs, make_app
from shared.logs import get_logger
from shared.metrics import add_http_endpoints
from shared.reading import TopicStalledError
from shared.topics import DLQ, SERIES_CHANGELOG, TOTALS, UPDATES

log = get_logger("tiendo.aggregate")


def create_app(settings: AggregateSettings, registry_: CollectorRegistry | None = None) -> faust.App:
    """Build the aggregate Faust app."""
    started = time.monotonic()
    metrics_registry = registry_ or CollectorRegistry()
    metrics = AggregateMetrics(metrics_registry)
    app = make_app("aggregate", settings)
    store = SeriesStore(settings.data_dir / f"{settings.namespace}aggregate", settings.state_cache_series)
    outputs = Outputs(settings, "tiendo-aggregate-out", (UPDATES, TOTALS, SERIES_CHANGELOG, DLQ))
    changelog = settings.topic(SERIES_CHANGELOG.name)
    topics = Topics(settings.topic(TOTALS.name), changelog, settings.topic(DLQ.name))
    processor = BatchProcessor(store, topics, metrics)

    first = True

    def recovered(keys: int) -> None:
        """After an assignment's state is recovered; the first time, how long the worker took to be ready."""
        nonlocal first
        if first:
            first = False
            metrics.recovery.set(time.monotonic() - started)
            log.info("recovered", seconds=round(time.monotonic() - started, 3), keys=keys)
        metrics.keys.set(keys)

    ownership = Ownership(settings, store, changelog, recovered)

    @app.task
    async def consume_updates() -> None:
        await consume(settings, outputs, ownership, processor, metrics)

    add_query_api(app, store)
    add_http_endpoints(app, metrics_registry, consuming=lambda: ownership.ready)
    return app


async def consume(
    settings: AggregateSettings,
    outputs: Outputs,
    ownership: Ownership,
    processor: BatchProcessor,
    metrics: AggregateMetrics,
) -> None:
    """Read indicator.updates in batches until cancelled; a batch that fails on Kafka is read again."""
    await outputs.producer()  # creates the input and output topics first
    consumer = group_consumer(settings, AGGREGATE_GROUP, "tiendo-aggregate")
    consumer.subscribe([settings.topic(UPDATES.name)], listener=ownership)
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(
                timeout_ms=int(settings.batch_wait_s * 1000), max_records=settings.batch_size
            )
            try:
                await ownership.ensure_recovered()
                async with ownership.lock:
                    await apply(consumer, batches, outputs, processor)
            except (KafkaError, TopicStalledError) as exc:
                await retry_later(consumer, batches, exc)
            positions = {tp: await consumer.position(tp) for tp in consumer.assignment()}
            metrics.worker.record_lag(consumer.highwater, positions)
    finally:
        await consumer.stop()
        await outputs.stop()
        processor.store.close_all()


async def apply(consumer: AIOKafkaConsumer, batches: Batches, outputs: Outputs, processor: BatchProcessor) -> None:
    """Process the records of owned partitions whose state is open, then commit their offsets; the others are read
    again later (their state is not recovered yet) or by their new owner (revoked)."""
    ready = {
        tp: records for tp, records in owned(consumer, batches).items() if tp.partition in processor.store.partitions
    }
    rewind(consumer, {tp: records for tp, records in batches.items() if tp not in ready})
    if ready:
        await processor.process([r for records in ready.values() for r in records], await outputs.producer())
        await commit(consumer, ready)


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
