"""Delivery of alerts to Alertmanager's API v2 and an optional webhook: retried, never blocking the stream.

One request at a time per receiver. A receiver that is paused rather than down (SIGSTOP, a long GC pause, a
frozen VM) still accepts connections in its kernel and applies what they carry when it resumes, possibly after
newer requests: a firing re-send applied after the resolved would page a resolved episode again. So a request
that is not answered within ``wait_s`` is left in flight rather than cancelled, nothing else is sent to that
receiver meanwhile, and the latest batch held back is sent the moment the request ends. A request is given up
after ``give_up_s``, the lifetime (``endsAt``) of the firing alerts it carries: applied later than that, it
resolves nothing and fires nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.logs import get_logger
from shared.metrics import LATENCY_BUCKETS

log = get_logger("tiendo.alert.delivery")


@dataclass
class _Receiver:
    kind: str  # "alertmanager" or "webhook": a bounded label value
    url: str
    in_flight: asyncio.Task[bool] | None = None
    held: bytes | None = None  # the latest batch sent while a request was in flight


class Delivery:
    """POSTs alert batches to every receiver; a receiver that fails is retried on the next round."""

    def __init__(
        self,
        alertmanager_urls: list[str],
        webhook_url: str | None,
        registry: CollectorRegistry,
        *,
        wait_s: float = 10.0,
        give_up_s: float = 300.0,
    ) -> None:
        self.receivers = [_Receiver("alertmanager", f"{u}/api/v2/alerts") for u in alertmanager_urls]
        if webhook_url:
            self.receivers.append(_Receiver("webhook", webhook_url))
        self.wait_s = wait_s
        self.give_up_s = give_up_s
        self._session: aiohttp.ClientSession | None = None
        self.outcomes = Counter(
            "tiendo_alert_deliveries_total",
            "Alert batch deliveries by receiver kind and outcome (failure: refused, unreachable, not answered in "
            "time, or held back behind an unanswered one).",
            ["receiver", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "tiendo_alert_delivery_latency_seconds",
            "Time to deliver one batch of alerts to one receiver.",
            ["receiver"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        for kind in ("alertmanager", "webhook"):
            for outcome in ("success", "failure"):
                self.outcomes.labels(kind, outcome)

    async def send(self, alerts: list[dict[str, Any]]) -> bool:
        """Deliver to every receiver; True when all accepted within ``wait_s`` (nothing to deliver counts as
        success)."""
        if not alerts or not self.receivers:
            return True
        body = orjson.dumps(alerts)
        results = await asyncio.gather(*(self._deliver(r, body) for r in self.receivers))
        return all(results)

    async def _deliver(self, receiver: _Receiver, body: bytes) -> bool:
        if receiver.in_flight is not None and not receiver.in_flight.done():
            receiver.held = body  # sent as soon as the receiver answers the request in flight
            ok = False
        else:
            task = receiver.in_flight = asyncio.create_task(self._post_then_held(receiver, body))
            done, _ = await asyncio.wait({task}, timeout=self.wait_s)
            ok = task in done and task.result()
        self.outcomes.labels(receiver.kind, "success" if ok else "failure").inc()
        return ok

    async def _post_then_held(self, receiver: _Receiver, body: bytes) -> bool:
        ok = await self._post(receiver, body)
        while receiver.held is not None:
            body, receiver.held = receiver.held, None
            ok = await self._post(receiver, body)
        return ok

    async def _post(self, receiver: _Receiver, body: bytes) -> bool:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.give_up_s))
        started = time.monotonic()
        try:
            async with self._session.post(
                receiver.url, data=body, headers={"Content-Type": "application/json"}
            ) as resp:
                ok = 200 <= resp.status < 300
                if not ok:
                    text = (await resp.text())[:300]
                    log.warning(
                        "delivery_refused", receiver=receiver.kind, url=receiver.url, status=resp.status, body=text
                    )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning(
                "delivery_failed", receiver=receiver.kind, url=receiver.url, error=str(exc) or type(exc).__name__
            )
            ok = False
        if ok:
            self.latency.labels(receiver.kind).observe(time.monotonic() - started)
        return ok

    async def close(self) -> None:
        for receiver in self.receivers:
            if receiver.in_flight is not None:
                receiver.in_flight.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiver.in_flight
        if self._session is not None:
            await self._session.close()
            self._session = None
