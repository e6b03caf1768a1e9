"""Alert delivery against a real HTTP server that can be held, as a paused (SIGSTOPped) Alertmanager is: the
request reaches it and is answered only when it resumes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import pytest_asyncio
from aiohttp import web
from prometheus_client import CollectorRegistry

from services.alert.delivery import Delivery


@dataclass
class Receiver:
    """An Alertmanager stand-in: records what it applies, in order; ``held`` stops it answering."""

    url: str = ""
    applied: list[str] = field(default_factory=list)
    held: asyncio.Event = field(default_factory=asyncio.Event)
    status: int = 200

    async def handle(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        if not self.held.is_set():
            await self.held.wait()
        self.applied.extend(a["labels"]["state"] for a in body)
        return web.Response(status=self.status)

    def pause(self) -> None:
        self.held.clear()

    def resume(self) -> None:
        self.held.set()


@pytest_asyncio.fixture(loop_scope="function")
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    found.resume()
    app = web.Application()
    app.router.add_post("/api/v2/alerts", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    found.url = f"http://127.0.0.1:{port}"
    yield found
    found.resume()
    await runner.cleanup()


def batch(state: str) -> list[dict[str, object]]:
    return [{"labels": {"alertname": "TiendoBehindPlan", "state": state}}]


def failures(delivery: Delivery) -> float:
    return delivery.outcomes.labels("alertmanager", "failure")._value.get()


async def until(check: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_a_paused_receiver_gets_one_request_then_the_latest_the_moment_it_resumes(receiver: Receiver) -> None:
    delivery = Delivery([receiver.url], None, CollectorRegistry(), wait_s=0.2)
    try:
        assert await delivery.send(batch("firing-1"))
        receiver.pause()
        assert not await delivery.send(batch("firing-2"))  # reaches it, not answered in time: left in flight
        assert not await delivery.send(batch("firing-3"))  # held back, not stacked behind it
        assert not await delivery.send(batch("resolved"))  # replaces the held one
        assert failures(delivery) == 3
        receiver.resume()
        await until(lambda: len(receiver.applied) == 3)
        # The stale request is applied first and the current state right after it, without waiting for a round:
        # nothing older than the resolved is applied after it.
        assert receiver.applied == ["firing-1", "firing-2", "resolved"]
        assert await delivery.send(batch("resolved"))
    finally:
        await delivery.close()


async def test_a_request_is_given_up_after_its_alerts_lifetime(receiver: Receiver) -> None:
    delivery = Delivery([receiver.url], None, CollectorRegistry(), wait_s=0.1, give_up_s=0.3)
    try:
        receiver.pause()
        assert not await delivery.send(batch("firing"))
        await asyncio.sleep(0.4)  # given up: the next batch is a new request, not held back
        assert not await delivery.send(batch("resolved"))
        receiver.resume()
        await until(lambda: len(receiver.applied) == 2)
        assert await delivery.send(batch("resolved"))
    finally:
        await delivery.close()


async def test_a_refusing_or_absent_receiver_fails_and_is_tried_again(receiver: Receiver) -> None:
    receiver.status = 400
    delivery = Delivery([receiver.url, "http://127.0.0.1:9"], None, CollectorRegistry(), wait_s=1.0)
    try:
        assert not await delivery.send(batch("firing"))
        assert not await delivery.send(batch("firing"))  # nothing in flight: sent again
        assert receiver.applied == ["firing", "firing"]
        assert failures(delivery) == 4
        assert await delivery.send([])
    finally:
        await delivery.close()
