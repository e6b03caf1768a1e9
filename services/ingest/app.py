"""The ingest worker: feed topics in (by pattern), normalised updates and dead letters out.

The per-event work is ``shared.normalise.triage``. Faust runs the worker (HTTP server, timers); the feeds are read
by the worker's own aiokafka consumer, subscribed by pattern, which commits a batch's offsets only after every
output of that batch, and the batch's dedupe entries, are acknowledged. The dedupe state is a compacted topic read
whole at start-up. Faust's stream path was not used here:
under CPU load it skipped the first messages of feed topics subscribed after start-up and committed past them
(measured: 335 of 3,277 events lost; see docs/design.md), and it costs ~0.3 ms of CPU per event.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry

from services.ingest.metrics import IngestMetrics
from services.ingest.settings import IngestSettings
from shared.compacted import CompactedMap
from shared.consuming import INGEST_GROUP, BatchLock, commit, group_consumer, owned, retry_later
from shared.deadletter import DeadLetter
from shared.faustapp import Outputs, make_app
from shared.logs import get_logger
from shared.metrics import add_http_endpoints
from shared.normalise import RawEvent, Seen, triage
from shared.topics import DEDUPE, DLQ, UPDATES
from shared.updates import Origin, moved_contributions

log = get_logger("tiendo.ingest")


def encode_seen(revision: int, at: datetime, routing: str) -> bytes:
    """Dedupe table value: the highest revision seen, the day it was last seen (for retention) and where its
    contribution lives (``IndicatorUpdate.routing``: a correction that moves it retracts it there)."""
    return f"{revision}:{at.date().toordinal()}:{routing}".encode()


def decode_seen(raw: bytes) -> tuple[int, int, str | None]:
    """Inverse of :func:`encode_seen`; values written before routings were kept have none."""
    revision, day, *routing = raw.decode().split(":", 2)
    return int(revision), int(day), routing[0] if routing else None


def raw_event(record: ConsumerRecord) -> RawEvent:
    return RawEvent(
        record.value,
        Origin(record.topic, record.partition, record.offset),
        datetime.fromtimestamp(record.timestamp / 1000, UTC),
    )


def create_app(settings: IngestSettings, registry: CollectorRegistry | None = None) -> faust.App:  # noqa: PLR0915
    """Build the ingest Faust app."""
    registry = registry or CollectorRegistry()
    metrics = IngestMetrics(registry)
    app = make_app("ingest", settings)
    # Event ids already published (identity → highest revision and the day last seen), bounded by
    # dedupe_retention_days: expired ids are deleted with tombstones, which compaction removes.
    seen = CompactedMap(settings, DEDUPE)
    outputs = Outputs(settings, "tiendo-ingest-out", (UPDATES, DLQ, DEDUPE))
    updates_topic, dlq_topic = settings.topic(UPDATES.name), settings.topic(DLQ.name)
    joined = asyncio.Event()

    def seen_revision(identity: str) -> int | None:
        raw = seen.get(identity.encode())
        return None if raw is None else decode_seen(raw)[0]

    def seen_routing(identity: str) -> str | None:
        raw = seen.get(identity.encode())
        return None if raw is None else decode_seen(raw)[2]

    async def process(records: list[ConsumerRecord], producer: AIOKafkaProducer) -> None:
        now = datetime.now(UTC)
        raws = [raw_event(r) for r in records]
        result = triage(raws, seen_revision)
        accepted = [u for _, u, _ in result.accepted]
        retractions = dict(moved_contributions(accepted, seen_routing))
        sends = []
        for position, update in enumerate(accepted):
            sends.append(await producer.send(updates_topic, update.encode(), key=update.key))
            if (retraction := retractions.get(position)) is not None:  # after the update: read in this order
                sends.append(await producer.send(updates_topic, retraction.encode(), key=retraction.key))
        for index, rejection in result.rejected:
            raw = raws[index]
            letter = DeadLetter.bounded(
                rejection.reason,
                rejection.message,
                raw.origin,
                key=records[index].key,
                value=raw.value,
                received_at=raw.received_at,
                rejected_at=now,
            )
            sends.append(await producer.send(dlq_topic, letter.encode(), key=letter.key))
        await asyncio.gather(*sends)  # every output acknowledged before ids are remembered and offsets committed
        carried = {index: update for index, update, _ in result.accepted}
        remembered = {
            identity.encode(): encode_seen(revision, now, carried[index].routing)
            for identity, (revision, index) in result.remember.items()
        }
        await seen.write(producer, remembered)
        metrics.observe_batch(result, raws, time.time())
        log.debug(
            "batch",
            events=len(records),
            accepted=len(result.accepted),
            corrections=sum(1 for _, _, s in result.accepted if s is Seen.CORRECTION),
            duplicates=len(result.duplicates),
            rejected=len(result.rejected),
        )

    @app.task
    async def consume_feeds() -> None:
        loaded = await seen.load()  # the dedupe state first
        metrics.dedupe_keys.set(loaded)
        log.info("dedupe_loaded", keys=loaded)
        consumer = group_consumer(settings, INGEST_GROUP, "tiendo-ingest-feeds")
        guard = BatchLock()
        consumer.subscribe(pattern=f"(?:{settings.topic_pattern})$", listener=guard)
        await consumer.start()
        producer = await outputs.producer()
        joined.set()
        try:
            while True:
                fetched = await consumer.getmany(
                    timeout_ms=int(settings.batch_wait_s * 1000), max_records=settings.batch_size
                )
                try:
                    async with guard.lock:
                        batches = owned(consumer, fetched)
                        if batches:
                            await process([r for records in batches.values() for r in records], producer)
                            await commit(consumer, batches)
                except KafkaError as exc:  # outputs not acknowledged: nothing committed
                    await retry_later(consumer, fetched, exc)
                positions = {tp: await consumer.position(tp) for tp in consumer.assignment()}
                metrics.worker.record_lag(consumer.highwater, positions)
        finally:
            await consumer.stop()
            await outputs.stop()

    @app.timer(interval=3600.0)
    async def expire_seen() -> None:
        """Forget event ids not seen for ``dedupe_retention_days`` so the dedupe state stays bounded."""
        horizon = (datetime.now(UTC) - timedelta(days=settings.dedupe_retention_days)).date().toordinal()
        stale = [key for key, raw in seen.data.items() if decode_seen(raw)[1] < horizon]
        if stale:
            await seen.write(await outputs.producer(), dict.fromkeys(stale))
        metrics.dedupe_keys.set(len(seen))
        if stale:
            log.info("dedupe_expired", keys=len(stale))

    add_http_endpoints(app, registry, consuming=joined.is_set)
    return app
