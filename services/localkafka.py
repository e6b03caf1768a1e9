"""A real single-node Apache Kafka broker (KRaft) run from the jars that deploy/kafka/pom.xml fetches.

``tiendo kafka start|stop|status`` and the test suite's session fixture both use this module.
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

ROOT = Path(__file__).resolve().parents[1]
KAFKA_DEPLOY = ROOT / "deploy" / "kafka"
LIBS = ROOT / ".cache" / "kafka" / "libs"


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

    def config(self) -> str:
        """KRaft single-node configuration: broker and controller in one process, replication factor 1."""
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
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers={self.host}:{self.controller_port}",
                f"listeners={','.join(listeners)}",
                f"advertised.listeners={','.join(advertised)}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                f"listener.security.protocol.map={protocols}",
                *sasl,
                f"log.dirs={self.data_dir}",
                "num.partitions=1",
                "default.replication.factor=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
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
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.config())
        classpath = f"{LIBS}/*"
        if not (self.data_dir / "meta.properties").exists():
            _run_java(
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                str(uuid.uuid4()).replace("-", "")[:22],
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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BrokerError(f"broker exited with code {proc.returncode}:\n{self.log_tail()}")
            if asyncio.run(answers_metadata(self.bootstrap)):
                return proc.pid
            time.sleep(0.5)
        self.stop()
        raise BrokerError(f"broker did not answer on {self.bootstrap} within {timeout:.0f}s:\n{self.log_tail()}")

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


async def answers_metadata(bootstrap: str) -> bool:
    """True when a broker at ``bootstrap`` answers a metadata request."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # connection refusals are expected while the broker starts
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except Exception:
        return False
    finally:
        await client.close()
        quiet.setLevel(level)
