"""deploy/compose.yaml and the Dockerfile: well-formed, every mounted path present, ports unique and agreeing with
the workers' settings and with the Prometheus scrape targets of the compose variant."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from services.aggregate.settings import AggregateSettings
from services.alert.settings import AlertSettings
from services.ingest.settings import IngestSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
WORKERS = {
    "ingest": IngestSettings.model_fields["web_port"].default,
    "aggregate": AggregateSettings.model_fields["web_port"].default,
    "alert": AlertSettings.model_fields["web_port"].default,
}


def published(service: dict) -> list[tuple[int, int]]:
    """(host port, container port) of each ``[ip:]host:container`` mapping."""
    out = []
    for mapping in service.get("ports", []):
        *_, host, container = str(mapping).split(":")
        out.append((int(host), int(container.split("/")[0])))
    return out


def test_every_service_has_an_image_or_a_build() -> None:
    assert {"kafka", "ingest", "aggregate", "alert", "prometheus", "alertmanager", "grafana"} <= set(SERVICES)
    for name, service in SERVICES.items():
        assert service.get("image") or service.get("build"), name
        if "build" in service:
            context = (DEPLOY / service["build"]["context"]).resolve()
            assert (context / service["build"].get("dockerfile", "Dockerfile")).is_file(), name
    assert SERVICES["kafka"]["image"] == "apache/kafka:4.1.1"


def test_kafka_is_a_single_kraft_node() -> None:
    env = SERVICES["kafka"]["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")
    assert node == str(env["KAFKA_NODE_ID"]) and voter.startswith("kafka:")
    assert "INTERNAL://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1


def test_host_ports_are_unique() -> None:
    hosts = [host for service in SERVICES.values() for host, _ in published(service)]
    assert len(hosts) == len(set(hosts)), hosts


def test_workers_match_their_settings() -> None:
    for name, port in WORKERS.items():
        service = SERVICES[name]
        assert service["build"]["context"] == ".." and service["command"] == [name]
        env = service["environment"]
        assert env["TIENDO_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["TIENDO_WEB_HOST"] == "0.0.0.0"
        assert int(env.get("TIENDO_WEB_PORT", port)) == port
        assert published(service) == [(port, port)], name
        assert f"127.0.0.1:{port}/health" in " ".join(service["healthcheck"]["test"]), name
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert SERVICES["alert"]["environment"]["TIENDO_ALERTMANAGER_URLS"] == "http://alertmanager:9093"


def test_mounted_host_paths_exist() -> None:
    named = set(COMPOSE.get("volumes") or {})
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in named, f"{name}: undeclared volume {source}"


def test_prometheus_scrapes_the_compose_workers() -> None:
    command = " ".join(SERVICES["prometheus"]["command"])
    config_in_container = re.search(r"--config.file=(\S+)", command).group(1)
    mount = next(v for v in SERVICES["prometheus"]["volumes"] if v.startswith("./prometheus:"))
    config_path = DEPLOY / "prometheus" / Path(config_in_container).relative_to(mount.split(":")[1])
    assert config_path.name == "prometheus-compose.yml"
    config = yaml.safe_load(config_path.read_text())
    targets = {c["job_name"]: c["static_configs"][0]["targets"] for c in config["scrape_configs"]}
    for name, port in WORKERS.items():
        assert targets[f"tiendo-{name}"] == [f"{name}:{port}"]
    for rules in config["rule_files"]:
        assert (config_path.parent / rules).is_file()
    am_port = published(SERVICES["alertmanager"])[0][1]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [f"alertmanager:{am_port}"]


def test_grafana_provisioning_matches_the_mounts() -> None:
    grafana = SERVICES["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/tiendo.yml").read_text())["providers"]
    assert mounts[providers[0]["options"]["path"]] == "./grafana/dashboards"
    source = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/tiendo.yml").read_text())["datasources"][0]
    prometheus_port = published(SERVICES["prometheus"])[0][1]
    assert source["url"] == f"http://prometheus:{prometheus_port}"


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "\nFROM python:3.11-slim\n" in text
    assert re.search(r"^RUN pip install \.", text, re.M)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^EXPOSE 6066 6067 6068$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["tiendo"\]$', text, re.M)
    for source in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path
