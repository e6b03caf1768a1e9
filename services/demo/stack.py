"""The local stack the demo runs: Kafka, the three workers, Prometheus and Alertmanager, as child processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from shared.logs import get_logger

ROOT = Path(__file__).resolve().parents[2]
log = get_logger("tiendo.demo")


class StackError(RuntimeError):
    """A process of the stack failed to start."""


@dataclass
class Process:
    """A child process with its log file, stopped by SIGTERM (then SIGKILL)."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    ready_url: str | None = None
    proc: subprocess.Popen | None = None

    def start(self) -> Process:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in the terminal reaches the demo only; it stops children itself
            )
        return self

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise StackError(f"{self.name} exited; see {self.log}:\n{tail(self.log)}")
            if self.ready_url is None or http_status(self.ready_url) == 200:
                return
            time.sleep(0.3)
        raise StackError(f"{self.name} not ready after {timeout:.0f}s; see {self.log}:\n{tail(self.log)}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def http_status(url: str, timeout: float = 2) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URLs of our own stack
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def get_json(url: str, timeout: float = 5) -> object:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URLs of our own stack
        return orjson.loads(resp.read())


def get_text(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URLs of our own stack
        return resp.read().decode()


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def worker(name: str, port: int, home: Path, env: dict[str, str]) -> Process:
    """A tiendo worker (``python -m services <name>``) with its own port, state folder and log."""
    return Process(
        name,
        [sys.executable, "-m", "services", name],
        home / "logs" / f"{name}.log",
        {**env, "TIENDO_WEB_PORT": str(port), "TIENDO_DATA_DIR": str(home / "state")},
        ready_url=f"http://127.0.0.1:{port}/health",
    )


def prometheus(home: Path, port: int = 9090) -> Process | None:
    """Debian's Prometheus with the project's config, or None when it is not installed."""
    binary = shutil.which("prometheus")
    if binary is None:
        return None
    return Process(
        "prometheus",
        [
            binary,
            f"--config.file={ROOT / 'deploy/prometheus/prometheus.yml'}",
            f"--storage.tsdb.path={home / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        home / "logs" / "prometheus.log",
        ready_url=f"http://127.0.0.1:{port}/-/ready",
    )


def alertmanager(home: Path, port: int = 9093) -> Process | None:
    """Debian's Alertmanager with the project's config, or None when it is not installed."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        return None
    return Process(
        "alertmanager",
        [
            binary,
            f"--config.file={ROOT / 'deploy/alertmanager/alertmanager.yml'}",
            f"--storage.path={home / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        home / "logs" / "alertmanager.log",
        ready_url=f"http://127.0.0.1:{port}/-/ready",
    )
