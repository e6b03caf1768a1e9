"""A child process with its own log file and HTTP port: how the demo, the tests and the benchmarks run
workers, raw loops, Prometheus and Alertmanager."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class ProcessError(RuntimeError):
    """A process exited or was not ready in time; the message ends with its log's tail."""


class Process:
    """``argv`` run from ``cwd`` with ``env`` over this process's environment, stdout and stderr appended to ``log``.

    With a ``port``, :meth:`wait_ready` waits until ``http://127.0.0.1:<port><ready_path>`` answers 200; without
    one, until the process has started. :meth:`stop` is SIGTERM, then SIGKILL after ``grace`` seconds.
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        *,
        port: int | None = None,
        ready_path: str = "/health",
        cwd: Path = ROOT,
        own_session: bool = False,
    ) -> None:
        self.name, self.argv, self.log, self.env = name, argv, log, env or {}
        self.port, self.ready_path, self.cwd, self.own_session = port, ready_path, cwd, own_session
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=self.own_session,  # the demo: Ctrl-C reaches it only, and it stops its children
            )
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, timeout: float = 5) -> tuple[int, bytes]:
        """``GET`` a path of the process's HTTP port: (status, body); OSError when nothing answers."""
        try:
            with urllib.request.urlopen(self.url(path), timeout=timeout) as resp:  # noqa: S310 - loopback
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def ready(self) -> bool:
        """Whether the readiness URL answers 200 (always, without a port)."""
        if self.port is None:
            return True
        try:
            return self.get(self.ready_path, timeout=2)[0] == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 120) -> None:
        """Wait until :meth:`ready`; ProcessError with the log's tail if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                code = self.proc.returncode if self.proc else None
                raise ProcessError(f"{self.name} exited ({code}); see {self.log}:\n{self.tail()}")
            if self.ready():
                return
            time.sleep(0.2)
        raise ProcessError(f"{self.name} not ready after {timeout:.0f}s; see {self.log}:\n{self.tail()}")

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit; killed and ProcessError if it runs past ``timeout`` seconds."""
        if self.proc is None:
            raise ProcessError(f"{self.name} was never started")
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ProcessError(f"{self.name} did not finish in {timeout:.0f}s:\n{self.tail()}") from None

    def stop(self, grace: float = 60) -> int | None:
        """SIGTERM and wait ``grace`` seconds, then SIGKILL; the exit code (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


class Worker(Process):
    """``python -m services <command> <args>``: a tiendo worker, its HTTP port in ``TIENDO_WEB_PORT``."""

    def __init__(
        self, command: str, env: dict[str, str], log: Path, port: int, *args: str, own_session: bool = False
    ) -> None:
        argv = [sys.executable, "-m", "services", command, *args]
        super().__init__(command, argv, log, {**env, "TIENDO_WEB_PORT": str(port)}, port=port, own_session=own_session)
        self.command = command
