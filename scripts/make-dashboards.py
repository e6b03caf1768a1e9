"""Write tiendo's Grafana dashboards (deploy/grafana/dashboards/*.json) from the plain Python below.

Usage: python scripts/make-dashboards.py [--check] [DIRECTORY]   (default: deploy/grafana/dashboards)

The output is deterministic; ``--check`` writes nothing and exits 1 when a committed file differs from what this
script makes (tests/integration/test_dashboards.py does the same). Edit this script, never the JSON.
Panels query the Prometheus datasource provisioned with uid ``tiendo-prometheus``
(deploy/grafana/provisioning/datasources/tiendo.yml) and the recording rules of deploy/prometheus/recording.yml.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "tiendo-prometheus"}
SCHEMA_VERSION = 39
GRID_WIDTH = 24

#: Behind-plan thresholds of the alert worker (TIENDO_THRESHOLDS: warning 0.9, critical 0.75).
RATIO_STEPS = [
    {"color": "red", "value": None},
    {"color": "orange", "value": 0.75},
    {"color": "green", "value": 0.9},
]
PLAN_FILTER = 'province=~"$province", indicator=~"$indicator", plan_basis=~"$basis"'


def target(expr: str, legend: str = "", *, ref: str = "A", instant: bool = False, table: bool = False) -> dict:
    return {
        "datasource": DATASOURCE,
        "refId": ref,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "instant": instant,
        "format": "table" if table else "time_series",
    }


def thresholds(steps: list[dict] | None = None) -> dict:
    return {"mode": "absolute", "steps": steps or [{"color": "green", "value": None}]}


def reduce_options() -> dict:
    return {"calcs": ["lastNotNull"], "fields": "", "values": False}


def timeseries(
    title: str,
    description: str,
    targets: list[dict],
    *,
    unit: str = "short",
    bars: bool = False,
    steps: list[dict] | None = None,
    overrides: list[dict] | None = None,
    min_value: float | None = None,
) -> dict:
    custom: dict[str, Any] = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 80 if bars else 10,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if bars else "none", "group": "A"},
        "thresholdsStyle": {"mode": "dashed" if steps else "off"},
    }
    defaults: dict[str, Any] = {
        "unit": unit,
        "color": {"mode": "palette-classic"},
        "custom": custom,
        "thresholds": thresholds(steps),
    }
    if min_value is not None:
        defaults["min"] = min_value
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(
    title: str,
    description: str,
    targets: list[dict],
    *,
    unit: str = "short",
    steps: list[dict] | None = None,
    mappings: list[dict] | None = None,
    graph: bool = False,
) -> dict:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "targets": targets,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "color": {"mode": "thresholds"},
                "thresholds": thresholds(steps),
                "mappings": mappings or [],
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": reduce_options(),
            "colorMode": "background" if steps else "value",
            "graphMode": "area" if graph else "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "value_and_name",
            "wideLayout": True,
            "showPercentChange": False,
        },
    }


def threshold_field_config(unit: str, steps: list[dict], max_value: float) -> dict:
    """A gauge's or bar gauge's field config: 0 to ``max_value`` in ``unit``, coloured by the threshold steps."""
    return {
        "defaults": {
            "unit": unit,
            "min": 0,
            "max": max_value,
            "color": {"mode": "thresholds"},
            "thresholds": thresholds(steps),
        },
        "overrides": [],
    }


def gauge(title: str, description: str, targets: list[dict], *, unit: str, steps: list[dict], max_value: float) -> dict:
    return {
        "type": "gauge",
        "title": title,
        "description": description,
        "targets": targets,
        "fieldConfig": threshold_field_config(unit, steps, max_value),
        "options": {
            "reduceOptions": reduce_options(),
            "orientation": "auto",
            "showThresholdLabels": False,
            "showThresholdMarkers": True,
            "sizing": "auto",
            "minVizHeight": 75,
            "minVizWidth": 75,
        },
    }


def bargauge(title: str, description: str, targets: list[dict], *, unit: str, steps: list[dict], max_value: float):
    return {
        "type": "bargauge",
        "title": title,
        "description": description,
        "targets": targets,
        "fieldConfig": threshold_field_config(unit, steps, max_value),
        "options": {
            "reduceOptions": reduce_options(),
            "displayMode": "gradient",
            "orientation": "horizontal",
            "valueMode": "color",
            "namePlacement": "left",
            "showUnfilled": True,
            "sizing": "auto",
            "minVizHeight": 16,
            "minVizWidth": 8,
            "maxVizHeight": 300,
        },
    }


def table(
    title: str,
    description: str,
    targets: list[dict],
    *,
    rename: dict[str, str],
    overrides: list[dict],
    sort_by: str,
    hide: tuple[str, ...] = ("Time", "__name__", "job", "instance"),
) -> dict:
    return {
        "type": "table",
        "title": title,
        "description": description,
        "targets": targets,
        "fieldConfig": {
            "defaults": {
                "custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False},
                "color": {"mode": "thresholds"},
                "thresholds": thresholds(),
            },
            "overrides": overrides,
        },
        "options": {
            "showHeader": True,
            "cellHeight": "sm",
            "footer": {"show": False, "reducer": ["sum"], "fields": "", "countRows": False},
            "sortBy": [{"displayName": sort_by, "desc": False}],
        },
        "transformations": [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": dict.fromkeys(hide, True), "renameByName": rename}},
        ],
    }


def column(name: str, *properties: tuple[str, Any]) -> dict:
    return {"matcher": {"id": "byName", "options": name}, "properties": [{"id": k, "value": v} for k, v in properties]}


def query_variable(name: str, label: str, query: str, description: str) -> dict:
    return {
        "name": name,
        "label": label,
        "description": description,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
        "skipUrlSync": False,
    }


def layout(panels: list[tuple[int, int, dict]]) -> list[dict]:
    """Give each (width, height, panel) an id and a gridPos, filling rows of 24 columns left to right."""
    out, x, y, row_height = [], 0, 0, 0
    for n, (w, h, panel) in enumerate(panels, start=1):
        if x + w > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        out.append({"id": n, "gridPos": {"h": h, "w": w, "x": x, "y": y}, "datasource": DATASOURCE, **panel})
        x, row_height = x + w, max(row_height, h)
    return out


def dashboard(uid: str, title: str, description: str, panels: list[tuple[int, int, dict]], variables=()) -> dict:
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["tiendo"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "links": [
            {
                "type": "dashboards",
                "tags": ["tiendo"],
                "title": "tiendo",
                "asDropdown": True,
                "includeVars": False,
                "keepTime": True,
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ],
        "annotations": {"list": []},
        "templating": {"list": list(variables)},
        "panels": layout(panels),
    }


def provincial_progress() -> dict:
    variables = [
        query_variable(
            "province",
            "Province (code)",
            "label_values(tiendo_alert_progress_ratio, province)",
            "Province codes with a plan in force (the code valid in the plan year).",
        ),
        query_variable(
            "indicator",
            "Indicator",
            'label_values(tiendo_alert_progress_ratio{province=~"$province"}, indicator)',
            "Indicators with a plan for the selected provinces.",
        ),
        query_variable(
            "basis",
            "Plan basis",
            'label_values(tiendo_alert_progress_ratio{province=~"$province", indicator=~"$indicator"}, plan_basis)',
            "central (assigned by the Prime Minister) or provincial (the province's own plan).",
        ),
    ]
    series = "{{province}} {{indicator}} ({{plan_basis}})"
    panels = [
        (
            6,
            7,
            stat(
                "Plans behind, by severity",
                "Behind-plan alerts the alert worker holds firing now (warning below 90% of the expected progress, "
                "critical below 75%).",
                [target("tiendo:behind_plan:count", "{{severity}}", instant=True)],
                steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
            ),
        ),
        (
            18,
            7,
            gauge(
                "Progress ratio: year-to-date / expected by now",
                "1 = exactly on the plan's curve. Red below 0.75 (critical), orange below 0.9 (warning).",
                [target(f"tiendo_alert_progress_ratio{{{PLAN_FILTER}}}", series, instant=True)],
                unit="percentunit",
                steps=RATIO_STEPS,
                max_value=1.5,
            ),
        ),
        (
            24,
            9,
            timeseries(
                "Year-to-date against the plan curve (fraction of the yearly target)",
                "Solid: the fraction of the yearly target reached (year-to-date / target). Dashed: the fraction the "
                "plan's curve expects by now.",
                [
                    target(f"tiendo_alert_actual_progress_ratio{{{PLAN_FILTER}}}", f"{series} actual", ref="A"),
                    target(f"tiendo_alert_expected_progress_ratio{{{PLAN_FILTER}}}", f"{series} expected", ref="B"),
                ],
                unit="percentunit",
                min_value=0,
                overrides=[
                    {
                        "matcher": {"id": "byFrameRefID", "options": "B"},
                        "properties": [
                            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                            {"id": "custom.fillOpacity", "value": 0},
                        ],
                    }
                ],
            ),
        ),
        (
            12,
            11,
            bargauge(
                "Provinces ranked by progress ratio",
                "Each province's lowest ratio among the selected indicators and bases, worst first.",
                [
                    target(
                        'sort(min by (province) (tiendo_alert_progress_ratio{indicator=~"$indicator", '
                        'plan_basis=~"$basis"}))',
                        "{{province}}",
                        instant=True,
                    )
                ],
                unit="percentunit",
                steps=RATIO_STEPS,
                max_value=1.5,
            ),
        ),
        (
            12,
            11,
            table(
                "Provinces by severity",
                "Rows coloured by the progress ratio: red critical (< 0.75), orange warning (< 0.9), green on plan.",
                [
                    target(f"tiendo_alert_progress_ratio{{{PLAN_FILTER}}}", ref="A", instant=True, table=True),
                    target(f"tiendo_alert_actual_progress_ratio{{{PLAN_FILTER}}}", ref="B", instant=True, table=True),
                    target(f"tiendo_alert_expected_progress_ratio{{{PLAN_FILTER}}}", ref="C", instant=True, table=True),
                ],
                rename={
                    "Value #A": "ratio",
                    "Value #B": "reached",
                    "Value #C": "expected",
                    "plan_basis": "basis",
                },
                sort_by="ratio",
                overrides=[
                    column(
                        "ratio",
                        ("unit", "percentunit"),
                        ("thresholds", thresholds(RATIO_STEPS)),
                        ("custom.cellOptions", {"type": "color-background", "mode": "basic", "applyToRow": True}),
                    ),
                    column("reached", ("unit", "percentunit")),
                    column("expected", ("unit", "percentunit")),
                ],
            ),
        ),
        (
            12,
            11,
            table(
                "National ranking and year-end projection",
                "Each province's rank by progress (percent of the yearly target at its reading's date, 1 = best) "
                "among every province with the same plan (indicator, year, basis), and its projected year-end "
                "figure / plan with the range (TiendoForecastShortfall fires below 0.9). Ranked on every replica "
                "from the whole totals topic; GET /ranking and /forecast on the alert worker give the details.",
                [
                    target(f"tiendo_alert_progress_rank{{{PLAN_FILTER}}}", ref="A", instant=True, table=True),
                    target(
                        f'tiendo_alert_projected_year_end_ratio{{{PLAN_FILTER}, bound="point"}}',
                        ref="B",
                        instant=True,
                        table=True,
                    ),
                    target(
                        f'tiendo_alert_projected_year_end_ratio{{{PLAN_FILTER}, bound="low"}}',
                        ref="C",
                        instant=True,
                        table=True,
                    ),
                    target(
                        f'tiendo_alert_projected_year_end_ratio{{{PLAN_FILTER}, bound="high"}}',
                        ref="D",
                        instant=True,
                        table=True,
                    ),
                ],
                rename={
                    "Value #A": "rank",
                    "Value #B": "projected",
                    "Value #C": "low",
                    "Value #D": "high",
                    "plan_basis": "basis",
                },
                hide=("Time", "__name__", "job", "instance", "bound"),
                sort_by="rank",
                overrides=[
                    column(
                        "projected",
                        ("unit", "percentunit"),
                        ("thresholds", thresholds(RATIO_STEPS)),
                        ("custom.cellOptions", {"type": "color-background", "mode": "basic"}),
                    ),
                    column("low", ("unit", "percentunit")),
                    column("high", ("unit", "percentunit")),
                ],
            ),
        ),
        (
            12,
            11,
            bargauge(
                "On-time reporting rate",
                "Share of the plan year's expected reports (weekly: Friday; monthly: the month's last day, one "
                "working day more per holiday lost) that arrived by their deadline, lowest first.",
                [
                    target(
                        'sort(tiendo_alert_on_time_report_ratio{province=~"$province", indicator=~"$indicator"})',
                        "{{province}} {{indicator}}",
                        instant=True,
                    )
                ],
                unit="percentunit",
                steps=[
                    {"color": "red", "value": None},
                    {"color": "orange", "value": 0.6},
                    {"color": "green", "value": 0.9},
                ],
                max_value=1,
            ),
        ),
        (
            24,
            9,
            timeseries(
                "Year-to-date value (base unit)",
                "The aggregate worker's year-to-date of the latest quarter per province and indicator, in the "
                "indicator's base unit (VND, USD, ha, count...). Select one indicator to compare like with like.",
                [
                    target(
                        'tiendo_aggregate_year_to_date{province=~"$province", indicator=~"$indicator"}',
                        "{{province}} {{indicator}} ({{base_unit}})",
                    )
                ],
            ),
        ),
    ]
    return dashboard(
        "tiendo-provincial-progress",
        "tiendo / Provincial progress",
        "Year-to-date progress of each province and indicator against its yearly plan curve.",
        panels,
        variables,
    )


def alerts() -> dict:
    variables = [
        query_variable(
            "alertname",
            "Rule",
            "label_values(tiendo_alert_evaluations_total, alertname)",
            "Alert rules of the alert worker.",
        )
    ]
    rule = 'alertname=~"$alertname"'
    panels = [
        (
            12,
            6,
            stat(
                "Firing now, by rule and severity",
                "Alerts the alert worker holds firing (and re-sends to Alertmanager).",
                [target(f"tiendo:alert_firing:sum{{{rule}}}", "{{alertname}} {{severity}}", instant=True)],
                steps=[{"color": "green", "value": None}, {"color": "orange", "value": 1}],
            ),
        ),
        (
            6,
            6,
            stat(
                "Pipeline alerts firing",
                "Prometheus's own pipeline-health alerts (deploy/prometheus/alerts.yml) firing now.",
                [target('count(ALERTS{alertstate="firing", alertname=~"Tiendo.+"}) or vector(0)', "firing")],
                steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
            ),
        ),
        (
            6,
            6,
            stat(
                "Failed deliveries in range",
                "Alert batches a receiver did not accept (retried on the next round).",
                [
                    target(
                        'sum(increase(tiendo_alert_deliveries_total{outcome="failure"}[$__range]))',
                        "failures",
                        instant=True,
                    )
                ],
                steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
            ),
        ),
        (
            24,
            8,
            timeseries(
                "Firing alerts over time",
                "Alerts firing, by rule and severity.",
                [target(f"sum by (alertname, severity) (tiendo_alert_firing{{{rule}}})", "{{alertname}} {{severity}}")],
                min_value=0,
            ),
        ),
        (
            12,
            8,
            timeseries(
                "Transitions",
                "Paging state changes (fired, escalated, deescalated, resolved) per interval.",
                [
                    target(
                        f"sum by (alertname, event) (increase(tiendo_alert_transitions_total{{{rule}}}"
                        "[$__rate_interval]))",
                        "{{alertname}} {{event}}",
                    )
                ],
                bars=True,
                min_value=0,
            ),
        ),
        (
            12,
            8,
            table(
                "Transitions in range",
                "Paging state changes over the dashboard's time range.",
                [
                    target(
                        f"sum by (alertname, event) (increase(tiendo_alert_transitions_total{{{rule}}}[$__range]))",
                        instant=True,
                        table=True,
                    )
                ],
                rename={"Value": "transitions"},
                sort_by="alertname",
                overrides=[column("transitions", ("decimals", 0))],
            ),
        ),
        (
            8,
            8,
            timeseries(
                "Deliveries by receiver and outcome",
                "Alert batches POSTed to Alertmanager (API v2) and the optional webhook, per second.",
                [
                    target(
                        "sum by (receiver, outcome) (rate(tiendo_alert_deliveries_total[$__rate_interval]))",
                        "{{receiver}} {{outcome}}",
                    )
                ],
                unit="reqps",
                min_value=0,
            ),
        ),
        (
            8,
            8,
            timeseries(
                "Delivery latency p99",
                "Time for a receiver to accept one batch of alerts.",
                [
                    target(
                        "histogram_quantile(0.99, sum by (receiver, le) "
                        "(rate(tiendo_alert_delivery_latency_seconds_bucket[$__rate_interval])))",
                        "{{receiver}} p99",
                    )
                ],
                unit="s",
                min_value=0,
            ),
        ),
        (
            8,
            8,
            timeseries(
                "Evaluations by rule",
                "Rule evaluations that produced a state per second (on totals and plan changes, and on the timer).",
                [
                    target(
                        f"sum by (alertname) (rate(tiendo_alert_evaluations_total{{{rule}}}[$__rate_interval]))",
                        "{{alertname}}",
                    )
                ],
                unit="ops",
                min_value=0,
            ),
        ),
    ]
    return dashboard(
        "tiendo-alerts",
        "tiendo / Alerts",
        "Behind-plan and stale-feed alerts: firing now, transitions, deliveries to Alertmanager.",
        panels,
        variables,
    )


def pipeline_health() -> dict:
    worker = "{{job}}"
    panels = [
        (
            8,
            5,
            stat(
                "Workers up",
                "Whether Prometheus can scrape each worker.",
                [target('up{job=~"tiendo-.+"}', "{{job}} {{instance}}", instant=True)],
                steps=[{"color": "red", "value": None}, {"color": "green", "value": 1}],
                mappings=[
                    {
                        "type": "value",
                        "options": {"0": {"text": "DOWN", "index": 0}, "1": {"text": "UP", "index": 1}},
                    }
                ],
            ),
        ),
        (
            4,
            5,
            stat(
                "Pipeline alerts firing",
                "Prometheus alerts of deploy/prometheus/alerts.yml firing now.",
                [target('count(ALERTS{alertstate="firing", alertname=~"Tiendo.+"}) or vector(0)', "firing")],
                steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
            ),
        ),
        (
            6,
            5,
            stat(
                "Uptime",
                "Time since each worker process started.",
                [
                    target(
                        'time() - {__name__=~"tiendo_(ingest|aggregate|alert)_start_time_seconds"}',
                        worker,
                        instant=True,
                    )
                ],
                unit="s",
            ),
        ),
        (
            6,
            5,
            stat(
                "Recovery time (aggregate)",
                "Seconds from the aggregate worker's start until its state was rebuilt from the changelog.",
                [target("tiendo_aggregate_recovery_duration_seconds", "{{instance}}", instant=True)],
                unit="s",
                steps=[
                    {"color": "green", "value": None},
                    {"color": "orange", "value": 60},
                    {"color": "red", "value": 300},
                ],
            ),
        ),
        (
            12,
            8,
            timeseries(
                "Feed events by outcome",
                "Events read from the feed topics per second: accepted, duplicate (dropped), rejected (dead letters).",
                [target("tiendo:ingest_events:rate1m", "{{outcome}}")],
                unit="ops",
                min_value=0,
            ),
        ),
        (
            12,
            8,
            timeseries(
                "Dead letters by reason",
                "Events sent to the dead-letter topic per second, by reason. Inspect with `tiendo dlq show`.",
                [target("tiendo:ingest_rejections:rate1m", "{{reason}}")],
                unit="ops",
                bars=True,
                min_value=0,
            ),
        ),
        (
            12,
            8,
            timeseries(
                "Dead-letter share (10 min)",
                "Share of feed events rejected over 10 minutes; TiendoDeadLetterRateHigh fires above 5%.",
                [target("tiendo:ingest_rejected:ratio_rate10m", worker)],
                unit="percentunit",
                min_value=0,
                steps=[{"color": "green", "value": None}, {"color": "red", "value": 0.05}],
            ),
        ),
        (
            12,
            8,
            timeseries(
                "Consumer lag by worker",
                "Messages not yet processed, summed over each worker's input partitions.",
                [target("tiendo:consumer_lag_messages:sum", worker)],
                min_value=0,
            ),
        ),
        (
            12,
            8,
            timeseries(
                "Processing latency p50 / p99",
                "From the broker receiving an event to the worker's outputs being acknowledged.",
                [
                    target("tiendo:processing_latency_seconds:p50_rate1m", f"{worker} p50", ref="A"),
                    target("tiendo:processing_latency_seconds:p99_rate1m", f"{worker} p99", ref="B"),
                ],
                unit="s",
                min_value=0,
            ),
        ),
        (
            12,
            8,
            timeseries(
                "Aggregate updates by outcome",
                "Updates applied, corrections, duplicates ignored, overflow (series full) and rejected, per second.",
                [target("tiendo:aggregate_updates:rate1m", "{{outcome}}")],
                unit="ops",
                min_value=0,
            ),
        ),
        (
            12,
            8,
            timeseries(
                "State size (keys)",
                "Event ids in the ingest dedupe state (with its limit: new ids beyond it are dead-lettered) and series "
                "in the aggregate state (RocksDB, changelogged).",
                [
                    target("tiendo_ingest_dedupe_keys", "ingest dedupe ids {{instance}}", ref="A"),
                    target("max(tiendo_ingest_dedupe_max_keys)", "ingest dedupe limit", ref="C"),
                    target("tiendo_aggregate_state_keys", "aggregate series {{instance}}", ref="B"),
                ],
                min_value=0,
            ),
        ),
        (
            12,
            8,
            timeseries(
                "Mean batch size",
                "Events per processed batch: large batches mean the worker is catching up.",
                [target("tiendo:batch_size_events:mean_rate1m", worker)],
                min_value=0,
            ),
        ),
        (
            12,
            8,
            timeseries(
                "Accepted events by province",
                "Accepted feed events per second, by province code.",
                [target("tiendo:ingest_province_accepted:rate1m", "{{province}}")],
                unit="ops",
                min_value=0,
            ),
        ),
        (
            12,
            8,
            table(
                "Feed freshness by province",
                "Time since the latest accepted event of each province arrived at the broker.",
                [
                    target(
                        "time() - max by (province) (tiendo_ingest_province_last_event_timestamp_seconds)",
                        instant=True,
                        table=True,
                    )
                ],
                rename={"Value": "since last event"},
                sort_by="since last event",
                overrides=[column("since last event", ("unit", "s"))],
            ),
        ),
        (
            12,
            6,
            timeseries(
                "Quarter totals published",
                "Quarter totals the aggregate worker sent to indicator.totals, per second.",
                [target("rate(tiendo_aggregate_totals_published_total[$__rate_interval])", "{{instance}}")],
                unit="ops",
                min_value=0,
            ),
        ),
        (
            12,
            6,
            timeseries(
                "Corrections",
                "Accepted events that correct an earlier revision, per second.",
                [target("tiendo:ingest_corrections:rate1m", worker)],
                unit="ops",
                min_value=0,
            ),
        ),
    ]
    return dashboard(
        "tiendo-pipeline-health",
        "tiendo / Pipeline health",
        "The three workers: throughput, dead letters, lag, latency, state size and recovery.",
        panels,
    )


DASHBOARDS = {
    "provincial-progress.json": provincial_progress,
    "alerts.json": alerts,
    "pipeline-health.json": pipeline_health,
}


def render_all() -> dict[str, str]:
    """File name → JSON text of every dashboard."""
    return {name: json.dumps(make(), indent=2, ensure_ascii=False) + "\n" for name, make in DASHBOARDS.items()}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    directory = Path(args[0]) if args else DEFAULT
    stale = []
    for name, text in render_all().items():
        path = directory / name
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(path)
    if stale:
        print("out of date (run python scripts/make-dashboards.py):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
