"""deploy/k8s: every manifest valid against the Kubernetes OpenAPI schemas (kubernetes-validate ships them, so this
runs offline), the ServiceMonitor checked by hand (a CRD has no schema there), and the pieces agreeing with each
other and with the code: ports, probes, labels, job names, replicas within partition counts, copied files."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from services.aggregate.settings import AggregateSettings
from services.alert.settings import AlertSettings
from services.ingest.settings import IngestSettings
from shared.topics import TOTALS, UPDATES

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATION = yaml.safe_load((K8S / "kustomization.yaml").read_text())
PORTS = {
    "ingest": IngestSettings.model_fields["web_port"].default,
    "aggregate": AggregateSettings.model_fields["web_port"].default,
    "alert": AlertSettings.model_fields["web_port"].default,
}
#: The oldest and the newest Kubernetes versions whose schemas kubernetes-validate ships.
VERSIONS = (min(kubernetes_validate.utils.all_versions(), key=lambda v: tuple(map(int, v.split(".")))), "latest")


def documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


RESOURCES = {name: documents(K8S / name) for name in KUSTOMIZATION["resources"]}
ALL = [doc for docs in RESOURCES.values() for doc in docs]


def find(kind: str, name: str) -> dict:
    return next(d for d in ALL if d["kind"] == kind and d["metadata"]["name"] == name)


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def test_kustomization_lists_every_manifest() -> None:
    assert KUSTOMIZATION["namespace"] == "tiendo"
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(KUSTOMIZATION["resources"]) == manifests
    for doc in ALL:
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"], doc
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "tiendo", doc["metadata"]["name"]


@pytest.mark.parametrize("version", VERSIONS)
def test_manifests_match_the_kubernetes_schemas(version: str) -> None:
    version = kubernetes_validate.latest_version() if version == "latest" else version
    checked = 0
    for doc in ALL:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: checked in test_service_monitor
        kubernetes_validate.validate(doc, version, strict=True)
        checked += 1
    assert checked == len(ALL) - 1


def test_the_validator_rejects_a_broken_deployment() -> None:
    broken = copy.deepcopy(find("Deployment", "tiendo-ingest"))
    container(broken)["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)
    unknown = copy.deepcopy(find("Deployment", "tiendo-ingest"))
    container(unknown)["livenesProbe"] = container(unknown)["livenessProbe"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(unknown, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("worker", PORTS)
def test_worker_deployment(worker: str) -> None:
    deployment = find("Deployment", f"tiendo-{worker}")
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    main = container(deployment)
    assert main["image"] == "tiendo" and main["args"] == [worker]
    assert main["envFrom"] == [{"configMapRef": {"name": "tiendo-env"}}]
    assert {e["name"]: e["value"] for e in main["env"]}["TIENDO_WEB_PORT"] == str(PORTS[worker])
    assert main["ports"] == [{"name": "http", "containerPort": PORTS[worker], "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert main[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    liveness = main["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 60, "liveness must ride out a rebalance"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(main["resources"][kind]), kind
    assert main["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    env = find("ConfigMap", "tiendo-env")["data"]
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert mounts["state"] == env["TIENDO_DATA_DIR"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert "emptyDir" in volumes["state"]


def test_replicas_within_partition_counts() -> None:
    assert find("Deployment", "tiendo-aggregate")["spec"]["replicas"] <= UPDATES.partitions
    alert = find("Deployment", "tiendo-alert")["spec"]
    assert 2 <= alert["replicas"] <= TOTALS.partitions, "alert replicas share the indicator.totals partitions"


def test_config_map_runs_workers_in_containers() -> None:
    env = find("ConfigMap", "tiendo-env")["data"]
    assert env["TIENDO_WEB_HOST"] == "0.0.0.0"
    assert all(k.startswith("TIENDO_") and isinstance(v, str) for k, v in env.items())
    for name in ("TIENDO_BOOTSTRAP_SERVERS", "TIENDO_ALERTMANAGER_URLS", "TIENDO_DATA_DIR"):
        assert env[name], name


def test_topics_and_workers_replicate_three_times(monkeypatch: pytest.MonkeyPatch) -> None:
    env = find("ConfigMap", "tiendo-env")["data"]
    assert (env["TIENDO_REPLICATION_FACTOR"], env["TIENDO_MIN_INSYNC_REPLICAS"]) == ("3", "2")
    for name in ("Job/tiendo-topics", *(f"Deployment/tiendo-{w}" for w in PORTS)):
        kind, _, resource = name.partition("/")
        (main, *_) = find(kind, resource)["spec"]["template"]["spec"]["containers"]
        assert {"configMapRef": {"name": "tiendo-env"}} in main["envFrom"], name
        assert not {"TIENDO_REPLICATION_FACTOR", "TIENDO_MIN_INSYNC_REPLICAS"} & {
            e["name"] for e in main.get("env", [])
        }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = AggregateSettings()
    assert (settings.replication_factor, settings.min_isr) == (3, 2)


@pytest.mark.parametrize("worker", PORTS)
def test_service_routes_to_the_worker(worker: str) -> None:
    service = find("Service", f"tiendo-{worker}")
    labels = find("Deployment", f"tiendo-{worker}")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"] == [
        {"name": "http", "port": PORTS[worker], "targetPort": "http", "protocol": "TCP"}
    ]


def test_service_monitor() -> None:
    monitor = find("ServiceMonitor", "tiendo")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    spec = monitor["spec"]
    assert set(spec) <= {"jobLabel", "selector", "namespaceSelector", "endpoints"}
    assert spec["namespaceSelector"]["matchNames"] == [KUSTOMIZATION["namespace"]]
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
    assert endpoint["interval"].endswith("s") and int(endpoint["interval"][:-1]) <= 60
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {c["job_name"] for c in prometheus["scrape_configs"] if c["job_name"].startswith("tiendo-")}
    selected = set()
    for service in (d for d in ALL if d["kind"] == "Service"):
        labels = service["metadata"]["labels"]
        if spec["selector"]["matchLabels"].items() <= labels.items():
            assert any(p["name"] == endpoint["port"] for p in service["spec"]["ports"])
            selected.add(labels[spec["jobLabel"]])
    assert selected == jobs, "job labels must be the job names the alert rules and dashboards use"


def test_copied_files_are_current() -> None:
    plans = find("ConfigMap", "tiendo-plans")["data"]
    assert plans == {"example-2024.yaml": (ROOT / "deploy" / "plans" / "example-2024.yaml").read_text()}, (
        "refresh deploy/k8s/plans.yaml from deploy/plans/example-2024.yaml (see deploy/k8s/README.md)"
    )
    rules = find("ConfigMap", "tiendo-prometheus-rules")["data"]
    for name in ("recording.yml", "alerts.yml"):
        assert rules[name] == (ROOT / "deploy" / "prometheus" / name).read_text(), (
            f"refresh deploy/k8s/prometheus-rules.yaml from deploy/prometheus/{name} (see deploy/k8s/README.md)"
        )


def test_jobs_load_the_mounted_plans() -> None:
    job = find("Job", "tiendo-plans-load")["spec"]["template"]["spec"]
    (main,) = job["containers"]
    assert main["args"][:2] == ["plans", "load"]
    (mount,) = main["volumeMounts"]
    volume = next(v for v in job["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "tiendo-plans"
    assert Path(main["args"][2]).parent == Path(mount["mountPath"])
    assert Path(main["args"][2]).name in find("ConfigMap", "tiendo-plans")["data"]
    assert find("Job", "tiendo-topics")["spec"]["template"]["spec"]["containers"][0]["args"] == ["topics", "create"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_build() -> None:
    """What `kubectl apply -k` would send: everything namespaced, the image set, and still schema-valid."""
    proc = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    built = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert len(built) == len(ALL)
    image = KUSTOMIZATION["images"][0]
    for doc in built:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == KUSTOMIZATION["namespace"], doc["metadata"]["name"]
        if doc["kind"] in ("Deployment", "Job"):
            for c in doc["spec"]["template"]["spec"]["containers"]:
                assert c["image"] == f"{image['newName']}:{image['newTag']}"
        if not doc["apiVersion"].startswith("monitoring.coreos.com/"):
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
