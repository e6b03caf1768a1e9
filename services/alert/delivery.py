"""Delivery of alerts to Alertmanager's API v2 and an optional webhook: retried, never blocking the stream."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.logs import get_logger
from shared.metrics import LATENCY_BUCKETS

log = get_logger("tiendo.alert.delivery")


class Delivery:
    """POSTs alert batches to every receiver; a receiver that fails is retried on the next round."""

    def __init__(self, alertmanager_urls: list[str], webhook_url: str | None, registry: CollectorRegistry) -> None:
        self.receivers = [("alertmanager", f"{u}/api/v2/alerts") for u in alertmanager_urls]
        if webhook_url:
            self.receivers.append(("webhook", webhook_url))
        self._session: aiohttp.ClientSession | None = None
        self.outcomes = Counter(
            "tiendo_alert_deliveries_total",
            "Alert batch deliveries by receiver kind and outcome.",
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
        """Deliver to every receiver; True when all accepted (nothing to deliver counts as success)."""
        if not alerts or not self.receivers:
            return True
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        session = self._session
        results = await asyncio.gather(*(self._post(session, kind, url, alerts) for kind, url in self.receivers))
        return all(results)

    async def _post(self, session: aiohttp.ClientSession, kind: str, url: str, alerts: list[dict[str, Any]]) -> bool:
        started = time.monotonic()
        try:
            async with session.post(
                url, data=orjson.dumps(alerts), headers={"Content-Type": "application/json"}
            ) as resp:
                ok = 200 <= resp.status < 300
                if not ok:
                    log.warning(
                        "delivery_refused", receiver=kind, url=url, status=resp.status, body=(await resp.text())[:300]
                    )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("delivery_failed", receiver=kind, url=url, error=str(exc) or type(exc).__name__)
            ok = False
        self.outcomes.labels(kind, "success" if ok else "failure").inc()
        if ok:
            self.latency.labels(kind).observe(time.monotonic() - started)
        return ok

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
