"""The pipeline as Faust agents and tables, written as the faust-streaming documentation writes them (README.md
here).

Built on tiendo's Faust app (``shared.faustapp.make_app``: RocksDB tables, HTTP server, no spinner) with Faust's
own commit interval (2.8 s) and its serialisers: JSON for ``indicator.updates`` and for the tables (a table whose
types are not models is JSON). Agent ``ingest``: ``async for event in stream.events()`` over the feed topics (raw
bytes in) → ``triage`` of the event against the ``dedupe`` table (one small value per event identity) → its
update and retraction sent to ``indicator.updates`` (keyed like the worker's), its dead letter to
``indicator.dlq``. Agent ``aggregate``: ``async for update in stream`` over ``indicator.updates`` → the update
applied through the ``aggregate`` table's small keys (``bench.peers.smallstate``: one per event identity, one per
series-quarter) → its totals sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust

from bench.peers import decode_update, ingest_one, load_config
from bench.peers.smallstate import totals_of
from shared.faustapp import WorkerSettings, make_app, run_worker
from shared.normalise import RawEvent
from shared.topics import DLQ, TOTALS, UPDATES
from shared.updates import Origin


class TableStore:
    """A Faust table as ``smallstate`` reads and writes it."""

    def __init__(self, table: faust.types.TableT) -> None:
        self.table = table

    def get(self, key: str) -> Any:
        return self.table.get(key)

    def set(self, key: str, value: Any) -> None:
        self.table[key] = value


def create_app(config: dict[str, Any], settings: WorkerSettings) -> faust.App:
    """The Faust app with its two agents and two tables."""
    app = make_app("faust-pipeline", settings, broker_commit_interval=2.8)
    partitions = config["partitions"]
    updates = app.topic(settings.topic(UPDATES.name), key_type=bytes, value_serializer="json")
    dlq = app.topic(settings.topic(DLQ.name), key_type=bytes, value_type=bytes)
    totals = app.topic(settings.topic(TOTALS.name), key_type=bytes, value_type=bytes)
    seen = app.Table("dedupe", partitions=partitions, key_type=str)
    state = TableStore(app.Table("aggregate", partitions=partitions, key_type=str))

    @app.agent(app.topic(*config["feeds"], key_type=bytes, value_type=bytes))
    async def ingest(stream: faust.StreamT) -> None:
        async for event in stream.events():
            m = event.message
            raw = RawEvent(m.value, Origin(m.topic, m.partition, m.offset), datetime.fromtimestamp(m.timestamp, UTC))
            out = ingest_one(raw, m.key, seen.get)
            for update in out.updates:
                await updates.send(key=update.key, value=update.to_dict())
            for letter in out.dead_letters:
                await dlq.send(key=letter.key, value=letter.encode())
            for identity, revision_and_routing in out.remember.items():
                seen[identity] = revision_and_routing

    @app.agent(updates)
    async def aggregate(stream: faust.StreamT) -> None:
        async for value in stream:
            for key, total in totals_of(state, decode_update(value)):
                await totals.send(key=key, value=total)

    return app


def main() -> None:
    config = load_config()
    settings = WorkerSettings(
        bootstrap_servers=config["bootstrap"],
        namespace=config["namespace"],
        data_dir=Path(config["data_dir"]),
        web_port=config["web_port"],
    )
    run_worker(create_app(config, settings), settings)


if __name__ == "__main__":
    main()
