"""The aggregate worker: indicator.updates in, quarterly totals in a RocksDB table and on indicator.totals out.

Thin Faust layer over ``shared.aggregation``: each batch is applied in memory, every changed series is written
once to the table (its changelog makes state survive restarts) and every changed quarter once to the output;
Faust commits the input offsets only after that (the producer is flushed before each commit).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import faust
import orjson
from prometheus_client import CollectorRegistry

from services.aggregate.metrics import AggregateMetrics
from services.aggregate.openapi import OPENAPI
from services.aggregate.query import QueryError, TotalsQuery, View, key_filter, run
from services.aggregate.settings import AggregateSettings
from shared.aggregation import QuarterTotal, SeriesState, apply_batch, rollup
from shared.faustapp import Outputs, event_context, make_app
from shared.logs import get_logger
from shared.metrics import add_http_endpoints
from shared.provinces import MERGER_DATE, registry
from shared.topics import TOTALS, UPDATES
from shared.updates import IndicatorUpdate

log = get_logger("tiendo.aggregate")


def total_message(view: View, total: QuarterTotal) -> tuple[bytes, bytes]:
    """The ``indicator.totals`` key and value of a quarter total in a view."""
    return f"{view}/".encode() + total.key(), orjson.dumps({"view": str(view), **total.to_dict()})


def rolled_units(current_code: str) -> list[str]:
    """Unit ids whose figures roll up into a current province: its pre-merger constituents and itself."""
    reg = registry()
    units = {p.uid for p in reg.constituents(current_code)}
    units.add(reg.get(current_code, on=MERGER_DATE).uid)
    return sorted(units)


def create_app(settings: AggregateSettings, registry_: CollectorRegistry | None = None) -> faust.App:  # noqa: PLR0915
    """Build the aggregate Faust app."""
    started = time.monotonic()
    metrics_registry = registry_ or CollectorRegistry()
    metrics = AggregateMetrics(metrics_registry)
    app = make_app("aggregate", settings)
    updates = app.topic(settings.topic(UPDATES.name))
    # One state per series (unit|indicator|year), co-partitioned with indicator.updates (key current|indicator).
    table = app.Table(
        "series", partitions=UPDATES.partitions, key_type=bytes, value_type=bytes, recovery_buffer_size=10_000
    )
    outputs = Outputs(settings, "tiendo-aggregate-out", (TOTALS,))
    totals_topic = settings.topic(TOTALS.name)

    def load(key: str) -> SeriesState | None:
        raw = table.get(key.encode())
        return None if raw is None else SeriesState.from_dict(orjson.loads(raw))

    def recording_load(stored: set[str]) -> Callable[[str], SeriesState | None]:
        """``load`` that adds the keys found in the table to ``stored``."""

        def load_stored(key: str) -> SeriesState | None:
            state = load(key)
            if state is not None:
                stored.add(key)
            return state

        return load_stored

    def current_view(current_code: str, indicator: str, year: int, cache: dict[str, SeriesState]) -> list[QuarterTotal]:
        parts: list[QuarterTotal] = []
        for unit in rolled_units(current_code):
            key = f"{unit}|{indicator}|{year}"
            state = cache.get(key) or load(key)
            if state is not None:
                parts.extend(state.totals())
        return rollup(parts, current_code)

    @app.agent(updates)
    async def aggregate(stream: faust.StreamT) -> None:
        producer = await outputs.producer()
        positions: dict = {}
        try:
            async for events in stream.take_events(settings.batch_size, within=settings.batch_wait_s):
                batch: list[IndicatorUpdate] = []
                last_event: dict[str, Any] = {}
                for event in events:
                    try:
                        update = IndicatorUpdate.decode(event.message.value)
                    except (ValueError, KeyError, TypeError) as exc:
                        log.error("undecodable_update", offset=event.message.offset, error=str(exc))
                        metrics.updates.labels("rejected").inc()
                        continue
                    batch.append(update)
                    last_event[f"{update.unit}|{update.indicator}|{update.year}"] = event
                states: dict[str, SeriesState] = {}
                stored: set[str] = set()
                result = apply_batch(states, batch, recording_load(stored))
                for update, why in result.rejected:
                    log.error("update_rejected", event_id=update.event_id, publisher=update.publisher, error=why)
                sends = []
                for key, quarter in sorted(result.changed_quarters):
                    total = result.changed[key].quarter_total(quarter)
                    k, v = total_message(View.UNIT, total)
                    sends.append(producer.send(totals_topic, v, key=k))
                current_totals: list[QuarterTotal] = []
                for series in {(s.current_code, s.indicator, s.year) for s in result.changed.values()}:
                    current_totals.extend(current_view(*series, states))
                for total in current_totals:
                    k, v = total_message(View.CURRENT, total)
                    sends.append(producer.send(totals_topic, v, key=k))
                await asyncio.gather(*await asyncio.gather(*sends))
                # Every stored series the batch touched is written back, also when all its updates were duplicates:
                # after a crash the local store can hold writes whose changelog messages never left, and the
                # replayed updates then look like duplicates. Rewriting puts that state into the changelog before
                # the offsets are committed; otherwise a recovery from the changelog (a wiped disk, another
                # worker taking the partition) would silently lose those updates.
                for key in sorted(result.changed.keys() | stored):
                    with event_context(last_event[key]):
                        table[key.encode()] = orjson.dumps(states[key].to_dict())
                # The changelog must hold the batch before Faust may commit its offsets: Faust's own pre-commit
                # flush gives up after 0.1 s without progress, so wait for it here.
                await app.producer.flush()
                done = time.time()
                metrics.observe_batch(result)
                metrics.totals_published.inc(len(sends))
                metrics.observe_current(sorted(current_totals, key=lambda t: (t.year, t.quarter)))
                metrics.worker.batch_size.observe(len(events))
                for event in events:
                    metrics.worker.latency.observe(max(0.0, done - event.message.timestamp))
                    positions[event.message.tp] = event.message.offset + 1
                metrics.worker.record_lag(app.consumer.highwater, positions)
        finally:
            await outputs.stop()

    @app.task
    async def track_recovery() -> None:
        await app.tables.recovery.completed.wait()
        metrics.recovery.set(time.monotonic() - started)
        log.info("recovered", seconds=round(time.monotonic() - started, 3), keys=len(table))

    @app.timer(interval=15.0)
    async def count_keys() -> None:
        metrics.keys.set(len(table))

    add_query_api(app, table)
    add_http_endpoints(app, metrics_registry, recovers_tables=True)
    return app


def add_query_api(app: faust.App, table: faust.Table) -> None:
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
        states = (SeriesState.from_dict(orjson.loads(raw)) for key, raw in table.items() if keep(key.decode()))
        rows = [{"view": str(query.view), **t.to_dict()} for t in run(query, states)]
        return web.json({"totals": rows, "count": len(rows)})

    @app.page("/openapi.json")
    async def openapi(web: Any, request: Any) -> Any:
        return web.json(OPENAPI)
