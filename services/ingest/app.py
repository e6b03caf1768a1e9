"""The ingest worker: feed topics in (by pattern), normalised updates and dead letters out.

Thin Faust layer: the per-event work is ``shared.normalise.triage``; this module wires topics, the dedupe table,
the output producer, metrics and commits (offsets advance only after every output of a batch is acknowledged).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import faust
from prometheus_client import CollectorRegistry

from services.ingest.metrics import IngestMetrics
from services.ingest.settings import IngestSettings
from shared.deadletter import DeadLetter
from shared.faustapp import Outputs, event_context, follow_pattern, make_app
from shared.logs import get_logger
from shared.metrics import add_http_endpoints
from shared.normalise import RawEvent, Seen, triage
from shared.topics import DLQ, UPDATES
from shared.updates import Origin

log = get_logger("tiendo.ingest")


def encode_seen(revision: int, at: datetime) -> bytes:
    """Dedupe table value: the highest revision seen and the day it was last seen (for retention)."""
    return f"{revision}:{at.date().toordinal()}".encode()


def decode_seen(raw: bytes) -> tuple[int, int]:
    revision, day = raw.split(b":")
    return int(revision), int(day)


def create_app(settings: IngestSettings, registry: CollectorRegistry | None = None) -> faust.App:
    """Build the ingest Faust app."""
    registry = registry or CollectorRegistry()
    metrics = IngestMetrics(registry)
    app = make_app("ingest", settings)
    feeds = follow_pattern(app, settings, settings.topic_pattern, settings.metadata_max_age_ms / 1000)
    # Event ids already published: survives restarts (RocksDB + changelog). One changelog partition: feed
    # topics are per publisher, so keys from any feed partition hash to it (use_partitioner), and the whole
    # dedupe state is recovered by whichever ingest worker holds it.
    seen = app.Table("dedupe", partitions=1, use_partitioner=True, key_type=bytes, value_type=bytes)
    outputs = Outputs(settings, "tiendo-ingest-out", (UPDATES, DLQ))
    updates_topic, dlq_topic = settings.topic(UPDATES.name), settings.topic(DLQ.name)

    def seen_revision(identity: str) -> int | None:
        raw = seen.get(identity.encode())
        return None if raw is None else decode_seen(raw)[0]

    @app.agent(feeds)
    async def ingest(stream: faust.StreamT) -> None:
        producer = await outputs.producer()
        positions: dict = {}
        try:
            async for events in stream.take_events(settings.batch_size, within=settings.batch_wait_s):
                now = datetime.now(UTC)
                raws = [
                    RawEvent(
                        e.message.value,
                        Origin(e.message.topic, e.message.partition, e.message.offset),
                        datetime.fromtimestamp(e.message.timestamp, UTC),
                    )
                    for e in events
                ]
                result = triage(raws, seen_revision)
                sends = [producer.send(updates_topic, u.encode(), key=u.key) for _, u, _ in result.accepted]
                for index, rejection in result.rejected:
                    letter = DeadLetter(
                        rejection.reason,
                        rejection.message,
                        raws[index].origin,
                        events[index].message.key,
                        raws[index].value,
                        raws[index].received_at,
                        now,
                    )
                    sends.append(producer.send(dlq_topic, letter.encode(), key=events[index].message.key))
                # Wait for every acknowledgement before remembering ids and letting Faust commit the offsets.
                await asyncio.gather(*await asyncio.gather(*sends))
                for identity, (revision, index) in result.remember.items():
                    with event_context(events[index]):
                        seen[identity.encode()] = encode_seen(revision, now)
                done = time.time()
                metrics.observe_batch(result, raws, done)
                for e in events:
                    positions[e.message.tp] = e.message.offset + 1
                metrics.worker.record_lag(app, positions)
                log.debug(
                    "batch",
                    events=len(events),
                    accepted=len(result.accepted),
                    corrections=sum(1 for _, _, s in result.accepted if s is Seen.CORRECTION),
                    duplicates=len(result.duplicates),
                    rejected=len(result.rejected),
                )
        finally:
            await outputs.stop()

    @app.timer(interval=3600.0)
    async def expire_seen() -> None:
        """Forget event ids not seen for ``dedupe_retention_days`` so the dedupe state stays bounded."""
        horizon = (datetime.now(UTC) - timedelta(days=settings.dedupe_retention_days)).date().toordinal()
        stale = [key for key, raw in seen.items() if decode_seen(raw)[1] < horizon]
        for key in stale:
            del seen[key]
        metrics.dedupe_keys.set(len(seen))
        if stale:
            log.info("dedupe_expired", keys=len(stale))

    add_http_endpoints(app, registry, recovers_tables=True)
    return app
