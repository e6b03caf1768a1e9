"""The ingest stage: feed messages normalised and deduplicated, updates and dead letters out, identities remembered.

Per batch: ``shared.normalise.triage`` sorts the messages; every update (with a retraction after each correction
that moves an event to another series), every dead letter, then the batch's dedupe entries are sent and
acknowledged; the batch worker then commits the feed offsets.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from services.ingest.metrics import IngestMetrics
from shared.batchworker import Committed
from shared.compacted import CompactedMap
from shared.deadletter import DeadLetter
from shared.kafkaclients import Message, send_all
from shared.logs import get_logger
from shared.normalise import RawEvent, Seen, triage
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


class IngestStage:
    """Feed batches → ``indicator.updates`` and ``indicator.dlq``; the dedupe state in a compacted topic."""

    def __init__(
        self,
        seen: CompactedMap,
        metrics: IngestMetrics,
        *,
        updates_topic: str,
        dlq_topic: str,
        retention_days: int,
        max_ids: int,
    ) -> None:
        # Event ids already published (identity → highest revision, day last seen, routing), bounded by
        # ``retention_days`` (expired ids are deleted with tombstones, which compaction removes) and by ``max_ids``
        # (a new id beyond it is dead-lettered as ``dedupe_full``, never accepted unremembered).
        self.seen, self.metrics = seen, metrics
        self.updates_topic, self.dlq_topic, self.retention_days = updates_topic, dlq_topic, retention_days
        self.max_ids = max_ids
        metrics.dedupe_max_keys.set(max_ids)

    async def start(self) -> None:
        loaded = await self.seen.load()  # the whole dedupe state, before any feed message is read
        self.metrics.dedupe_keys.set(loaded)
        log.info("dedupe_loaded", keys=loaded, max_ids=self.max_ids)
        if loaded >= self.max_ids:  # a lowered limit forgets nothing: new ids wait until expiry makes room
            log.warning("dedupe_full", keys=loaded, max_ids=self.max_ids)

    async def on_assigned(self, partitions: set[int]) -> None:
        """The dedupe state read again (it covers every feed): what other replicas remembered for the feed
        partitions this one takes over, and nothing a transaction that did not commit wrote."""
        self.metrics.dedupe_keys.set(await self.seen.load())

    async def on_revoked(self, partitions: set[int]) -> None:
        """Nothing per partition."""

    def close(self) -> None:
        """Nothing to release."""

    def _revision(self, identity: str) -> int | None:
        raw = self.seen.get(identity.encode())
        return None if raw is None else decode_seen(raw)[0]

    def _routing(self, identity: str) -> str | None:
        raw = self.seen.get(identity.encode())
        return None if raw is None else decode_seen(raw)[2]

    async def process(self, records: list[ConsumerRecord], producer: AIOKafkaProducer) -> Committed:
        """Triage the batch, send its updates, retractions and dead letters, remember its ids; counted once it is
        committed (a batch whose transaction does not commit is read and counted again)."""
        now = datetime.now(UTC)
        raws = [raw_event(r) for r in records]
        result = triage(raws, self._revision, room=self.max_ids - len(self.seen))
        accepted = [u for _, u, _ in result.accepted]
        retractions = dict(moved_contributions(accepted, self._routing))
        outputs: list[Message] = []
        for position, update in enumerate(accepted):
            outputs.append((self.updates_topic, update.key, update.encode()))
            if (retraction := retractions.get(position)) is not None:  # after the update: read in this order
                outputs.append((self.updates_topic, retraction.key, retraction.encode()))
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
            outputs.append((self.dlq_topic, letter.key, letter.encode()))
        await send_all(producer, outputs)  # every output acknowledged before ids are remembered and offsets committed
        carried = {index: update for index, update, _ in result.accepted}
        remembered: dict[bytes, bytes | None] = {
            identity.encode(): encode_seen(revision, now, carried[index].routing)
            for identity, (revision, index) in result.remember.items()
        }
        await self.seen.write(producer, remembered)
        log.debug(
            "batch",
            events=len(records),
            accepted=len(result.accepted),
            corrections=sum(1 for _, _, s in result.accepted if s is Seen.CORRECTION),
            duplicates=len(result.duplicates),
            rejected=len(result.rejected),
        )
        return lambda: self.metrics.observe_batch(result)

    async def expire(self, producer: AIOKafkaProducer) -> None:
        """Forget event ids not seen for ``retention_days`` so the dedupe state stays bounded."""
        horizon = (datetime.now(UTC) - timedelta(days=self.retention_days)).date().toordinal()
        stale = [key for key, raw in self.seen.data.items() if decode_seen(raw)[1] < horizon]
        if stale:
            await self.seen.write(producer, dict.fromkeys(stale))
            log.info("dedupe_expired", keys=len(stale))
        self.metrics.dedupe_keys.set(len(self.seen))
