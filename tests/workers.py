"""Real tiendo workers as subprocesses for integration tests (:class:`services.processes.Worker`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from services import processes
from services.processes import ROOT, ProcessError
from shared.metrics import metric_sum

__all__ = ["ROOT", "Worker", "tiendo"]


class Worker(processes.Worker):
    """A worker whose failure to become ready fails the test (AssertionError with its log's tail)."""

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Sum of a metric's samples matching the labels, read from /metrics."""
        _, body = self.get("/metrics")
        return metric_sum(body.decode(), name, labels)

    def wait_ready(self, timeout: float = 120) -> None:
        try:
            super().wait_ready(timeout)
        except ProcessError as exc:
            raise AssertionError(str(exc)) from None


async def tiendo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m services ARGS`` (the ``tiendo`` command) with the test's broker and namespace."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
