"""A minimal Faust app for the foundation test: counts messages per key in a RocksDB table.

Run as ``python -m tests.integration.faust_probe`` with PROBE_ID, PROBE_IN, PROBE_OUT and TIENDO_*
settings in the environment.
"""

from __future__ import annotations

import os

from shared.faustapp import WorkerSettings, make_app, run_worker

settings = WorkerSettings()
app = make_app(os.environ["PROBE_ID"], settings)
source = app.topic(os.environ["PROBE_IN"])
sink = app.topic(os.environ["PROBE_OUT"])
counts = app.Table("counts", default=int, key_type=bytes, value_type=int, partitions=1)


@app.agent(source)
async def count(stream):
    async for event in stream.events():
        counts[event.message.key] += 1
        await sink.send(key=event.message.key, value=str(counts[event.message.key]).encode())


if __name__ == "__main__":
    run_worker(app, settings)
