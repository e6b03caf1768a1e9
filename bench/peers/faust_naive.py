"""The pipeline as plain per-event Faust agents: the naive baseline.

Built with tiendo's Faust defaults (``shared.faustapp.make_app``: RocksDB tables, raw bytes, commit every second,
no spinner) so only the per-event style differs from the workers. Agent ``ingest``: ``async for event in
stream.events()`` over the feeds → ``triage`` of that one event (dedupe in a Faust table keyed by identity) → an
awaited send of its update to ``indicator.updates`` (keyed like the worker's) or of its dead letter. Agent
``aggregate``: per update, its series state read from a Faust table, ``apply_batch`` of one update, the state
written back and every total awaited-sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
import orjson

from bench.peers import load_config, through
from bench.raw_aggregate import totals_messages
from bench.raw_ingest import dead_letters
from shared.aggregation import SeriesState, apply_batch
from shared.faustapp import WorkerSettings, make_app, run_worker
from shared.normalise import RawEvent, triage
from shared.topics import DLQ, TOTALS, UPDATES
from shared.updates import IndicatorUpdate, Origin


def create_app(config: dict[str, Any], settings: WorkerSettings) -> faust.App:
    """The Faust app with its two agents and two tables."""
    app = make_app("faust-pipeline", settings)
    partitions = config["partitions"]
    updates = app.topic(settings.topic(UPDATES.name))
    dlq, totals = app.topic(settings.topic(DLQ.name)), app.topic(settings.topic(TOTALS.name))
    seen = app.Table("dedupe", partitions=partitions, key_type=bytes, value_type=bytes)
    series = app.Table("series", partitions=partitions, key_type=bytes, value_type=bytes)

    def seen_revision(identity: str) -> int | None:
        found = seen.get(identity.encode())
        return None if found is None else int(found)

    def load(key: str) -> SeriesState | None:
        found = series.get(key.encode())
        return None if found is None else SeriesState.from_dict(orjson.loads(found))

    @app.agent(app.topic(*config["feeds"]))
    async def ingest(stream: faust.StreamT) -> None:
        async for event in stream.events():
            m = event.message
            raws = [RawEvent(m.value, Origin(m.topic, m.partition, m.offset), datetime.fromtimestamp(m.timestamp, UTC))]
            triaged = triage(raws, seen_revision)
            for _, update, _ in triaged.accepted:
                await updates.send(key=update.key, value=update.encode())
                seen[update.identity.encode()] = str(update.revision).encode()
            for _, key, value in dead_letters([m.key], raws, triaged, dlq.get_topic_name(), datetime.now(UTC)):
                await dlq.send(key=key, value=value)

    @app.agent(updates)
    async def aggregate(stream: faust.StreamT) -> None:
        async for event in stream.events():
            states: dict[str, SeriesState] = {}
            result = apply_batch(states, [IndicatorUpdate.decode(event.message.value)], load)
            for key, state in result.changed.items():
                series[key.encode()] = state.encode()
            for key, value in totals_messages(result, through(states, load)):
                await totals.send(key=key, value=value)

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
