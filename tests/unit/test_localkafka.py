"""The local broker's and cluster's configuration, without starting Kafka: one node alone as before, three nodes in
one static quorum with replicated internal topics; the CLI refuses a cluster size it does not run."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services import cli
from services.localkafka import BrokerError, LocalBroker, LocalCluster


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_a_single_broker_is_its_own_quorum_with_one_replica(tmp_path: Path) -> None:
    config = properties(LocalBroker(home=tmp_path, port=1092, controller_port=1095).config())
    assert config["node.id"] == "1"
    assert config["controller.quorum.bootstrap.servers"] == "127.0.0.1:1095"
    assert "controller.quorum.voters" not in config
    assert config["offsets.topic.replication.factor"] == config["default.replication.factor"] == "1"
    assert config["transaction.state.log.min.isr"] == config["min.insync.replicas"] == "1"


def test_cluster_nodes_share_one_static_quorum_and_replicate_internal_topics_three_times(tmp_path: Path) -> None:
    cluster = LocalCluster(home=tmp_path, ports=(2001, 2002, 2003), controller_ports=(3001, 3002, 3003))
    assert cluster.bootstrap == "127.0.0.1:2001,127.0.0.1:2002,127.0.0.1:2003"
    configs = [properties(node.config()) for node in cluster.nodes]
    assert [c["node.id"] for c in configs] == ["1", "2", "3"]
    assert {c["controller.quorum.voters"] for c in configs} == {"1@127.0.0.1:3001,2@127.0.0.1:3002,3@127.0.0.1:3003"}
    assert [c["listeners"] for c in configs] == [
        f"PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}" for p, c in ((2001, 3001), (2002, 3002), (2003, 3003))
    ]
    assert len({c["log.dirs"] for c in configs}) == 3
    for c in configs:
        assert c["process.roles"] == "broker,controller"
        assert c["offsets.topic.replication.factor"] == c["transaction.state.log.replication.factor"] == "3"
        assert c["default.replication.factor"] == "3"
        assert c["min.insync.replicas"] == c["transaction.state.log.min.isr"] == "2"
    assert cluster.node(2).home == tmp_path / "node-2"


def test_cluster_from_env_counts_ports_up_and_refuses_overlaps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIENDO_KAFKA_HOME", str(tmp_path))
    monkeypatch.setenv("TIENDO_KAFKA_PORT", "19092")
    monkeypatch.setenv("TIENDO_KAFKA_CONTROLLER_PORT", "19095")
    cluster = LocalCluster.from_env()
    assert (cluster.home, cluster.ports, cluster.controller_ports) == (
        tmp_path / "cluster",
        (19092, 19093, 19094),
        (19095, 19096, 19097),
    )
    assert cluster.heap == "384m"
    with pytest.raises(BrokerError, match="overlap"):
        LocalCluster.from_env(5)
    with pytest.raises(BrokerError, match="at least 2"):
        LocalCluster.from_env(1)


def test_kafka_start_takes_one_or_three_brokers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIENDO_KAFKA_HOME", str(tmp_path))
    result = CliRunner().invoke(cli.app, ["kafka", "start", "--brokers", "2"])
    assert str(result.exception) == "--brokers must be 1 or 3, not 2"  # one line on stderr from the entry point


def test_kafka_status_without_a_broker_or_cluster_exits_3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIENDO_KAFKA_HOME", str(tmp_path))
    result = CliRunner().invoke(cli.app, ["kafka", "status"])
    assert result.exit_code == 3
    assert f"not running (data {tmp_path})" in result.output
