"""Run real tiendo workers as subprocesses for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from shared.metrics import metric_sum

ROOT = Path(__file__).resolve().parents[1]


class Worker:
    """One ``tiendo <command>`` process with its own log file, HTTP port and state folder."""

    def __init__(self, command: str, env: dict[str, str], log: Path, port: int, *args: str) -> None:
        self.command, self.env, self.log, self.port, self.args = command, env, log, port, args
        self.proc: subprocess.Popen | None = None

    def start(self) -> Worker:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services", self.command, *self.args],
                cwd=ROOT,
                env={**os.environ, **self.env, "TIENDO_WEB_PORT": str(self.port)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, timeout: float = 5) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=timeout) as resp:  # noqa: S310 - loopback
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_ready(self, timeout: float = 120) -> None:
        """Wait until /health answers 200; fail with the log tail if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.command} exited {self.proc.returncode}:\n{self.tail()}")
            try:
                if self.get("/health", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{self.command} not ready in {timeout}s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode if self.proc else None

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Sum of a metric's samples matching the labels, read from /metrics."""
        _, body = self.get("/metrics")
        return metric_sum(body.decode(), name, labels)
