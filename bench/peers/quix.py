"""The pipeline in Quix Streams 3.28, written as its documentation writes a stateful pipeline (README.md here).

- ``Application`` with Quix's recommended settings: at-least-once, commits every 5 s (its defaults), RocksDB
  state in ``data_dir``, changelog topics for recovery.
- Ingest: one ``StreamingDataFrame`` per feed topic (raw bytes in: a broken event must reach the dead-letter
  topic as it was). A stateful ``apply`` (state scoped to the message key, the indicator) looks each event's
  identity up (``state.get(identity)``, one small value per identity) and returns its update and retraction as
  dicts and its dead letter; the dataframe branches into ``indicator.updates`` (Quix's JSON serialiser, keyed by
  current province and indicator like the worker's) and ``indicator.dlq``.
- Aggregate: a dataframe over ``indicator.updates`` (JSON deserialiser); a stateful ``apply`` (state scoped to the
  key, so every unit rolling up into the province is in reach) applies the update through small keys
  (``bench.peers.smallstate``: one per event identity, one per series-quarter) and returns the totals, which go
  to ``indicator.totals`` already encoded (``Encoded``: the value of a ``(key, value)`` pair).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from quixstreams import Application, message_context
from quixstreams.models.serializers import SerializationContext, Serializer
from quixstreams.state import State

from bench.peers import decode_update, ingest_one, load_config
from bench.peers.smallstate import totals_of
from shared.normalise import RawEvent
from shared.topics import DLQ, TOTALS, UPDATES
from shared.updates import Origin


class Encoded(Serializer):
    """A ``(key, value bytes)`` output: its value, already encoded by the domain code."""

    def __call__(self, value: tuple[Any, bytes], ctx: SerializationContext) -> bytes:
        return value[1]


def create_app(config: dict[str, Any]) -> Application:
    namespace = config["namespace"]
    app = Application(
        broker_address=config["bootstrap"],
        consumer_group=f"{namespace}quix-pipeline",
        auto_offset_reset="earliest",
        state_dir=config["data_dir"],
        loglevel="WARNING",
    )
    updates = app.topic(
        namespace + UPDATES.name, key_serializer="bytes", value_serializer="json", key_deserializer="bytes",
        value_deserializer="json",
    )  # fmt: skip
    dlq = app.topic(namespace + DLQ.name, key_serializer="bytes", value_serializer=Encoded())
    totals = app.topic(namespace + TOTALS.name, key_serializer="bytes", value_serializer=Encoded())

    def ingest(value: bytes, key: bytes | None, timestamp: int, headers: Any, state: State) -> list[Any]:
        ctx = message_context()
        raw = RawEvent(
            value, Origin(ctx.topic, ctx.partition, ctx.offset), datetime.fromtimestamp(timestamp / 1000, UTC)
        )
        out = ingest_one(raw, key, state.get)
        for identity, seen in out.remember.items():
            state.set(identity, seen)
        return [u.to_dict() for u in out.updates] + [(letter.key, letter.encode()) for letter in out.dead_letters]

    for name in config["feeds"]:
        feed = app.dataframe(app.topic(name, key_deserializer="bytes", value_deserializer="bytes"))
        outputs = feed.apply(ingest, stateful=True, metadata=True, expand=True)
        outputs.filter(lambda v: isinstance(v, dict)).to_topic(
            updates, key=lambda u: f"{u['current_code']}|{u['indicator']}".encode()
        )
        outputs.filter(lambda v: isinstance(v, tuple)).to_topic(dlq, key=lambda letter: letter[0])

    def aggregate(value: dict[str, Any], state: State) -> list[tuple[bytes, bytes]]:
        return totals_of(state, decode_update(value))

    app.dataframe(updates).apply(aggregate, stateful=True, expand=True).to_topic(totals, key=lambda t: t[0])
    return app


def main() -> None:
    create_app(load_config()).run()


if __name__ == "__main__":
    main()
