"""A real Prometheus Alertmanager for integration tests, notifying a webhook recorder run inside the test.

``Alertmanager`` runs ``/usr/bin/prometheus-alertmanager`` (Debian's ``prometheus-alertmanager``, installed by
``scripts/setup.sh --monitoring``) on 127.0.0.1 with clustering off, its storage in a temporary folder and a
config whose single receiver is a ``WebhookRecorder``: a ``http.server`` thread on 127.0.0.1 keeping every
notification (Alertmanager's webhook payload: ``{status, alerts: [{status, labels, annotations, startsAt,
endsAt}], groupLabels, ...}``). ``group_wait``/``group_interval`` are 1 s so notifications come fast, and
``repeat_interval`` is 1 h so a page sent twice shows up as a second notification: a failure.

``stop()`` then ``start()`` restarts it on the same port with the same storage (notification log and silences
survive, as in production). :func:`running_alertmanager` starts both for a test's fixture.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from services.processes import Process

ALERTMANAGER = Path(os.environ.get("TIENDO_ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager"))
AMTOOL = Path(os.environ.get("TIENDO_AMTOOL_BIN", "/usr/bin/amtool"))

Notification = dict[str, Any]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recorder_config(webhook_url: str, *, group_by: tuple[str, ...] = ("alertname", "province")) -> str:
    """Alertmanager config: one webhook receiver, 1 s grouping, 1 h repeat, 5 min resolve timeout."""
    labels = ", ".join(group_by)
    return f"""\
global:
  resolve_timeout: 5m
route:
  receiver: recorder
  group_by: [{labels}]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: recorder
    webhook_configs:
      - url: {webhook_url}
        send_resolved: true
"""


class WebhookRecorder:
    """An HTTP server on 127.0.0.1 (own thread) that records every JSON body POSTed to it, with its path."""

    def __init__(self) -> None:
        self._received: list[tuple[str, Notification]] = []
        self._changed = threading.Condition()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {"unparsable": body.decode(errors="replace")}
                with recorder._changed:
                    recorder._received.append((self.path, payload))
                    recorder._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook-recorder", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> WebhookRecorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def notifications(self, path: str | None = None) -> list[Notification]:
        """Every payload received so far (only those POSTed to ``path`` if given), in arrival order."""
        with self._changed:
            return [p for at, p in self._received if path is None or at == path]

    def wait_for(
        self, done: Callable[[list[Notification]], bool], timeout: float = 30, describe: Callable[[], str] = str
    ) -> list[Notification]:
        """Block until ``done(notifications)`` holds; fail after ``timeout`` seconds with what was received."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                received = [p for _, p in self._received]
                if done(received):
                    return received
                left = deadline - time.monotonic()
                if left <= 0:
                    shown = json.dumps(received, indent=1, ensure_ascii=False)[-3000:]
                    raise AssertionError(f"webhook: condition not met in {timeout}s; received {shown}\n{describe()}")
                self._changed.wait(min(left, 0.5))


class Alertmanager:
    """One ``prometheus-alertmanager`` process on 127.0.0.1; ``stop()``/``start()`` keep its port and storage."""

    def __init__(self, home: Path, config: str, port: int | None = None) -> None:
        self.home = home
        self.port = port or _free_port()
        self.storage = home / "data"
        self.config_file = home / "alertmanager.yml"
        self.storage.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(config, encoding="utf-8")
        argv = [
            str(ALERTMANAGER),
            f"--config.file={self.config_file}",
            f"--storage.path={self.storage}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",  # no clustering: no gossip port, no settle wait
            f"--web.external-url={self.url}",
            "--log.level=debug",
        ]
        self.process = Process(
            "alertmanager", argv, home / "alertmanager.log", port=self.port, ready_path="/-/ready", cwd=home
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Alertmanager:
        """Start the process and wait until ``/-/ready`` answers."""
        if self.process.running:
            raise RuntimeError("Alertmanager is already running")
        self.process.start().wait_ready(timeout)
        return self

    def stop(self) -> int | None:
        """SIGTERM (Alertmanager snapshots its notification log and silences) and wait; the port is freed."""
        return self.process.stop(grace=30)

    def get(self, path: str, timeout: float = 5) -> tuple[int, bytes]:
        return self.process.get(path, timeout)

    def tail(self) -> str:
        return self.process.tail()

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """POST /api/v2/alerts, as Prometheus or the alert worker do."""
        request = urllib.request.Request(  # noqa: S310 - loopback
            self.url + "/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - loopback
            assert resp.status == 200, resp.read()

    def alerts(self) -> list[dict[str, Any]]:
        """GET /api/v2/alerts: what Alertmanager holds now (active, silenced and inhibited ones)."""
        status, body = self.get("/api/v2/alerts")
        assert status == 200, body
        return json.loads(body)


@contextlib.contextmanager
def running_alertmanager(home: Path, config: str | None = None) -> Iterator[tuple[Alertmanager, WebhookRecorder]]:
    """A started webhook recorder and an Alertmanager notifying it (``config``: a template with ``{webhook}``)."""
    webhook = WebhookRecorder().start()
    try:
        text = recorder_config(webhook.url) if config is None else config.replace("{webhook}", webhook.url)
        manager = Alertmanager(home, text)
        try:
            yield manager.start(), webhook
        finally:
            manager.stop()
    finally:
        webhook.stop()
