"""The local stack the demo runs: the three workers, Prometheus and Alertmanager, as child processes."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from services.processes import ROOT, Process, Worker


def get_json(url: str, timeout: float = 5) -> Any:
    return orjson.loads(get_text(url, timeout))


def get_text(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URLs of our own stack
        return resp.read().decode()


def worker(name: str, port: int, home: Path, env: dict[str, str]) -> Worker:
    """A tiendo worker (``python -m services <name>``) with its own port, state folder and log."""
    env = {**env, "TIENDO_DATA_DIR": str(home / "state")}
    return Worker(name, env, home / "logs" / f"{name}.log", port, own_session=True)


def prometheus(home: Path, port: int = 9090) -> Process | None:
    """Debian's Prometheus with the project's config, or None when it is not installed."""
    binary = shutil.which("prometheus")
    if binary is None:
        return None
    argv = [
        binary,
        f"--config.file={ROOT / 'deploy/prometheus/prometheus.yml'}",
        f"--storage.tsdb.path={home / 'prometheus'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    log = home / "logs" / "prometheus.log"
    return Process("prometheus", argv, log, port=port, ready_path="/-/ready", own_session=True)


def alertmanager(home: Path, port: int = 9093) -> Process | None:
    """Debian's Alertmanager with the project's config, or None when it is not installed."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        return None
    argv = [
        binary,
        f"--config.file={ROOT / 'deploy/alertmanager/alertmanager.yml'}",
        f"--storage.path={home / 'alertmanager'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    log = home / "logs" / "alertmanager.log"
    return Process("alertmanager", argv, log, port=port, ready_path="/-/ready", own_session=True)
