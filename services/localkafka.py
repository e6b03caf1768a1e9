"""Real Apache Kafka brokers (KRaft) run from the jars that deploy/kafka/pom.xml fetches: one node
(:class:`LocalBroker`) or a cluster of them (:class:`LocalCluster`, every node broker and controller in one process).

``tiendo kafka start|stop|status`` and the test suite's session fixtures use this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaClient
from aiokafka.admin import AIOKafkaAdminClient

ROOT = Path(__file__).resolve().parents[1]
KAFKA_DEPLOY = ROOT / "deploy" / "kafka"
LIBS = ROOT / ".cache" / "kafka" / "libs"
#: Java heap of each node of a local cluster (three on a small machine).
CLUSTER_HEAP = "384m"


class BrokerError(RuntimeError):
    """The local broker could not be fetched, started or stopped."""


@dataclass(frozen=True, slots=True)
class LocalBroker:
    """Where a local broker keeps its files and which ports it listens on (127.0.0.1 by default)."""

    home: Path = ROOT / ".var" / "kafka"
    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9095
    heap: str = "512m"
    #: An extra SASL_PLAINTEXT listener (mechanism PLAIN) with these users, for testing authenticated clients.
    sasl_port: int | None = None
    sasl_users: tuple[tuple[str, str], ...] = ()
    #: This node's id in its cluster (1 alone).
    node_id: int = 1
    #: The controller ports of every node of its cluster, node i + 1 on ``voters[i]`` (a static quorum of them);
    #: empty: a standalone node, its own one-voter quorum.
    voters: tuple[int, ...] = ()

    @classmethod
    def from_env(cls) -> LocalBroker:
        """Defaults overridden by ``TIENDO_KAFKA_HOME``, ``TIENDO_KAFKA_HOST``, ``TIENDO_KAFKA_PORT``..."""
        env = os.environ
        default = cls()
        try:
            return cls(
                home=Path(env.get("TIENDO_KAFKA_HOME", default.home)),
                host=env.get("TIENDO_KAFKA_HOST", default.host),
                port=int(env.get("TIENDO_KAFKA_PORT", default.port)),
                controller_port=int(env.get("TIENDO_KAFKA_CONTROLLER_PORT", default.controller_port)),
                heap=env.get("TIENDO_KAFKA_HEAP", default.heap),
            )
        except ValueError as exc:
            raise BrokerError(f"invalid TIENDO_KAFKA_* port: {exc}") from exc

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def replicas(self) -> int:
        """Replicas of the internal topics (and the default for others): the cluster's size up to 3."""
        return min(3, len(self.voters)) or 1

    def config(self) -> str:
        """KRaft configuration: broker and controller in one process; alone, replication factor 1; in a cluster,
        a static quorum of every node's controller, internal topics with 3 replicas (at most the cluster's size),
        min.insync.replicas one less, and a broker fenced 6 s after its last heartbeat (Kafka's default: 9 s)."""
        listeners = [f"PLAINTEXT://{self.host}:{self.port}", f"CONTROLLER://{self.host}:{self.controller_port}"]
        advertised = [f"PLAINTEXT://{self.host}:{self.port}"]
        protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        sasl: list[str] = []
        if self.sasl_port is not None:
            listeners.append(f"SASL_PLAINTEXT://{self.host}:{self.sasl_port}")
            advertised.append(f"SASL_PLAINTEXT://{self.host}:{self.sasl_port}")
            protocols += ",SASL_PLAINTEXT:SASL_PLAINTEXT"
            users = " ".join(f'user_{name}="{password}"' for name, password in self.sasl_users)
            sasl = [
                "sasl.enabled.mechanisms=PLAIN",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config="
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};",
            ]
        if self.voters:
            quorum = [
                "controller.quorum.voters=" + ",".join(f"{i}@{self.host}:{p}" for i, p in enumerate(self.voters, 1))
            ]
            quorum += ["broker.session.timeout.ms=6000", "broker.heartbeat.interval.ms=1000"]
        else:
            quorum = [f"controller.quorum.bootstrap.servers={self.host}:{self.controller_port}"]
        replicas, min_isr = self.replicas, max(1, self.replicas - 1)
        return "\n".join(
            [
                "process.roles=broker,controller",
                f"node.id={self.node_id}",
                *quorum,
                f"listeners={','.join(listeners)}",
                f"advertised.listeners={','.join(advertised)}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                f"listener.security.protocol.map={protocols}",
                *sasl,
                f"log.dirs={self.data_dir}",
                "num.partitions=1",
                f"default.replication.factor={replicas}",
                f"min.insync.replicas={min_isr}",
                f"offsets.topic.replication.factor={replicas}",
                "offsets.topic.num.partitions=4",
                f"transaction.state.log.replication.factor={replicas}",
                f"transaction.state.log.min.isr={min_isr}",
                f"share.coordinator.state.topic.replication.factor={replicas}",
                f"share.coordinator.state.topic.min.isr={min_isr}",
                "auto.create.topics.enable=false",
                "group.initial.rebalance.delay.ms=0",
                "log.cleaner.backoff.ms=1000",
                "",
            ]
        )

    def pid(self) -> int | None:
        """PID of the broker this folder started, if that process still runs a Kafka broker."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return pid if b"kafka.Kafka" in cmdline and str(self.config_file).encode() in cmdline else None

    def version(self) -> str | None:
        """The Apache Kafka version of the fetched jars."""
        jars = sorted(LIBS.glob("kafka_2.13-*.jar"))
        return jars[0].name.removeprefix("kafka_2.13-").removesuffix(".jar") if jars else None

    def start(self, timeout: float = 90.0) -> int:
        """Fetch jars if needed, format storage once, start the broker and wait until it answers metadata."""
        if (pid := self.pid()) is not None:
            return pid
        fetch_jars()
        pid = self.launch(_new_cluster_id())
        self.wait(timeout)
        return pid

    def launch(self, cluster_id: str) -> int:
        """Format storage once (as part of ``cluster_id``), start the broker process if it does not run; its PID.
        Does not wait (a cluster's node answers only once a majority of its quorum runs): see :meth:`wait`."""
        if (pid := self.pid()) is not None:
            return pid
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.config())
        classpath = f"{LIBS}/*"
        if not (self.data_dir / "meta.properties").exists():
            standalone = () if self.voters else ("--standalone",)
            _run_java(
                classpath,
                "kafka.tools.StorageTool",
                "format",
                *standalone,
                "-t",
                cluster_id,
                "-c",
                str(self.config_file),
            )
        log = self.log_file.open("ab")
        proc = subprocess.Popen(
            [
                "java",
                f"-Xmx{self.heap}",
                f"-Xms{self.heap}",
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={KAFKA_DEPLOY / 'log4j2.yaml'}",
                f"-Dkafka.logs.dir={self.home}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(self.config_file),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def wait(self, timeout: float = 90.0, brokers: int = 1) -> None:
        """Wait until the broker answers metadata listing at least ``brokers`` live brokers; stop it and raise
        BrokerError if it exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(self.pid_file):
                raise BrokerError(f"broker {self.node_id} exited:\n{self.log_tail()}")
            if asyncio.run(answers_metadata(self.bootstrap, brokers)):
                return
            time.sleep(0.5)
        self.stop()
        raise BrokerError(
            f"broker {self.node_id} did not answer on {self.bootstrap} with {brokers} live broker(s) within "
            f"{timeout:.0f}s:\n{self.log_tail()}"
        )

    def kill(self) -> bool:
        """SIGKILL the broker this folder started (a crash: no controlled shutdown). True if one was running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGKILL)
        while self.pid() is not None:
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker this folder started (that PID only). True if one was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no broker log)"


@dataclass(frozen=True, slots=True)
class LocalCluster:
    """KRaft nodes on one host, one per broker port, each broker and controller in one process (a static quorum of
    every node's controller); node i (from 1) in ``home/node-i`` on ``ports[i - 1]`` and ``controller_ports[i - 1]``."""

    home: Path = ROOT / ".var" / "kafka" / "cluster"
    host: str = "127.0.0.1"
    ports: tuple[int, ...] = (9092, 9093, 9094)
    controller_ports: tuple[int, ...] = (9095, 9096, 9097)
    heap: str = CLUSTER_HEAP

    @classmethod
    def from_env(cls, size: int = 3) -> LocalCluster:
        """``size`` nodes where :meth:`LocalBroker.from_env` says: in its home's ``cluster`` folder, broker and
        controller ports counting up from its two (``TIENDO_KAFKA_HEAP`` each, 384m by default)."""
        if size < 2:
            raise BrokerError(f"a cluster needs at least 2 brokers, not {size}")
        one = LocalBroker.from_env()
        ports = tuple(one.port + i for i in range(size))
        controllers = tuple(one.controller_port + i for i in range(size))
        if set(ports) & set(controllers):
            raise BrokerError(
                f"{size} broker ports from {one.port} overlap the controller ports from {one.controller_port}"
            )
        return cls(
            one.home / "cluster", one.host, ports, controllers, os.environ.get("TIENDO_KAFKA_HEAP", CLUSTER_HEAP)
        )

    @property
    def size(self) -> int:
        return len(self.ports)

    @property
    def nodes(self) -> tuple[LocalBroker, ...]:
        return tuple(
            LocalBroker(
                home=self.home / f"node-{i + 1}",
                host=self.host,
                port=port,
                controller_port=self.controller_ports[i],
                heap=self.heap,
                node_id=i + 1,
                voters=self.controller_ports,
            )
            for i, port in enumerate(self.ports)
        )

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def node(self, node_id: int) -> LocalBroker:
        """The node with this id (from 1)."""
        return self.nodes[node_id - 1]

    def pids(self) -> dict[int, int | None]:
        """Node id → PID of its broker process, None when it does not run."""
        return {node.node_id: node.pid() for node in self.nodes}

    def cluster_id(self) -> str:
        """The cluster's id, made once and kept in ``home/cluster.id`` (every node's storage is formatted with it)."""
        path = self.home / "cluster.id"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(_new_cluster_id())
        return path.read_text().strip()

    def start(self, timeout: float = 120.0) -> dict[int, int]:
        """Start every node that does not run and wait until each answers metadata listing all ``size`` brokers
        (each registered with, and heartbeating to, the quorum's active controller: the quorum is up)."""
        fetch_jars()
        cluster_id = self.cluster_id()
        pids = {node.node_id: node.launch(cluster_id) for node in self.nodes}
        self.wait(timeout)
        return pids

    def start_node(self, node_id: int, timeout: float = 120.0) -> int:
        """Start one node again (its storage is formatted already) and wait until the cluster is whole."""
        pid = self.node(node_id).launch(self.cluster_id())
        self.wait(timeout)
        return pid

    def wait(self, timeout: float = 120.0) -> None:
        """Wait until every node answers metadata listing all ``size`` brokers; BrokerError after ``timeout``."""
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            node.wait(max(1.0, deadline - time.monotonic()), brokers=self.size)

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM every node at once (so the last ones need no quorum to shut down), SIGKILL any still running
        after ``timeout``. True if any was running."""
        running = {node: pid for node in self.nodes if (pid := node.pid()) is not None}
        for pid in running.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(node.pid() is not None for node in running):
            time.sleep(0.2)
        for node in running:
            node.kill()
        for node in self.nodes:
            node.pid_file.unlink(missing_ok=True)
        return bool(running)

    async def under_replicated(self) -> dict[str, list[int]]:
        """Topic → its partitions whose in-sync replicas are fewer than their replicas (or that have no leader),
        from the metadata of any node that answers; {} when every partition is fully replicated."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
        await admin.start()
        try:
            topics = await admin.describe_topics()
        finally:
            await admin.close()
        out: dict[str, list[int]] = {}
        for topic in topics:
            for p in topic["partitions"]:
                if p["leader"] < 0 or set(p["isr"]) != set(p["replicas"]):
                    out.setdefault(topic["topic"], []).append(p["partition"])
        return out

    def wait_replicated(self, timeout: float = 120.0) -> None:
        """Wait until every partition of every topic has all its replicas in sync (BrokerError after ``timeout``):
        what a rolling restart waits for before it stops the next node."""
        deadline = time.monotonic() + timeout
        behind: dict[str, list[int]] = {}
        while time.monotonic() < deadline:
            try:
                behind = asyncio.run(self.under_replicated())
            except Exception as exc:  # a node still starting: ask again
                behind = {f"(no metadata: {exc!r})": []}
            if not behind:
                return
            time.sleep(0.5)
        raise BrokerError(f"partitions still under-replicated after {timeout:.0f}s: {behind}")


def _alive(pid_file: Path) -> bool:
    """Whether the process in ``pid_file`` exists and has not exited (right after its start its command line may
    still be empty, so this does not look at it)."""
    try:
        stat = Path(f"/proc/{int(pid_file.read_text().strip())}/stat").read_text()
    except (OSError, ValueError):
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _new_cluster_id() -> str:
    return str(uuid.uuid4()).replace("-", "")[:22]


def fetch_jars() -> None:
    """Copy the broker's jars from Maven Central into the git-ignored cache, once."""
    try:
        subprocess.run([str(KAFKA_DEPLOY / "fetch-jars.sh"), str(LIBS)], check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        raise BrokerError(f"fetching Kafka jars failed: {exc.stderr.decode(errors='replace')[-2000:]}") from exc


def _run_java(classpath: str, main: str, *args: str) -> None:
    proc = subprocess.run(["java", "-cp", classpath, main, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BrokerError(f"{main} failed: {(proc.stderr or proc.stdout)[-2000:]}")


async def answers_metadata(bootstrap: str, brokers: int = 1) -> bool:
    """True when a broker at ``bootstrap`` answers a metadata request listing at least ``brokers`` live brokers."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # connection refusals are expected while the broker starts
    try:
        await client.bootstrap()
        return len(client.cluster.brokers()) >= brokers
    except Exception:
        return False
    finally:
        await client.close()
        quiet.setLevel(level)
