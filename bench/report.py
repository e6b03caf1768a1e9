"""Results: raw numbers to ``bench/results/<date>-<name>.json``, a dated section appended to ``bench/RESULTS.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from bench.common import median

BENCH = Path(__file__).resolve().parent
RESULTS_DIR = BENCH / "results"
RESULTS_MD = BENCH / "RESULTS.md"

HEADER = """# Benchmark results

Written by `.venv/bin/python -m bench run` (what is measured and how: `bench/__init__.py`). Each run appends a
section; the raw numbers of every run are in `bench/results/`. Figures are medians of interleaved repeats. The
machine is shared: the load average at the start and end of each run is given, and CPU time per event (less
sensitive to other load than events/s) is reported next to the throughput.
"""


def save_json(result: dict[str, Any], date: str, name: str) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{date}-{name}.json"
    n = 2
    while path.exists():
        path = RESULTS_DIR / f"{date}-{name}-{n}.json"
        n += 1
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return path


def _n(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:,.0f} ms"


def _load(values: list[float]) -> str:
    return " / ".join(f"{x:.2f}" for x in values)


def markdown(result: dict[str, Any], json_path: Path) -> str:
    m = result["machine"]
    lines = [
        f"## {result['started']} — `{result['name']}`",
        "",
        f"- Machine: {m['nproc']} × {m['cpu_model']}, {m['memory_gb']} GB RAM, Linux {m['kernel']}",
        f"- Versions: Python {m['python']}, faust-streaming {m['faust_streaming']}, aiokafka {m['aiokafka']}, "
        f"Apache Kafka {m['kafka']} ({m['java']}); each benchmark starts its own broker (1 GB heap, same cores)",
        f"- Command: `{result['command']}`"
        + (f" (worker environment: {result['worker_env']})" if result.get("worker_env") else ""),
        f"- Load average (1/5/15 min) at start: {_load(result['load_start'])} · at end: {_load(result['load_end'])} "
        f"on {m['nproc']} cores; {result['repeat']} interleaved runs per implementation (ingest, aggregate), each "
        + (
            "until its input is processed"
            if result["budget"] == float("inf")
            else f"until its input is processed or {result['budget']:.0f} s have passed"
        ),
        *([f"- Quix Streams {m['quixstreams']}"] if m.get("quixstreams") else []),
        f"- Raw numbers: `{json_path.relative_to(BENCH.parent)}`; the whole run took {result['seconds'] / 60:.1f} min",
        *_code(result),
        "",
    ]
    if "ingest" in result:
        lines += _ingest(result["ingest"])
    if "aggregate" in result:
        lines += _aggregate(result["aggregate"])
    if "pipeline" in result:
        lines += _pipeline(result["pipeline"])
    if "alerting" in result:
        lines += _alerting(result["alerting"])
    if "scaling" in result:
        lines += _scaling(result["scaling"])
    return "\n".join(lines) + "\n"


def _code(result: dict[str, Any]) -> list[str]:
    start, end = result.get("code_start"), result.get("code_end")
    if not start:
        return []
    line = f"- Code: commit {start['commit']}" + (
        " with uncommitted changes in services/ or shared/" if start["dirty"] else ""
    )
    if end and end != start:
        line += f"; the tree changed during the run (commit {end['commit']} at the end)"
    return [line]


def _table(runs: list[dict[str, Any]], impls: dict[str, str], medians: dict, cpu: dict, unit: str) -> list[str]:
    lines = [
        f"| implementation | {unit}/s (median) | runs ({unit} processed) | ratio to raw | CPU ms/{unit[:-1]} "
        "(median) | CPU ratio | RSS MB (peak) |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for impl, label in impls.items():
        mine = [x for x in runs if x["impl"] == impl]
        if not mine:
            continue
        each = ", ".join(f"{_n(x['per_s'])} ({_n(x['processed'])})" for x in mine)
        ratio = medians[impl] / medians["raw"] if medians.get(impl) and medians.get("raw") else None
        cpu_ratio = cpu["raw"] / cpu[impl] if cpu.get(impl) and cpu.get("raw") else None
        lines.append(
            f"| {label} | {_n(medians[impl])} | {each} | {_n(ratio, 2)} | {_n(cpu[impl], 3)} | {_n(cpu_ratio, 2)} | "
            f"{_n(max(x.get('peak_rss_mb') or 0 for x in mine))} |"
        )
    return lines


def _ingest(r: dict[str, Any]) -> list[str]:
    inp = r["input"]
    lines = [
        f"### Ingest: {r['events']:,} pre-loaded feed events ({inp['valid']:,} valid, {inp['duplicate']:,} re-sent, "
        f"{inp['correction']:,} corrections, {inp['bad']:,} broken), 7 feed topics",
        "",
    ]
    impls = {
        "worker": "`tiendo ingest` (Faust worker, own aiokafka consumer, dedupe topic)",
        "raw": "raw aiokafka loop (`bench/raw_ingest.py`, dedupe in a dict)",
    }
    lines += _table(r["runs"], impls, r["median_per_s"], r["median_cpu_ms_per_event"], "events")
    hist = [x["latency_histogram"] for x in r["runs"] if x["impl"] == "worker"]
    lines += [
        "",
        f"- Same outputs (updates, dead letters, accepted) in full runs: {r['same_outputs_full_runs']}; in the paced "
        f"runs: {r['same_outputs_paced']}",
        f"- Worker's `tiendo_ingest_processing_latency_seconds` in the pre-loaded runs: p50 {_ms(hist[0]['p50_s'])}, "
        f"p99 {_ms(hist[0]['p99_s'])} (first run; time since the broker received the event, so mostly the time the "
        "event waited in the pre-loaded topic)",
        "",
    ]
    return lines + _paced(r["paced"], "events")


def _paced(paced: list[dict[str, Any]], what: str) -> list[str]:
    p0 = paced[0]
    lines = [
        f"Paced latency: {p0['events']:,} {what} at {p0['rate']:,.0f}/s into a consumer that is already running; "
        f"per {what[:-1]}: broker append time of its output − of its input.",
        "",
        "| implementation | achieved rate/s | matched | p50 | p99 | max | worker histogram p50 / p99 |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for p in paced:
        hist = p.get("latency_histogram_incl_warmup")
        lines.append(
            f"| {p['impl']} | {_n(p['achieved_rate'])} | {p['matched']:,} | {_ms(p['p50_s'])} | {_ms(p['p99_s'])} | "
            f"{_ms(p['max_s'])} | " + (f"{_ms(hist['p50_s'])} / {_ms(hist['p99_s'])} |" if hist else "– |")
        )
    return [*lines, ""]


def _aggregate(r: dict[str, Any]) -> list[str]:
    lines = [f"### Aggregate: {r['events']:,} pre-loaded indicator updates", ""]
    impls = {
        "worker": "`tiendo aggregate` (own aiokafka consumer, RocksDB per partition, batched changelog)",
        "raw": "raw aiokafka loop (`bench/raw_aggregate.py`, states in a dict)",
        "raw+state": "raw loop + every changed series serialised to a compacted topic",
    }
    for keys, v in r["variants"].items():
        worker = [x for x in v["runs"] if x["impl"] == "worker"]
        lines += [
            f"{int(keys):,} series (worker: mean batch {_n(median(x['mean_batch'] for x in worker))} updates; "
            f"latency histogram of its first run p50 {_ms(worker[0]['latency_histogram']['p50_s'])}, "
            f"p99 {_ms(worker[0]['latency_histogram']['p99_s'])}):",
            "",
            *_table(v["runs"], impls, v["median_per_s"], v["median_cpu_ms_per_event"], "updates"),
            "",
        ]
    rec = r["recovery"]
    back = rec["recovery"]
    lines += [
        f"- State of {back.get('recovered_keys') or 0:,} series (built by the worker from "
        f"{_n(rec['processed'])} updates of as many series at {_n(rec['per_s'])}/s, "
        f"{_n(rec['cpu_ms_per_event'], 3)} ms CPU/update): worker RSS **{_n(back.get('before_rss_mb'))} MB** "
        f"(peak {_n(back.get('before_peak_rss_mb'))} MB; aim < 300 MB)",
        f"- Recovery: SIGKILL, state folder deleted, restart → `/health` 200 after **{back['ready_s']:.1f} s**, "
        f"`tiendo_aggregate_recovery_duration_seconds` **{back['recovery_metric_s']:.1f} s** (aim < 10 s); "
        f"RSS after recovery {_n(back.get('after_rss_mb'))} MB",
        f"- Paced worker and raw loop ended with identical totals (unit and current views): {r['same_totals_paced']}",
        "",
    ]
    lines += _paced(r["paced"], "updates")
    for keys, prof in r.get("profiles", {}).items():
        summary = prof.get("summary")
        if not summary:
            continue
        lines += [
            f"Profile of the worker, {int(keys):,} series (py-spy, {prof['seconds']:.0f} s, {summary['samples']:,} "
            f"samples; {_n(prof['per_s_while_profiled'])} updates/s while profiled, mean batch "
            f"{_n(prof['mean_batch'])}); inclusive shares:",
            "",
            "| part | share |",
            "|---|---:|",
            *(f"| {label.strip()} | {pct:.1f}% |" for label, pct in summary["inclusive_pct"].items()),
            "",
            "What the event loop was running (the task or callback under `Handle._run`): "
            + ", ".join(f"`{task}` {share:.1f}%" for task, share in summary.get("by_task_pct", [])[:8]),
            "",
            "Self time by component: "
            + ", ".join(f"{k} {v:.1f}%" for k, v in summary["self_pct_by_component"].items()),
            "",
            "Top self-time lines (time in C code is charged to the calling line):",
            "",
            *(f"- {pct:.1f}% `{frame}`" for frame, pct in summary["top_self_pct"][:12]),
            "",
        ]
    return lines


def _alerting(r: dict[str, Any]) -> list[str]:
    am = r["alertmanager"]
    lines = [
        f"### Alerting: event → page under {_n(r['achieved_rate'])} feed events/s (asked {_n(r['rate'])}/s)",
        "",
        "`tiendo ingest`, `tiendo aggregate` and `tiendo alert` (event clock) as subprocesses, a real Alertmanager "
        f"(group_wait {am['group_wait_s']:g} s, group_interval {am['group_interval']}) and its webhook. Breach → "
        f"recover cycles of one feed event (Lạng Sơn's 2025 disbursement by {r['plan']['as_of']}: "
        f"{r['plan']['breach_bn']:,} bn, then {r['plan']['recover_bn']:,} bn of a 4,500 bn plan) while "
        f"{_n(r['background_events'])} ordinary feed events were published over {r['background_seconds']:.0f} s. "
        "Per cycle: webhook arrival − broker append time of the event − the configured group_wait "
        f"({am['group_wait_s']:g} s; a breach into a group Alertmanager still holds waits for its next "
        f"group_interval tick, ≤ {am['group_interval']}, which stays in the figure).",
        "",
        "| notification | cycles | p50 | p99 | max |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in (
        ("firing", "page (breach → firing at the webhook)"),
        ("firing_decided", "… of which breach → the alert worker's decision"),
        ("resolved", "resolve (recovery → resolved at the webhook)"),
        ("resolved_decided", "… of which recovery → the alert worker's decision"),
    ):
        x = r[key]
        lines.append(f"| {label} | {x['n']} of {r['cycles_wanted']} | {_ms(x['p50_s'])} | {_ms(x['p99_s'])} | "
                     f"{_ms(x['max_s'])} |")  # fmt: skip
    lines += ["", "The decision is the broker append time of the alert worker's record on the `alerts` topic; the "
                  "rest is its delivery to Alertmanager and Alertmanager's notification."]  # fmt: skip
    if r.get("unfinished"):
        u = r["unfinished"]
        lines += ["", f"- Cycles stopped: no {u['status']} notification of cycle {u['cycle']} {u['waited_s']:.0f} s "
                      "after its event, when the time for the cycles ran out (see the lags below)."]  # fmt: skip
    behind = {n: w["lag"] for n, w in r["memory_end"].items() if (w.get("lag") or 0) > 2 * r["achieved_rate"]}
    if behind:
        lines += ["", "- **The pipeline did not keep up with the load**: lag at the end of the cycles "
                      + ", ".join(f"{n} {lag:,.0f} messages" for n, lag in behind.items())
                      + " (over 2 s of load), so these latencies include a queue that kept growing."]  # fmt: skip
    lines += ["", *_memory(r), ""]
    back = r["recovery"].get("recovery", {})
    lines += [
        f"- Aggregate recovery ({back.get('recovered_keys') or 0:,} series, `AggregateBench.run_recovery`"
        + (", from the aggregate benchmark above" if r.get("recovery_from_aggregate") else "")
        + f"): SIGKILL, state folder deleted, restart → `/health` 200 after **{_n(back.get('ready_s'), 1)} s**, "
        f"`tiendo_aggregate_recovery_duration_seconds` {_n(back.get('recovery_metric_s'), 1)} s",
        "",
    ]
    return lines


def _memory(r: dict[str, Any]) -> list[str]:
    loaded, end = r["memory_loaded"], r["memory_end"]
    lines = [
        f"Worker memory: after {loaded['keys']:,} series were loaded straight into `indicator.updates` and processed "
        f"by aggregate and alert ({loaded['seconds']:.0f} s), and at the end of the cycles under load.",
        "",
        "| worker | RSS MB loaded | RSS MB end | peak RSS MB | processed (end) | series in state | lag at end |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, at_end in end.items():
        lines.append(
            f"| {name} | {_n(loaded['workers'][name].get('rss_mb'))} | {_n(at_end.get('rss_mb'))} | "
            f"{_n(at_end.get('peak_rss_mb'))} | {_n(at_end.get('processed'))} | {_n(at_end.get('state_keys'))} | "
            f"{_n(at_end.get('lag'))} |"
        )
    return lines


def _scaling(r: dict[str, Any]) -> list[str]:
    lines = [
        f"### Aggregate cost against its state (`bench/{r['plot']}`)",
        "",
        f"Per point: as many updates as series (each a new series), then {r['extra']:,} more over those series; "
        f"each point until processed or {r['budget_s']:.0f} s of progress. Updates/s over the whole point.",
        "",
        "| series asked | series reached | updates processed / published | updates/s | CPU ms/update | RSS MB | "
        "peak RSS MB |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for p in r["points"]:
        lines.append(
            f"| {p['keys']:,} | {p['series_reached']:,} | {_n(p['processed'])} / {p['updates']:,}"
            f"{'' if p['complete'] else ' (budget reached)'} | {_n(p['per_s'])} | {_n(p['cpu_ms_per_event'], 3)} | "
            f"{_n(p['rss_mb'])} | {_n(p['peak_rss_mb'])} |"
        )
    return [*lines, "", f"![aggregate cost against its state]({r['plot']})", ""]


def _pipeline(r: dict[str, Any]) -> list[str]:
    labels = r["labels"]
    lines = [
        "### Pipeline: feed topics → `indicator.totals`, tiendo and the same job written three other ways",
        "",
        "Complete runs only: each run processes every feed event and its final totals are checked against an "
        "oracle; events/s = feed events ÷ (last total's broker append time − the run's first output's, i.e. from "
        "its first input batch read to its last total). A run that did not finish in "
        f"{r['timeout_s']:.0f} s, crashed or whose totals differ has no rate. {r['repeat']} interleaved runs per "
        "implementation and configuration: median, and (min–max) over the complete runs. CPU ms per event: CPU "
        "time of all the implementation's processes from just before the first stage wrote anything to the end "
        "÷ feed events; RSS: their peaks summed; × tiendo: ratio to tiendo's median.",
        "",
    ]
    for c in r["configs"]:
        lines += [
            f"{c['size']:,} feed events, {c['partitions']} partition(s) and as many processes of each worker:",
            "",
            "| implementation | events/s median (min–max) | finished | × tiendo | CPU ms/event | × tiendo "
            "| RSS MB (peak) | start-up s | totals check |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        lines += [_pipeline_row(c, impl, label) for impl, label in labels.items()]
        lines += ["", *(f"- {x['impl']} run {x['repeat']}: `{x['error']}`" for x in c["runs"] if "error" in x)]
        lines += [
            f"- tiendo / raw loop: **{_n(c['tiendo_to_raw'], 2)}** (aim ≥ 0.8); tiendo / Quix Streams: "
            f"**{_n(c['tiendo_to_quix'], 2)}** (aim ≥ 1.5)",
            "",
        ]
    if not r["paced"]:
        return [*lines, ""]
    p0 = r["paced"][0]
    lines += [
        f"Paced runs (one partition, processes already running): offered rates held for {p0['step_seconds']:.0f} s "
        "each, the lag (events offered − processed end to end, read every second from committed offsets) sampled; "
        "a step is flat when the lag's slope over its last 80% is below 5% of the rate. Sustained: the highest flat "
        f"step. Event → total latency at the first step ({p0['rate']:,.0f}/s): per accepted event, the append time "
        "of the first unit total that includes it (its `updated_at`, the broker timestamp of the last update "
        "applied, at or after the event's) − the event's broker timestamp.",
        "",
        "| implementation | steps: rate/s → lag slope/s (max lag) | sustained/s | p50 | p99 | max | totals check |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for p in r["paced"]:
        if "error" in p:
            lines.append(f"| {labels[p['impl']]} | crashed: `{p['error']}` | – | – | – | – | – |")
            continue
        steps = "; ".join(
            f"{s['rate']:,.0f} → {_n(s['lag_slope_per_s'])} ({s['max_lag']:,}){'' if s['flat'] else ' **grows**'}"
            for s in p["steps"]
        )
        lines.append(
            f"| {labels[p['impl']]} | {steps} | {_n(p['sustained_per_s'])} | {_ms(p['p50_s'])} | "
            f"{_ms(p['p99_s'])} | {_ms(p['max_s'])} | {_checks([p['check']])} |"
        )
    return [*lines, ""]


def _pipeline_row(c: dict[str, Any], impl: str, label: str) -> str:
    mine = [x for x in c["runs"] if x["impl"] == impl]
    spread = c["spread_per_s"][impl]
    rate = f"{_n(c['median_per_s'][impl])} ({_n(spread[0])}–{_n(spread[1])})" if spread else "not finished"
    done, runs = c["finished"][impl]
    ratio = c["to_tiendo"][impl]
    startup = median(x.get("first_output_after_start_s") for x in mine)
    return (
        f"| {label} | {rate} | {done}/{runs} | {_n(ratio['per_s'], 2)} | "
        f"{_n(c['median_cpu_ms_per_event'][impl], 3)} | {_n(ratio['cpu'], 2)} | "
        f"{_n(c['median_peak_rss_mb'][impl])} | {_n(startup, 1)} | {_checks([x.get('check') for x in mine])} |"
    )


def _checks(checks: list[dict[str, Any] | None]) -> str:
    """A runs' totals checks in a word: how many matched the oracle, what differed."""
    done = [c for c in checks if c]
    if not done:
        return "– (not complete)"
    bad = [c for c in done if not c["match"]]
    if not bad:
        return f"same as oracle ({len(done)}/{len(checks)} runs)"
    return "; ".join(f"**differs**: {c['wrong']} wrong, {c['missing']} missing (e.g. {c['examples']})" for c in bad)


def append_markdown(text: str) -> None:
    if not RESULTS_MD.exists():
        RESULTS_MD.write_text(HEADER)
    with RESULTS_MD.open("a") as f:
        f.write("\n" + text)
