"""A real Prometheus Alertmanager for integration tests, notifying a webhook recorder run inside the test.

``Alertmanager`` runs ``/usr/bin/prometheus-alertmanager`` (Debian's ``prometheus-alertmanager``, installed by
``scripts/setup.sh --monitoring``) on 127.0.0.1 with clustering off, its storage in a temporary folder and a
config whose single receiver is a ``WebhookRecorder``: a ``http.server`` thread on 127.0.0.1 keeping every
notification (Alertmanager's webhook payload: ``{status, alerts: [{status, labels, annotations, startsAt,
endsAt}], groupLabels, ...}``). ``group_wait``/``group_interval`` are 1 s so notifications come fast, and
``repeat_interval`` is 1 h so a page sent twice shows up as a second notification: a failure.

``stop()`` then ``start()`` restarts it on the same port with the same storage (notification log and silences
survive, as in production). :func:`running_alertmanager` starts both for a test's fixture.

``AlertmanagerCluster`` runs N of them as one HA cluster (gossip on 127.0.0.1, every member given every other as
``--cluster.peer``, timings from :class:`Gossip`: peers waited for and failures found in about a second instead of
15 s), all notifying one recorder; each notification's ``externalURL`` names the member that sent it.
:func:`running_cluster` starts it for a fixture. Alertmanager names a member by a ULID made when it starts, and a
member's position (its notification delay: position × ``peer_timeout``) is its rank among the names, so members
started in order have positions 0, 1, 2, and a restarted member comes last.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


def recorder_config(
    webhook_url: str,
    *,
    group_by: tuple[str, ...] = ("alertname", "province"),
    group_wait_s: float = 1,
    group_interval_s: float = 1,
) -> str:
    """Alertmanager config: one webhook receiver, 1 s group wait and interval unless given, 1 h repeat, 5 min
    resolve timeout."""
    labels = ", ".join(group_by)
    return f"""\
global:
  resolve_timeout: 5m
route:
  receiver: recorder
  group_by: [{labels}]
  group_wait: {round(group_wait_s * 1000)}ms
  group_interval: {round(group_interval_s * 1000)}ms
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


@dataclass(frozen=True)
class Gossip:
    """A cluster member's gossip timings (Alertmanager's defaults in brackets), fast for loopback tests."""

    peer_timeout_s: float = 0.6  # wait per position before notifying what no earlier peer has [15 s]
    gossip_interval_s: float = 0.05  # nflog and silence broadcasts [200 ms]
    pushpull_interval_s: float = 2.0  # full state sync with a random peer [1 min]
    probe_interval_s: float = 0.2  # failure detection [1 s]
    probe_timeout_s: float = 0.1  # [500 ms]
    settle_timeout_s: float = 10.0  # longest wait for a stable peer count before the first notification [1 min]
    reconnect_interval_s: float = 1.0  # rejoining failed peers [10 s]

    def flags(self) -> list[str]:
        return [
            f"--cluster.peer-timeout={self.peer_timeout_s}s",
            f"--cluster.gossip-interval={self.gossip_interval_s}s",
            f"--cluster.pushpull-interval={self.pushpull_interval_s}s",
            f"--cluster.probe-interval={self.probe_interval_s}s",
            f"--cluster.probe-timeout={self.probe_timeout_s}s",
            f"--cluster.settle-timeout={self.settle_timeout_s}s",
            f"--cluster.reconnect-interval={self.reconnect_interval_s}s",
        ]


class Alertmanager:
    """One ``prometheus-alertmanager`` process on 127.0.0.1; ``stop()``/``start()`` keep its port and storage.

    Alone (clustering off) unless given ``cluster_port``: then it gossips there with ``peers`` (host:port).
    """

    def __init__(
        self,
        home: Path,
        config: str,
        port: int | None = None,
        *,
        cluster_port: int | None = None,
        peers: tuple[str, ...] = (),
        gossip: Gossip | None = None,
    ) -> None:
        self.home = home
        self.port = port or _free_port()
        self.cluster_port = cluster_port
        self.storage = home / "data"
        self.config_file = home / "alertmanager.yml"
        self.storage.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(config, encoding="utf-8")
        if cluster_port is None:
            cluster = ["--cluster.listen-address="]  # no clustering: no gossip port, no settle wait
        else:
            address = f"127.0.0.1:{cluster_port}"
            cluster = [f"--cluster.listen-address={address}", f"--cluster.advertise-address={address}"]
            cluster += [f"--cluster.peer={peer}" for peer in peers] + (gossip or Gossip()).flags()
        argv = [
            str(ALERTMANAGER),
            f"--config.file={self.config_file}",
            f"--storage.path={self.storage}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            *cluster,
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
        """SIGTERM (Alertmanager snapshots its notification log and silences, and leaves its cluster) and wait; the
        port is freed. A paused process is resumed first, or it could not act on the signal."""
        self.resume()
        return self.process.stop(grace=30)

    def kill(self) -> None:
        """SIGKILL: no snapshot, no leave; its peers find it failed."""
        self.resume()
        self.process.kill()

    def pause(self) -> None:
        """SIGSTOP: a peer that stops answering (a network-slow or partitioned one). Its kernel still accepts
        connections, so a client's request waits, and is handled on :meth:`resume`."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT (nothing if not paused)."""
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        proc = self.process.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signum)

    def status(self) -> dict[str, Any]:
        """GET /api/v2/status (``cluster``: ``name``, ``status`` settling/ready/disabled, ``peers``)."""
        status, body = self.get("/api/v2/status")
        assert status == 200, body
        return json.loads(body)

    def metric(self, name: str) -> float | None:
        """An unlabelled sample of its own /metrics (``alertmanager_peer_position``, ...), None when absent."""
        _, body = self.get("/metrics")
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

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


class AlertmanagerCluster:
    """``size`` Alertmanagers gossiping on 127.0.0.1 as one HA cluster, all with the same config."""

    def __init__(self, home: Path, config: str, size: int = 3, gossip: Gossip | None = None) -> None:
        cluster_ports = [_free_port() for _ in range(size)]
        peers = tuple(f"127.0.0.1:{p}" for p in cluster_ports)
        self.members = [
            Alertmanager(home / f"am{i}", config, cluster_port=port, peers=peers, gossip=gossip)
            for i, port in enumerate(cluster_ports)
        ]

    @property
    def urls(self) -> list[str]:
        return [m.url for m in self.members]

    def start(self, timeout: float = 30) -> AlertmanagerCluster:
        """Start the members one by one (positions follow their index), then wait until all are one cluster."""
        for member in self.members:
            member.start(timeout)
        self.wait_joined(self.members, timeout)
        return self

    def member_of(self, url: str) -> int:
        """The index of the member whose (external) URL this is, as a notification's ``externalURL`` names it."""
        return self.urls.index(url.rstrip("/"))

    def wait_joined(self, members: list[Alertmanager], timeout: float = 30) -> None:
        """Until each of ``members`` is settled ("ready") in a cluster of exactly those members."""
        want = {f"127.0.0.1:{m.cluster_port}" for m in members}
        deadline = time.monotonic() + timeout
        while True:
            seen = [self._view(m) for m in members]
            if all(view == ("ready", want) for view in seen):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"cluster not joined in {timeout}s: want {sorted(want)}, members see {seen}")
            time.sleep(0.2)

    def wait_quiet(self, members: list[Alertmanager], timeout: float = 45) -> None:
        """Until none of ``members`` holds an aggregation group (every alert resolved, notified or deduplicated, and
        dropped): groups made after this start together at every member. An emptied group is dropped by the
        dispatcher's maintenance, every 30 s (fixed in Alertmanager), so this takes up to that."""
        deadline = time.monotonic() + timeout
        while (groups := [m.metric("alertmanager_dispatcher_aggregation_groups") for m in members]) != [0] * len(
            members
        ):
            if time.monotonic() > deadline:
                raise AssertionError(f"aggregation groups left after {timeout}s: {groups}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM every member at once (a member left alone would wait for its leave broadcast), then wait."""
        for member in self.members:
            member.resume()
            if member.process.proc is not None and member.process.running:
                member.process.proc.terminate()
        for member in self.members:
            member.stop()

    def tail(self, chars: int = 1500) -> str:
        return "\n".join(f"--- alertmanager {i} log ---\n{m.tail()[-chars:]}" for i, m in enumerate(self.members))

    @staticmethod
    def _view(member: Alertmanager) -> tuple[str, set[str]]:
        try:
            cluster = member.status()["cluster"]
        except (OSError, AssertionError, ValueError):
            return ("unreachable", set())
        return (cluster.get("status", ""), {p["address"] for p in cluster.get("peers") or ()})


@contextlib.contextmanager
def running_cluster(
    home: Path, size: int = 3, config: str | None = None, gossip: Gossip | None = None
) -> Iterator[tuple[AlertmanagerCluster, WebhookRecorder]]:
    """A started webhook recorder and a started cluster of ``size`` Alertmanagers notifying it."""
    webhook = WebhookRecorder().start()
    try:
        text = recorder_config(webhook.url) if config is None else config.replace("{webhook}", webhook.url)
        cluster = AlertmanagerCluster(home, text, size, gossip)
        try:
            yield cluster.start(), webhook
        finally:
            cluster.stop()
    finally:
        webhook.stop()
