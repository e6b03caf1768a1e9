"""``python -m bench run [--events N] [--only ingest|aggregate]``: run the benchmarks, save and print the results."""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from bench.common import code_version, load_average, log, machine, own_broker, setup_logging
from bench.report import append_markdown, markdown, save_json
from tests.workers import ROOT


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="Run the ingest and aggregate benchmarks, each on its own broker.")
    run.add_argument("--events", type=int, default=200_000, help="Events (ingest) and updates (aggregate) per run.")
    run.add_argument(
        "--only", choices=("ingest", "aggregate", "alerting", "scaling", "pipeline"), help="Run one benchmark only."
    )
    run.add_argument("--repeat", type=int, default=3, help="Interleaved runs per implementation (median reported).")
    run.add_argument(
        "--budget",
        type=float,
        default=0.0,
        help="Ingest and aggregate benchmarks: longest a throughput run processes (seconds from its first progress); "
        "0 (default): every run processes all its input.",
    )
    run.add_argument(
        "--rate",
        type=float,
        help="Paced runs: events/s (default: 5000, or half the worker's median; pipeline: the latency step, a quarter "
        "of tiendo's median, at most 2000).",
    )
    run.add_argument("--paced-seconds", type=float, default=10.0, help="Paced runs: how long to publish.")
    run.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="py-spy profile of the aggregate worker: when it is below half the raw loop (auto), always, never.",
    )
    run.add_argument(
        "--recovery-keys", type=int, default=100_000, help="Series in the aggregate worker's state when it is killed."
    )
    alerting = run.add_argument_group("alerting", "event → page latency under load (bench/alerting.py)")
    alerting.add_argument("--alert-rate", type=float, default=5000.0, help="Background feed events/s.")
    alerting.add_argument("--alert-cycles", type=int, default=25, help="Breach → recover cycles at most.")
    alerting.add_argument("--alert-seconds", type=float, default=180.0, help="Longest the cycles run (seconds).")
    alerting.add_argument("--alert-warmup", type=float, default=10.0, help="Background load before the first cycle.")
    scaling = run.add_argument_group("scaling", "aggregate updates/s and RSS against its state (bench/scaling.py)")
    scaling.add_argument(
        "--scaling-keys",
        type=lambda text: [int(k) for k in text.split(",")],
        default=[10_000, 100_000, 1_000_000],
        help="Series per point, comma-separated.",
    )
    scaling.add_argument("--scaling-extra", type=int, default=20_000, help="Updates per point after its series.")
    scaling.add_argument(
        "--scaling-budget", type=float, default=240.0, help="Longest a point processes (seconds from its progress)."
    )
    pipeline = run.add_argument_group("pipeline", "feeds → totals, tiendo against its peers (bench/pipeline.py)")
    pipeline.add_argument(
        "--pipeline-sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[50_000],
        help="Feed events of each configuration, comma-separated (50,000: the four implementations, 1 and 2 "
        "partitions, 3 repeats and the paced steps fit in about an hour on 2 cores; 1,000,000 takes hours, mostly "
        "Faust's and Quix's runs: see bench/RESULTS.md).",
    )
    pipeline.add_argument(
        "--pipeline-partitions",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 2],
        help="Partitions (= processes of each worker) of each configuration, comma-separated.",
    )
    pipeline.add_argument(
        "--pipeline-repeat", type=int, default=3, help="Interleaved runs per implementation of each configuration."
    )
    pipeline.add_argument(
        "--pipeline-impls",
        type=lambda text: tuple(text.split(",")),
        default=("tiendo", "raw", "faust", "quix"),
        help="Implementations, comma-separated (tiendo, raw, faust, quix).",
    )
    pipeline.add_argument(
        "--pipeline-timeout",
        type=float,
        default=1800.0,
        help="Longest one run may take (seconds); a run not finished by then is reported as not finished.",
    )
    pipeline.add_argument(
        "--pipeline-step-seconds",
        type=float,
        default=30.0,
        help="Paced runs: seconds per offered rate (0: no paced runs).",
    )
    run.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="Extra environment of the workers, e.g. TIENDO_BATCH_WAIT_S=1 (repeatable; recorded in the results).",
    )
    run.add_argument("--name", default="bench", help="Results file name: bench/results/<date>-<name>.json.")
    run.add_argument("--keep", action="store_true", help="Keep the work folder (worker logs, profiles).")
    run.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def run_alerting_and_scaling(
    args: argparse.Namespace, workdir: Path, worker_env: dict[str, str], result: dict[str, Any]
) -> None:
    """The alerting benchmark (its aggregate recovery taken from the aggregate benchmark if it ran) and the
    scaling series, each on its own broker, into ``result``."""
    if args.only in (None, "alerting"):
        from bench.alerting import AlertingBench  # noqa: PLC0415

        with own_broker() as broker:
            (workdir / "alerting").mkdir()
            alerting = AlertingBench(
                broker, workdir / "alerting", rate=args.alert_rate, cycles=args.alert_cycles,
                seconds=args.alert_seconds, warmup=args.alert_warmup, resource_keys=args.recovery_keys,
                worker_env=worker_env,
            )  # fmt: skip
            result["alerting"] = alerting.run(result.get("aggregate", {}).get("recovery"))
    if args.only in (None, "scaling"):
        from bench.scaling import ScalingBench  # noqa: PLC0415

        with own_broker() as broker:
            (workdir / "scaling").mkdir()
            scaling = ScalingBench(
                broker, workdir / "scaling", args.scaling_keys, args.scaling_extra, args.scaling_budget
            )
            result["scaling"] = scaling.run()


def run_pipeline(args: argparse.Namespace, workdir: Path, worker_env: dict[str, str], result: dict[str, Any]) -> None:
    """The end-to-end pipeline benchmark (tiendo and its peers) on its own broker, into ``result``."""
    from bench.pipeline import PipelineBench  # noqa: PLC0415

    with own_broker() as broker:
        (workdir / "pipeline").mkdir()
        bench = PipelineBench(
            broker, workdir / "pipeline", sizes=args.pipeline_sizes, partitions=args.pipeline_partitions,
            repeat=args.pipeline_repeat, timeout=args.pipeline_timeout, impls=args.pipeline_impls,
            worker_env=worker_env,
        )  # fmt: skip
        result["pipeline"] = bench.run(args.rate, args.pipeline_step_seconds)


def check_arguments(args: argparse.Namespace) -> None:
    """Exit with a clear message on bad sizes or a missing optional dependency."""
    if args.events < 1000 or args.repeat < 1:
        raise SystemExit("--events must be at least 1000 and --repeat at least 1")
    unknown = set(args.pipeline_impls) - {"tiendo", "raw", "faust", "quix"}
    if unknown or "tiendo" not in args.pipeline_impls:
        raise SystemExit(f"--pipeline-impls: unknown {sorted(unknown)}, or tiendo missing (ratios are to tiendo)")
    needed = {"pipeline": "quixstreams", "scaling": "matplotlib"}
    missing = [m for only, m in needed.items() if args.only in (None, only) and importlib.util.find_spec(m) is None]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: install the bench extra: .venv/bin/pip install -e '.[bench]'")


def main(argv: list[str]) -> None:
    args = parse(argv)
    setup_logging(args.verbose)
    check_arguments(args)
    worker_env = dict(item.split("=", 1) for item in args.worker_env)
    started = datetime.now()
    t0 = time.monotonic()
    result: dict[str, Any] = {
        "name": args.name,
        "started": started.strftime("%Y-%m-%d %H:%M"),
        "command": ".venv/bin/python -m bench " + " ".join(argv),
        "repeat": args.repeat,
        "events": args.events,
        "budget": args.budget or float("inf"),
        "worker_env": worker_env,
        "load_start": load_average(),
        "code_start": code_version(),
        "machine": machine(),
    }
    log.info("load average %s; %s", result["load_start"], result["machine"])
    workdir = Path(tempfile.mkdtemp(prefix="tiendo-bench-"))
    try:
        if args.only in (None, "ingest"):
            from bench.ingest import IngestBench  # noqa: PLC0415 - each benchmark imports its worker's modules

            with own_broker() as broker:
                bench = IngestBench(
                    broker, workdir / "ingest", args.events, args.repeat, result["budget"], worker_env=worker_env
                )
                (workdir / "ingest").mkdir()
                result["ingest"] = bench.run(args.rate, args.paced_seconds)
        if args.only in (None, "aggregate"):
            from bench.aggregate import AggregateBench  # noqa: PLC0415

            with own_broker() as broker:
                bench = AggregateBench(
                    broker,
                    workdir / "aggregate",
                    args.events,
                    args.repeat,
                    result["budget"],
                    recovery_keys=args.recovery_keys,
                )
                (workdir / "aggregate").mkdir()
                result["aggregate"] = bench.run(args.rate, args.paced_seconds, args.profile)
        run_alerting_and_scaling(args, workdir, worker_env, result)
        if args.only in (None, "pipeline"):
            run_pipeline(args, workdir, worker_env, result)
    except BaseException:
        (workdir / "partial.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        log.exception("benchmark failed; worker logs and the results so far (partial.json) are in %s", workdir)
        raise
    result["load_end"] = load_average()
    result["code_end"] = code_version()
    result["seconds"] = round(time.monotonic() - t0, 1)
    path = save_json(result, started.strftime("%Y-%m-%d"), args.name)
    for keys, profile in result.get("aggregate", {}).get("profiles", {}).items():
        if profile.get("file"):  # the evidence behind the profile table, kept next to the numbers
            kept = path.with_name(f"{path.stem}-profile-aggregate-{keys}.txt.gz")
            kept.write_bytes(gzip.compress(Path(profile["file"]).read_bytes()))
            profile["file"] = str(kept.relative_to(ROOT))
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    if args.keep:
        log.info("work folder kept: %s", workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    text = markdown(result, path)
    append_markdown(text)
    log.info("results: %s and bench/RESULTS.md", path)
    sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
