"""The pipeline in Quix Streams 3.28: stateful per-message processing, at-least-once.

One ``StreamingDataFrame`` per feed topic: a stateful ``apply`` runs ``triage`` on the message (dedupe in the
topic partition's state store) and returns its update (to ``indicator.updates``, keyed like the worker's) or
dead letter; one dataframe over ``indicator.updates``: a stateful ``apply`` (state scoped to the message key,
current province + indicator, so it holds every unit rolling up into it) loads the series state, applies the
update with ``apply_batch`` and stores the state back, then returns the totals. Commits every second, as
tiendo's Faust workers do (Quix's default is five).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from quixstreams import Application, message_context
from quixstreams.models import Topic
from quixstreams.models.serializers import SerializationContext, Serializer
from quixstreams.state import State

from bench.peers import load_config, through
from bench.raw_aggregate import totals_messages
from bench.raw_ingest import dead_letters
from shared.aggregation import SeriesState, apply_batch
from shared.normalise import RawEvent, triage
from shared.topics import DLQ, TOTALS, UPDATES
from shared.updates import IndicatorUpdate, Origin

Output = tuple[Topic, bytes | None, bytes]


class Payload(Serializer):
    """An output is a (…, key, value bytes) tuple: its value is the last element, already encoded."""

    def __call__(self, value: tuple[Any, ...], ctx: SerializationContext) -> bytes:
        return value[-1]


def create_app(config: dict[str, Any]) -> Application:
    namespace = config["namespace"]
    app = Application(
        broker_address=config["bootstrap"],
        consumer_group=f"{namespace}quix-pipeline",
        auto_offset_reset="earliest",
        processing_guarantee="at-least-once",
        commit_interval=1.0,
        state_dir=config["data_dir"],
        loglevel="WARNING",
    )

    def topic(name: str) -> Topic:
        return app.topic(
            name,
            key_serializer="bytes",
            value_serializer=Payload(),
            key_deserializer="bytes",
            value_deserializer="bytes",
        )

    updates, dlq, totals = (topic(namespace + spec.name) for spec in (UPDATES, DLQ, TOTALS))

    def ingest(value: bytes, key: bytes | None, timestamp: int, headers: Any, state: State) -> list[Output]:
        ctx = message_context()
        raws = [
            RawEvent(value, Origin(ctx.topic, ctx.partition, ctx.offset), datetime.fromtimestamp(timestamp / 1000, UTC))
        ]
        triaged = triage(raws, state.get)
        for identity, (revision, _) in triaged.remember.items():
            state.set(identity, revision)
        out: list[Output] = [(updates, u.key, u.encode()) for _, u, _ in triaged.accepted]
        out += [(dlq, k, v) for _, k, v in dead_letters([key], raws, triaged, dlq.name, datetime.now(UTC))]
        return out

    def aggregate(value: bytes, state: State) -> list[tuple[bytes, bytes]]:
        def load(key: str) -> SeriesState | None:
            found = state.get(key)
            return None if found is None else SeriesState.from_dict(found)

        states: dict[str, SeriesState] = {}
        result = apply_batch(states, [IndicatorUpdate.decode(value)], load)
        for key, series in result.changed.items():
            state.set(key, series.to_dict())
        return totals_messages(result, through(states, load))

    for name in config["feeds"]:
        feed = app.dataframe(topic(name)).apply(ingest, stateful=True, metadata=True, expand=True)
        feed.to_topic(lambda value, key, timestamp, headers: value[0], key=lambda value: value[1])
    app.dataframe(updates).apply(aggregate, stateful=True, expand=True).to_topic(totals, key=lambda value: value[0])
    return app


def main() -> None:
    create_app(load_config()).run()


if __name__ == "__main__":
    main()
