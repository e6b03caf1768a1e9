"""The Grafana dashboards: generated from scripts/make-dashboards.py, well-formed for Grafana (panel types, the
provisioned datasource, ids, grid, template variables), and every query of every panel answering with data from
a real pipeline: ingest, aggregate and alert workers on the session broker fed the 2024 sample feeds and plans,
scraped by a real Prometheus running deploy/prometheus's rules, alerts delivered to a real Alertmanager."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from services.demo.replay import replay, timeline
from shared.config import KafkaSettings
from shared.topics import PROJECT_TOPICS, TopicSpec, ensure_topics
from tests.conftest import free_port
from tests.workers import ROOT, Worker

pytestmark = pytest.mark.kafka

DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
FEEDS = ROOT / "deploy" / "samples" / "feeds-2024"
PLANS = ROOT / "deploy" / "plans" / "example-2024.yaml"
DATASOURCE = {"type": "prometheus", "uid": "tiendo-prometheus"}
PANEL_TYPES = {"timeseries", "stat", "table", "bargauge", "gauge"}
#: Grafana's global variables, with the values the test gives them (a 1 s scrape interval).
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}
VARIABLE = re.compile(r"\$\{(\w+)(?::[\w]+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def generator() -> Any:
    spec = importlib.util.spec_from_file_location("make_dashboards", ROOT / "scripts" / "make-dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS.glob("*.json"))}


def targets(dashboard: dict) -> Iterator[tuple[dict, dict]]:
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield panel, target


def referenced(text: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in VARIABLE.finditer(text)}


def substitute(text: str, values: dict[str, str]) -> str:
    def one(m: re.Match) -> str:
        name = next(g for g in m.groups() if g)
        if name in BUILTINS:
            return BUILTINS[name]
        assert name in values, f"unknown variable ${name} in {text!r}"
        return values[name]

    return VARIABLE.sub(one, text)


# --- the JSON, without a pipeline ---------------------------------------------------------------------------------


def test_committed_dashboards_are_the_generators_output() -> None:
    rendered = generator().render_all()
    assert set(rendered) == {"provincial-progress.json", "alerts.json", "pipeline-health.json"}
    assert {p.name for p in DASHBOARDS.glob("*.json")} == set(rendered)
    for name, text in rendered.items():
        assert (DASHBOARDS / name).read_text(encoding="utf-8") == text, (
            f"{name} is out of date: run python scripts/make-dashboards.py"
        )
    assert generator().render_all() == rendered, "the generator is deterministic"


def test_dashboards_follow_grafana_rules() -> None:
    uids = set()
    for name, dash in load_dashboards().items():
        assert dash["schemaVersion"] == 39, name
        assert dash["uid"] and dash["uid"] not in uids and len(dash["uid"]) <= 40, name
        uids.add(dash["uid"])
        assert dash["title"] and dash["panels"], name
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        for var in variables.values():
            assert var["type"] == "query" and var["datasource"] == DATASOURCE, (name, var["name"])
            assert var["definition"] == var["query"]["query"].strip(), (name, var["name"])
            assert re.fullmatch(r"label_values\((.+), (\w+)\)", var["definition"]), (name, var["name"])
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids), name
        cells: dict[tuple[int, int], int] = {}
        for panel in dash["panels"]:
            where = (name, panel["id"], panel["title"])
            assert panel["type"] in PANEL_TYPES, where
            assert panel["datasource"] == DATASOURCE, where
            assert panel["title"] and panel["description"], where
            grid = panel["gridPos"]
            assert set(grid) == {"h", "w", "x", "y"} and all(isinstance(v, int) for v in grid.values()), where
            assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] >= 0 and grid["y"] >= 0, where
            assert grid["x"] + grid["w"] <= 24, where
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, f"{where} overlaps panel {cells[x, y]}"
                    cells[x, y] = panel["id"]
            refs = [t["refId"] for t in panel["targets"]]
            assert refs and len(refs) == len(set(refs)), where
            for target in panel["targets"]:
                assert target["datasource"] == DATASOURCE and target["expr"].strip(), where
                unknown = referenced(target["expr"] + target.get("legendFormat", "")) - set(variables) - set(BUILTINS)
                assert not unknown, f"{where} uses undefined variables {unknown}"
        for var in variables.values():  # and every variable is used by something
            uses = [t["expr"] for _, t in targets(dash)] + [v["definition"] for v in variables.values()]
            assert any(var["name"] in referenced(u) for u in uses), (name, var["name"])


def test_datasource_is_provisioned_with_the_panels_uid() -> None:
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "tiendo.yml").read_text())["datasources"]
    assert [(s["uid"], s["type"]) for s in sources] == [(DATASOURCE["uid"], DATASOURCE["type"])]
    providers = yaml.safe_load((provisioning / "dashboards" / "tiendo.yml").read_text())["providers"]
    assert [p["type"] for p in providers] == ["file"]


# --- the queries, against a real pipeline -------------------------------------------------------------------------


class Prometheus:
    """A real Prometheus (Debian's /usr/bin/prometheus) with the repository's rules and a test scrape config."""

    def __init__(self, tmp_path: Path, jobs: dict[str, int], alertmanager_port: int) -> None:
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        if not Path(binary).exists():
            pytest.fail("prometheus is not installed: run scripts/setup.sh --monitoring")
        config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
        config["global"].update(scrape_interval="1s", evaluation_interval="1s")
        config["rule_files"] = [str(PROMETHEUS_DIR / f) for f in config["rule_files"]]
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{alertmanager_port}"]
        scrapes = [c for c in config["scrape_configs"] if c["job_name"] in jobs]
        assert len(scrapes) == len(jobs) == 3
        for scrape in scrapes:
            scrape["static_configs"] = [{"targets": [f"127.0.0.1:{jobs[scrape['job_name']]}"]}]
        config["scrape_configs"] = scrapes
        path = tmp_path / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.log = tmp_path / "prometheus.log"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={path}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_http(f"http://127.0.0.1:{self.port}/-/ready", self.proc, self.log)

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params, doseq=True)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
        assert body["status"] == "success", f"{path} {params}: {body.get('errorType')}: {body.get('error')}"
        return body["data"]

    def query(self, expr: str) -> list:
        data = self.api("query", query=expr)
        return data["result"] if data["resultType"] in ("vector", "matrix") else [data["result"]]

    def value(self, expr: str) -> float:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else 0.0

    def label_values(self, definition: str) -> list[str]:
        """Grafana's ``label_values(selector, label)``, through the series API as Grafana does it."""
        m = re.fullmatch(r"label_values\((.+), (\w+)\)", definition)
        assert m, definition
        series = self.api("series", **{"match[]": m.group(1), "start": str(time.time() - 3600)})
        return sorted({s[m.group(2)] for s in series if m.group(2) in s})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url}: process exited {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready in {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")


def start_alertmanager(tmp_path: Path) -> tuple[subprocess.Popen, int, Path]:
    """A real Alertmanager that accepts the alert worker's deliveries and routes them nowhere."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        pytest.fail("Alertmanager is not installed: run scripts/setup.sh --monitoring")
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump({"route": {"receiver": "nowhere"}, "receivers": [{"name": "nowhere"}]}))
    port, log = free_port(), tmp_path / "alertmanager.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'alertmanager'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_http(f"http://127.0.0.1:{port}/-/ready", proc, log)
    return proc, port, log


def eventually(check, timeout: float, explain) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(explain())
        time.sleep(1)


@pytest.fixture
async def pipeline(kafka_settings: KafkaSettings, unique: str, tmp_path: Path):
    """Workers, Alertmanager and Prometheus, with the sample feeds replayed and the example plans loaded."""
    bootstrap = kafka_settings.bootstrap_servers
    namespace = f"t{unique}."
    messages = timeline(FEEDS, topic_prefix=namespace)
    feed_topics = sorted({m.topic for m in messages})
    assert feed_topics[0] == f"{namespace}feed.bac-giang"
    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap), [TopicSpec(t, 1) for t in feed_topics])
    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap, namespace=namespace), PROJECT_TOPICS)

    alertmanager, am_port, _ = start_alertmanager(tmp_path)
    env = {
        "TIENDO_BOOTSTRAP_SERVERS": bootstrap,
        "TIENDO_NAMESPACE": namespace,
        "TIENDO_DATA_DIR": str(tmp_path / "state"),
        "TIENDO_METADATA_MAX_AGE_MS": "2000",
    }
    ports = {name: free_port() for name in ("ingest", "aggregate", "alert")}
    workers = {
        "ingest": Worker(
            "ingest", {**env, "TIENDO_TOPIC_PATTERN": rf"t{unique}\.feed\..*"}, tmp_path / "ingest.log", ports["ingest"]
        ),
        "aggregate": Worker("aggregate", env, tmp_path / "aggregate.log", ports["aggregate"]),
        "alert": Worker(
            "alert",
            {
                **env,
                "TIENDO_CLOCK": "event",
                "TIENDO_EVALUATE_INTERVAL_S": "2",
                "TIENDO_RESEND_INTERVAL_S": "5",
                "TIENDO_ALERTMANAGER_URLS": f"http://127.0.0.1:{am_port}",
            },
            tmp_path / "alert.log",
            ports["alert"],
        ),
    }
    prometheus = None
    try:
        for worker in workers.values():
            worker.start()
        await asyncio.gather(*(asyncio.to_thread(w.wait_ready) for w in workers.values()))
        loaded = subprocess.run(
            [sys.executable, "-m", "services", "plans", "load", str(PLANS)],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
        prometheus = Prometheus(tmp_path, {f"tiendo-{n}": p for n, p in ports.items()}, am_port)
        sent = await replay(KafkaSettings(bootstrap_servers=bootstrap), messages, speed=None)
        yield prometheus, workers, sent
    finally:
        if prometheus is not None:
            prometheus.stop()
        for worker in workers.values():
            worker.stop()
        alertmanager.terminate()
        alertmanager.wait(30)


async def test_every_panel_query_returns_data(pipeline) -> None:
    prometheus, workers, sent = pipeline

    wanted = {
        'sum(tiendo_ingest_events_total{job="tiendo-ingest"})': lambda v: v == sent,
        "count(tiendo_aggregate_year_to_date)": lambda v: v > 0,
        "count(tiendo_alert_progress_ratio)": lambda v: v > 0,
        "sum(tiendo_alert_transitions_total)": lambda v: v > 0,
        'sum(tiendo_alert_deliveries_total{receiver="alertmanager", outcome="success"})': lambda v: v > 0,
        'count(up{job=~"tiendo-.+"} == 1)': lambda v: v == 3,
        # The alert worker's own lag and latency (the pipeline panels show them per worker).
        'count(tiendo:consumer_lag_messages:sum{job="tiendo-alert"})': lambda v: v == 1,
        'count(tiendo:processing_latency_seconds:p99_rate1m{job="tiendo-alert"})': lambda v: v == 1,
        "sum(tiendo_alert_processing_latency_seconds_count)": lambda v: v > 0,
    }

    def processed() -> bool:
        return all(ok(prometheus.value(expr)) for expr, ok in wanted.items())

    def explain() -> str:
        values = "\n".join(f"{expr} = {prometheus.value(expr)}" for expr in wanted)
        tails = "\n".join(f"--- {n}:\n{w.tail(1500)}" for n, w in workers.items())
        return f"Prometheus never saw the whole pipeline's data ({sent} events sent):\n{values}\n{tails}"

    await asyncio.to_thread(eventually, processed, 240, explain)
    # Enough samples for every rate window and a few rounds of the recording rules.
    await asyncio.sleep(5)

    problems = []
    checked = 0
    chosen_all = {}
    for name, dash in load_dashboards().items():
        variables = dash["templating"]["list"]
        chosen: dict[str, str] = {}
        chosen_all[name] = chosen
        for var in variables:  # in order: later variables' queries use the earlier ones
            options = prometheus.label_values(substitute(var["definition"], chosen))
            if not options:
                problems.append(f"{name}: variable ${var['name']} has no values: {var['definition']}")
                options = [".*"]
            chosen[var["name"]] = options[0]
        all_selected = {var["name"]: var["allValue"] for var in variables}
        for panel, target in targets(dash):
            for values in (chosen, all_selected):
                expr = substitute(target["expr"], values)
                checked += 1
                try:
                    result = prometheus.query(expr)
                except AssertionError as exc:
                    problems.append(f"{name} / {panel['title']} [{target['refId']}]: error {exc}")
                    continue
                if not result:
                    problems.append(f"{name} / {panel['title']} [{target['refId']}]: no data for {expr}")
    assert not problems, f"variables chosen: {chosen_all}\n" + "\n".join(problems)
    assert checked == 2 * sum(len(list(targets(d))) for d in load_dashboards().values()) >= 70

    # Every metric family a worker registers is set by it: none is exposed without samples after this traffic.
    for name, worker in workers.items():
        status, body = await asyncio.to_thread(worker.get, "/metrics")
        assert status == 200
        families = list(text_string_to_metric_families(body.decode()))
        assert len(families) > 5, name
        unset = sorted(f.name for f in families if not f.samples)
        assert not unset, f"{name} registers metrics it never sets: {unset}"
