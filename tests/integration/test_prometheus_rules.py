"""The Prometheus configuration and rules in deploy/prometheus: promtool's checks and unit tests, and that every
alerting rule is complete (severity, annotations, runbook) and unit-tested both firing and not firing."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
CONFIGS = ("prometheus.yml", "prometheus-compose.yml")
RUNBOOK = (PROMETHEUS.parents[1] / "docs" / "runbook.md").read_text()


def promtool(*args: str) -> str:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is not installed: run scripts/setup.sh --monitoring (Debian package prometheus)")
    proc = subprocess.run([tool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"promtool {' '.join(args)} exited {proc.returncode}:\n{output}"
    return output


def alerting_rules() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


@pytest.mark.parametrize("config", CONFIGS)
def test_config_is_valid(config: str) -> None:
    out = promtool("check", "config", config)
    assert "SUCCESS: 2 rule files found" in out


def test_rules_are_valid() -> None:
    out = promtool("check", "rules", "recording.yml", "alerts.yml")
    assert out.count("SUCCESS") == 2


def test_rule_unit_tests_pass() -> None:
    out = promtool("test", "rules", "tests.yml")
    assert "SUCCESS" in out


def test_every_alert_is_complete() -> None:
    rules = alerting_rules()
    assert {r["alert"] for r in rules} >= {
        "TiendoWorkerDown",
        "TiendoConsumerLagGrowing",
        "TiendoDeadLetterRateHigh",
        "TiendoNoFeedEvents",
    }
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], rule["alert"]
        assert annotations["runbook_url"] == f"docs/runbook.md#{rule['alert'].lower()}", rule["alert"]
        heading = re.compile(rf"^#+ {rule['alert']}$", re.M)
        assert heading.search(RUNBOOK), f"docs/runbook.md has no section for {rule['alert']}"


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    spec = yaml.safe_load((PROMETHEUS / "tests.yml").read_text())
    assert set(spec["rule_files"]) == {"recording.yml", "alerts.yml"}
    firing: set[str] = set()
    silent: set[str] = set()
    for test in spec["tests"]:
        for case in test.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    names = {r["alert"] for r in alerting_rules()}
    assert names - firing == set(), "alerts without a firing case"
    assert names - silent == set(), "alerts without a not-firing case"


def test_worker_jobs_are_the_same_in_every_config() -> None:
    """The alerts and dashboards select on job names: local and compose configs must agree."""
    jobs = []
    for config in CONFIGS:
        parsed = yaml.safe_load((PROMETHEUS / config).read_text())
        assert parsed["rule_files"] == ["recording.yml", "alerts.yml"], config
        jobs.append({c["job_name"] for c in parsed["scrape_configs"] if c["job_name"].startswith("tiendo-")})
    assert jobs[0] == jobs[1] == {"tiendo-ingest", "tiendo-aggregate", "tiendo-alert"}
