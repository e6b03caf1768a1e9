"""deploy/alertmanager/alertmanager.yml: valid for amtool, routes by severity, inhibits warnings by criticals of the
same rule, a no-report warning by a stale feed and a forecast shortfall by the same plan's behind-plan alert; holds
warnings outside office hours and on Vietnamese holidays (Asia/Ho_Chi_Minh) while criticals page.

The routing and inhibition are checked twice: statically with ``amtool config routes test`` and live, with a
real Alertmanager running the file (receiver URLs pointed at a webhook recorder, timings shortened).
"""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.alertmanager import AMTOOL, running_alertmanager
from tests.workers import ROOT

CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
PLACEHOLDER = "http://127.0.0.1:5001/"


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AMTOOL), *args], capture_output=True, text=True, timeout=30, check=False)


def test_amtool_check_config_passes() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "3 inhibit rules" in result.stdout and "2 receivers" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=TiendoBehindPlan", "severity=critical", "province=20"], "oncall-critical"),
        (["alertname=TiendoFeedStale", "severity=warning", "province=24"], "oncall-warning"),
        (["alertname=TiendoNoReport", "severity=warning", "province=24", "plan_year=2025"], "oncall-warning"),
        (["alertname=TiendoImplausibleFigure", "severity=warning", "province=24"], "oncall-warning"),
        (["alertname=TiendoForecastShortfall", "severity=warning", "province=20"], "oncall-warning"),
        (["alertname=TiendoAlertDeliveryFailing", "severity=critical"], "oncall-critical"),
        (["alertname=Unexpected", "severity=info"], "oncall-warning"),
    ],
)
def test_routes_by_severity(labels: list[str], receiver: str) -> None:
    result = amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [receiver]


def test_config_shape() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    route = config["route"]
    assert route["group_by"] == ["alertname", "province"]
    critical, warning = route["routes"]
    assert (critical["receiver"], warning["receiver"]) == ("oncall-critical", "oncall-warning")
    seconds = {"s": 1, "m": 60, "h": 3600}

    def duration(text: str) -> int:
        return int(text[:-1]) * seconds[text[-1]]

    for key in ("group_wait", "repeat_interval"):
        assert duration(critical[key]) < duration(warning[key]), f"critical pages sooner and more often: {key}"
    same_rule, stale_mutes_no_report, behind_mutes_shortfall = config["inhibit_rules"]
    assert same_rule["equal"] == ["alertname", "province", "indicator"]
    assert stale_mutes_no_report["equal"] == ["province", "indicator"]
    assert behind_mutes_shortfall["equal"] == ["province", "indicator", "plan_basis", "plan_year"]
    # Warnings only in office hours and never on a holiday; criticals at any time.
    assert (warning["active_time_intervals"], warning["mute_time_intervals"]) == (
        ["office-hours"],
        ["vietnam-holidays"],
    )
    assert "active_time_intervals" not in critical and "mute_time_intervals" not in critical
    intervals = {i["name"]: i["time_intervals"] for i in config["time_intervals"]}
    assert intervals["office-hours"] == [
        {
            "weekdays": ["monday:friday"],
            "times": [{"start_time": "08:00", "end_time": "17:00"}],
            "location": "Asia/Ho_Chi_Minh",
        }
    ]
    assert {"years": ["2025"], "months": ["january"], "days_of_month": ["29"], "location": "Asia/Ho_Chi_Minh"} in (
        intervals["vietnam-holidays"]
    ), "Tết 2025"
    urls = [w["url"] for r in config["receivers"] for w in r["webhook_configs"]]
    assert urls and all(u.startswith(PLACEHOLDER) for u in urls), "receivers are documented 127.0.0.1 placeholders"


def _live_config(webhook: str, *, office_hours: bool = False) -> str:
    """The project's file with its receivers pointed at the recorder (same paths) and 1 s timings; warnings are
    held by the time intervals only with ``office_hours`` (the office then never open: an empty day)."""
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    for route in (config["route"], *config["route"]["routes"]):
        route.update(group_wait="1s", group_interval="1s")
        if not office_hours:
            route.pop("active_time_intervals", None)
            route.pop("mute_time_intervals", None)
    for interval in config["time_intervals"]:
        if interval["name"] == "office-hours":
            interval["time_intervals"] = [{"years": ["2000"]}]  # closed now
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = hook["url"].replace(PLACEHOLDER, webhook)
    return yaml.safe_dump(config, allow_unicode=True, sort_keys=False)


def _alert(severity: str, alertname: str = "TiendoBehindPlan", **labels: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {"labels": {"alertname": alertname, "severity": severity, **labels}, "startsAt": now}


def test_live_routing_and_inhibition(tmp_path: Path) -> None:
    with running_alertmanager(tmp_path, _live_config("{webhook}")) as (manager, webhook):
        # A critical for Lạng Sơn's disbursement (central plan) and a stale feed for Bắc Giang's new jobs first, so
        # the inhibitor knows them...
        manager.post_alerts(
            [
                _alert("critical", province="20", indicator="public_investment_disbursed"),
                _alert("warning", "TiendoFeedStale", province="24", indicator="new_jobs"),
            ]
        )
        webhook.wait_for(lambda ns: len(ns) >= 2, timeout=20, describe=manager.tail)
        # ...then warnings: the same rule, province and indicator (provincial plan) is muted; another indicator of
        # the same province, another province and another rule (the feed gone silent while behind) are not; a
        # critical without those labels mutes nothing; the stale feed mutes the same series' no-report warning.
        manager.post_alerts(
            [
                _alert("warning", province="20", indicator="public_investment_disbursed", plan_basis="provincial"),
                _alert("warning", "TiendoFeedStale", province="20", indicator="public_investment_disbursed"),
                _alert("warning", "TiendoNoReport", province="24", indicator="new_jobs", plan_year="2025"),
                _alert("warning", "TiendoNoReport", province="24", indicator="new_enterprises", plan_year="2025"),
                _alert("warning", province="20", indicator="import_export_value"),
                _alert("warning", province="24", indicator="public_investment_disbursed"),
                {**_alert("critical"), "labels": {"alertname": "TiendoWorkerDown", "severity": "critical"}},
                {**_alert("warning"), "labels": {"alertname": "TiendoConsumerLag", "severity": "warning"}},
            ]
        )
        webhook.wait_for(lambda ns: len(ns) >= 7, timeout=20, describe=manager.tail)
        time.sleep(2)  # let any wrongly uninhibited warning arrive

        def received(path: str) -> set[tuple[str, ...]]:
            return {
                (a["labels"]["alertname"], a["labels"].get("province", ""), a["labels"].get("indicator", ""))
                for n in webhook.notifications(path)
                for a in n["alerts"]
            }

        assert received("/tiendo/critical") == {
            ("TiendoBehindPlan", "20", "public_investment_disbursed"),
            ("TiendoWorkerDown", "", ""),
        }
        assert received("/tiendo/warning") == {
            ("TiendoBehindPlan", "20", "import_export_value"),
            ("TiendoBehindPlan", "24", "public_investment_disbursed"),
            ("TiendoFeedStale", "20", "public_investment_disbursed"),
            ("TiendoFeedStale", "24", "new_jobs"),
            ("TiendoNoReport", "24", "new_enterprises"),
            ("TiendoConsumerLag", "", ""),
        }
        muted = sorted(
            (a["labels"]["alertname"], a["labels"]["indicator"], a["labels"].get("plan_basis", ""))
            for a in manager.alerts()
            if a["status"]["inhibitedBy"]
        )
        assert muted == [
            ("TiendoBehindPlan", "public_investment_disbursed", "provincial"),
            ("TiendoNoReport", "new_jobs", ""),
        ]
        # One notification per rule and province.
        groups = [n["groupLabels"] for n in webhook.notifications("/tiendo/warning")]
        assert {"alertname": "TiendoBehindPlan", "province": "24"} in groups


def test_live_warnings_wait_for_office_hours_criticals_page(tmp_path: Path) -> None:
    with running_alertmanager(tmp_path, _live_config("{webhook}", office_hours=True)) as (manager, webhook):
        manager.post_alerts(
            [
                _alert("warning", "TiendoForecastShortfall", province="20", indicator="public_investment_disbursed"),
                _alert("critical", province="24", indicator="public_investment_disbursed"),
            ]
        )
        webhook.wait_for(lambda ns: len(ns) >= 1, timeout=20, describe=manager.tail)
        time.sleep(3)  # a held warning would have gone with the next group interval
        assert [n["alerts"][0]["labels"]["province"] for n in webhook.notifications("/tiendo/critical")] == ["24"]
        assert webhook.notifications("/tiendo/warning") == [], "outside office hours: held"
        assert {a["labels"]["alertname"] for a in manager.alerts()} == {"TiendoForecastShortfall", "TiendoBehindPlan"}
