"""Backtest of the forecast and the shortfall alert against the behind-plan rule. No Kafka, no workers.

``.venv/bin/python -m bench.backtest [--no-write]``

Series: the 2025 national disbursement (``shared/data/national-disbursement-2025.tsv``) as a province with a
target of 100 (%) on the ``disbursement`` curve, and every plan of ``deploy/plans/example-2024.yaml`` on the
sample year ``deploy/samples/feeds-2024/`` (read with ``shared/feedfiles.py``, normalised with
``shared/normalise.py``, accumulated by the aggregate's rule: the last year-to-date reading plus the increments
after it; duplicates, lower revisions, dead letters and implausible readings left out as the pipeline leaves them).

For every reading: the forecast (``shared/forecast.py``) as of its date, the shortfall alert (year-end point more
than 10 points of the target below it, hysteresis 5 points) and the behind-plan rule (``evaluate_progress`` at the
reading's date: warning below 0.9). Scored: when each first fires and how many weeks apart; the error of the
projection to each milestone made at the previous one (for the first, at 31 January); the mean absolute error of the
projection to the year's last observed milestone ("year end": 31 January when observed, else 31 December; a
milestone is observed by a reading at most 15 days before it, and scored at that reading's date) from the readings
of H1 (30 June) on. Disbursement plans are run twice: on the plan curve alone and blended with the 2025 national
shape as the "previous year" (re-dated to 2024). The national series has no previous year in the data (2024's
monthly shares are not in it), so it runs on the plan curve alone. The figures go to a dated section of
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from shared.aggregation import Outcome, SeriesState
from shared.alerting import Severity, Thresholds, evaluate_progress
from shared.curves import Curve, named_history_curve, national_disbursement_2025
from shared.feedfiles import read_feed_file
from shared.forecast import forecast, project, shortfall
from shared.indicators import Kind, get_indicator
from shared.normalise import Rejection, normalise
from shared.plans import Plan, curve_milestones, load_plan_file
from shared.updates import IndicatorUpdate, Origin
from shared.vntime import VN_TZ, year_bounds

ROOT = Path(__file__).resolve().parents[1]
FEEDS = ROOT / "deploy" / "samples" / "feeds-2024"
PLANS = ROOT / "deploy" / "plans" / "example-2024.yaml"
RESULTS = ROOT / "bench" / "RESULTS.md"
MARGIN = Decimal("0.10")
SLACK = timedelta(days=15)
"""A milestone is observed by the last reading at or before it, at most this much earlier (monthly reports are
dated the 20th-25th): the projection is scored at that reading's instant."""
RECEIVED_AT = datetime(2025, 3, 1, tzinfo=UTC)
Reading = tuple[datetime, Decimal]


def end_of(day: date) -> datetime:
    return datetime.combine(day, time.max, VN_TZ)


def sample_series() -> dict[tuple[str, str, int], list[Reading]]:
    """Year-to-date readings per (unit, indicator, plan year) of the sample feeds, one per Vietnam day."""
    states: dict[tuple[str, str, int], SeriesState] = {}
    kept: dict[tuple[str, str, int], dict[str, IndicatorUpdate]] = {}
    owner: dict[str, tuple[str, str, int]] = {}
    for path in sorted(FEEDS.glob("*.jsonl")):
        for record in read_feed_file(path):
            try:
                update = normalise(record.value, Origin(path.stem, 0, record.line), RECEIVED_AT)
            except Rejection:
                continue
            key = (update.unit, update.indicator, update.year)
            state = states.setdefault(
                key, SeriesState.new(update.unit, update.province_code, update.current_code, *key[1:])
            )
            if not state.remembers(update) and state.implausibility(update) is not None:
                continue
            if state.apply(update) not in (Outcome.APPLIED, Outcome.CORRECTION):
                continue
            moved_from = owner.get(update.identity)
            if moved_from is not None and moved_from != key:  # a correction into another series: retract there
                kept[moved_from].pop(update.identity, None)
            owner[update.identity] = key
            kept.setdefault(key, {})[update.identity] = update
    series: dict[tuple[str, str, int], list[Reading]] = {}
    for key, updates in kept.items():
        if get_indicator(key[1]).kind in (Kind.RATE, Kind.LEVEL):
            continue
        series[key] = cumulative(list(updates.values()))
    return series


def cumulative(updates: Sequence[IndicatorUpdate]) -> list[Reading]:
    """The aggregate's rule by day: the last ytd reading so far plus the increments dated after it."""
    ordered = sorted(updates, key=lambda u: u.as_of)
    out: dict[date, Reading] = {}
    base, after = Decimal(0), Decimal(0)
    for update in ordered:
        if update.mode == "ytd":
            base, after = update.value, Decimal(0)
        else:
            after += update.value
        day = update.as_of.astimezone(VN_TZ).date()
        out[day] = (update.as_of, base + after)
    return [out[day] for day in sorted(out)]


@dataclass(frozen=True)
class Row:
    """The forecast made at a month's last reading (figures in % of the target)."""

    day: date
    actual: Decimal
    pace: Decimal | None
    point: Decimal
    low: Decimal
    high: Decimal
    to_horizon: Decimal | None
    shortfall: bool
    behind: Severity | None


@dataclass
class Outcomes:
    """One series' backtest."""

    name: str
    variant: str
    plan: Plan
    horizon: datetime
    came: Decimal
    rows: list[Row] = field(default_factory=list)
    shortfall_first: datetime | None = None
    behind_first: datetime | None = None
    milestone_errors: list[tuple[date, Decimal | None]] = field(default_factory=list)
    year_end_errors: list[Decimal] = field(default_factory=list)

    @property
    def lead_weeks(self) -> Decimal | None:
        if self.shortfall_first is None or self.behind_first is None:
            return None
        return Decimal((self.behind_first - self.shortfall_first).days) / 7

    @property
    def mae_from_h1(self) -> Decimal | None:
        errors = self.year_end_errors
        return sum((abs(e) for e in errors), Decimal(0)) / len(errors) if errors else None


def observed(readings: Sequence[Reading], at: datetime) -> Reading | None:
    """The reading that observes ``at``: the last one at or before it, no more than :data:`SLACK` earlier."""
    before = [(when, value) for when, value in readings if when <= at]
    return before[-1] if before and at - before[-1][0] <= SLACK else None


def points(value: Decimal, plan: Plan) -> Decimal:
    return value / plan.target * 100


def backtest(name: str, variant: str, plan: Plan, readings: list[Reading], shape: Curve | None) -> Outcomes | None:
    if not readings:
        return None
    scored = [seen for m, _ in plan.milestones if (seen := observed(readings, m)) is not None]
    if not scored:
        return None
    horizon, came = scored[-1]
    result = Outcomes(name, variant, plan, horizon, came)
    thresholds = Thresholds()
    higher = get_indicator(plan.indicator).higher_is_better
    firing, severity = False, None
    h1 = end_of(date(plan.year, 6, 30))
    month_last = {(w.year, w.month): i for i, (w, _) in enumerate(readings)}
    for i, (when, value) in enumerate(readings):
        upto = readings[: i + 1]
        made = forecast(plan, upto, previous_shape=shape)
        firing = shortfall(made, plan, MARGIN, firing=firing)
        if firing and result.shortfall_first is None:
            result.shortfall_first = when
        severity = progress(plan, value, when, thresholds, higher=higher, previous=severity)
        if severity is not None and result.behind_first is None:
            result.behind_first = when
        to_horizon = project(plan, upto, horizon, previous_shape=shape)
        if h1 - SLACK <= when < horizon - timedelta(days=7) and to_horizon is not None:
            result.year_end_errors.append(points(to_horizon.point - came, plan))
        if month_last[(when.year, when.month)] == i and made is not None:
            result.rows.append(
                Row(
                    when.astimezone(VN_TZ).date(),
                    points(value, plan),
                    made.pace,
                    points(made.point, plan),
                    points(made.low, plan),
                    points(made.high, plan),
                    None if to_horizon is None else points(to_horizon.point, plan),
                    firing,
                    severity,
                )
            )
    start = year_bounds(plan.year)[0]
    previous_milestone = end_of(date(plan.year, 1, 31))
    for milestone, _ in plan.milestones:
        seen = observed(readings, milestone)
        if seen is None or seen[0] > horizon:
            continue
        ahead = project(plan, readings, seen[0], previous_shape=shape, at=previous_milestone)
        error = None if ahead is None or previous_milestone <= start else points(ahead.point - seen[1], plan)
        result.milestone_errors.append((milestone.astimezone(VN_TZ).date(), error))
        previous_milestone = milestone
    return result


def progress(
    plan: Plan, value: Decimal, when: datetime, thresholds: Thresholds, *, higher: bool, previous: Severity | None
) -> Severity | None:
    return evaluate_progress(plan, value, when, thresholds, higher, previous).severity


def national_plan() -> Plan:
    return Plan(
        "00",
        "00",
        "Cả nước (national)",
        "public_investment_disbursed",
        2025,
        Decimal(100),
        "%",
        "central",
        curve_milestones("disbursement", 2025),
        "disbursement",
    )


def run() -> list[Outcomes]:
    outcomes: list[Outcomes] = []
    national = [(end_of(d), v) for d, v in national_disbursement_2025().items()]
    found = backtest("National 2025 (target 100 %)", "plan curve", national_plan(), national, None)
    if found:
        outcomes.append(found)
    series = sample_series()
    shape_2024 = named_history_curve("history:2025", 2024)
    for plan in load_plan_file(PLANS):
        readings = series.get((plan.province_uid, plan.indicator, plan.year), [])
        name = f"{plan.province_name} {plan.indicator} ({plan.basis})"
        variants: list[tuple[str, Curve | None]] = [("plan curve", None)]
        if plan.indicator == "public_investment_disbursed":
            variants.append(("plan + national 2025 shape", shape_2024))
        for variant, shape in variants:
            found = backtest(name, variant, plan, readings, shape)
            if found:
                outcomes.append(found)
    return outcomes


def fmt(value: Decimal | None, places: int = 1) -> str:
    return "–" if value is None else f"{value:.{places}f}"


def day(at: datetime | None) -> str:
    return "never" if at is None else at.astimezone(VN_TZ).date().isoformat()


def summary_table(outcomes: Sequence[Outcomes]) -> list[str]:
    lines = [
        "| series | forecast | scored at | what came (% of target) | shortfall first | behind-plan first "
        "| lead (weeks) | error at each milestone, projected from the previous one (points) "
        "| MAE to year end from H1 (points) |",
        "|---|---|---|---:|---|---|---:|---|---:|",
    ]
    for o in outcomes:
        errors = ", ".join(f"{d.strftime('%d %b')} {fmt(e, 1)}" for d, e in o.milestone_errors)
        lines.append(
            f"| {o.name} | {o.variant} | {day(o.horizon)} | {fmt(points(o.came, o.plan))} | {day(o.shortfall_first)} "
            f"| {day(o.behind_first)} | {fmt(o.lead_weeks)} | {errors} | {fmt(o.mae_from_h1)} |"
        )
    return lines


def monthly_table(o: Outcomes) -> list[str]:
    lines = [
        f"{o.name}, {o.variant} (what came on {day(o.horizon)}: {fmt(points(o.came, o.plan))} % of the target)",
        "",
        "| reading | actual % | pace | year-end point [low–high] % | to "
        f"{day(o.horizon)} % | error (points) | shortfall | behind plan |",
        "|---|---:|---:|---|---:|---:|---|---|",
    ]
    for row in o.rows:
        error = None if row.to_horizon is None else row.to_horizon - points(o.came, o.plan)
        lines.append(
            f"| {row.day} | {fmt(row.actual)} | {fmt(row.pace, 3)} | {fmt(row.point)} [{fmt(row.low)}–{fmt(row.high)}] "
            f"| {fmt(row.to_horizon)} | {fmt(error)} | {'firing' if row.shortfall else '–'} | {row.behind or '–'} |"
        )
    return lines


def verdict(outcomes: Sequence[Outcomes]) -> list[str]:
    leads = [o.lead_weeks for o in outcomes if o.lead_weeks is not None]
    maes = [o.mae_from_h1 for o in outcomes if o.mae_from_h1 is not None]
    false = [o for o in outcomes if o.shortfall_first is not None and points(o.came, o.plan) >= 90]
    missed = [o for o in outcomes if o.shortfall_first is None and points(o.came, o.plan) < 90]
    behind_false = [o for o in outcomes if o.behind_first is not None and points(o.came, o.plan) >= 90]
    return [
        f"- series: {len(outcomes)}; where both rules fire, lead of the shortfall alert: "
        + (", ".join(f"{fmt(w)}" for w in leads) if leads else "none")
        + " weeks (aim ≥ 8)",
        f"- mean absolute year-end error from H1 on, per series: max {fmt(max(maes) if maes else None)} points, "
        f"mean {fmt(sum(maes, Decimal(0)) / len(maes) if maes else None)} points (aim < 10)",
        f"- shortfall fired on a series that reached ≥ 90 %: {len(false)}"
        + (f" ({'; '.join(f'{o.name}, {o.variant}' for o in false)})" if false else "")
        + f"; missed a series that ended < 90 %: {len(missed)}; behind-plan warned on a series that reached ≥ 90 %:"
        f" {len(behind_false)}",
    ]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} × {cpu}, Python {platform.python_version()}"


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.backtest", description=__doc__.split("\n")[0])
    parser.add_argument("--no-write", action="store_true", help="print only; do not append to bench/RESULTS.md")
    args = parser.parse_args(argv)
    outcomes = run()
    lines = [*summary_table(outcomes), "", *verdict(outcomes)]
    monthly = [o for o in outcomes if o.plan.indicator in ("public_investment_disbursed", "site_clearance_area")]
    details: list[str] = []
    for o in monthly:
        details += ["", *monthly_table(o)]
    print("\n".join(lines + details))
    if args.no_write:
        return
    stamp = datetime.now().astimezone()
    section = [
        "",
        f"## {stamp:%Y-%m-%d %H:%M} — forecast backtest (`python -m bench.backtest`)",
        "",
        f"- Machine: {machine()}; no broker (pure functions); code: commit {commit()}",
        "- Forecast: pace on the plan curve (and, for disbursement, blended 50/50 with the 2025 national shape);"
        " shortfall = year-end point below 90 % of the target (resolves at 95 %), from day 20;"
        " behind-plan = `evaluate_progress` at each reading's date (warning < 0.9)",
        "",
        *lines,
        *details,
        "",
    ]
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(section))
    print(f"\nappended to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
