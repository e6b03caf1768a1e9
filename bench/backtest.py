"""Backtest of the forecast and the shortfall alert against the behind-plan rule. No Kafka, no workers.

``.venv/bin/python -m bench.backtest [--no-write] [--tune]``

Real series: the 2025 national disbursement (``shared/data/national-disbursement-2025.tsv``) as a province with a
target of 100 (%) on the ``disbursement`` curve, and every plan of ``deploy/plans/example-2024.yaml`` on the
sample year ``deploy/samples/feeds-2024/`` (read with ``shared/feedfiles.py``, normalised with
``shared/normalise.py``, accumulated by the aggregate's rule: the last year-to-date reading plus the increments
after it; duplicates, lower revisions, dead letters and implausible readings left out as the pipeline leaves them).
Disbursement plans run twice: on the plan curve alone and blended with the 2025 national shape as the "previous
year" (re-dated to 2024); the national series has no previous year in the data.

Synthetic series (``bench/scenarios.py``): provinces that start on pace and slow down, back-loaded and
year-end-rush provinces, and on-pace controls, built from the seed articles' figures, each with its own previous
year; run on the plan curve alone and with the own previous year's shape.

For every reading: the forecast (``shared/forecast.py``) as of its date, the shortfall alert (year-end point more
than 10 points of the target below it, hysteresis 5 points) and the behind-plan rule (``evaluate_progress`` at the
reading's date: warning below 0.9). Scored: when each first fires and how many weeks apart; whether the series
ended short (below the plan's value at the scored instant by more than 10 % of it) and so whether an alert was a
false alarm; the error of the projection to each milestone made at the previous one; the mean absolute error of the
projection to the year's last observed milestone ("year end"; a milestone is observed by a reading at most 15 days
before it, and scored at that reading's date) from the readings of H1 (30 June) on.

``--tune`` runs the grid :data:`GRID` of (recent_weight, recent_days) on the tuning families (:func:`tuning_family`)
with seeds 0-3 and picks the best by a criterion fixed beforehand (short series named ≥ 8 weeks early minus false
alarms, then the lower MAE); the figures are then reported on the held-out families and seeds 4-7 and on the real
series, which took no part in the choice. The figures go to a dated section of bench/RESULTS.md.
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

from bench.scenarios import Family, families, synthetic
from shared.aggregation import Outcome, SeriesState
from shared.alerting import Severity, Thresholds, evaluate_progress
from shared.curves import Curve, named_history_curve, national_disbursement_2025
from shared.feedfiles import read_feed_file
from shared.forecast import (
    DEFAULT_HISTORY_WEIGHT,
    DEFAULT_RECENT_DAYS,
    DEFAULT_RECENT_WEIGHT,
    MIN_ELAPSED_DAYS,
    SHORTFALL_FROM_DAY,
    forecast,
    project,
    shortfall,
)
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


Params = tuple[Decimal, int, Decimal, int]
"""(recent_weight, recent_days, history_weight) of the forecast and the shortfall rule's min_elapsed_days."""
GRID: tuple[Params, ...] = tuple(
    (Decimal(w), d, Decimal(h), e)
    for w in ("0", "0.25", "0.5", "0.75", "1")
    for d in (35, 63, 91)
    for h in ("0.5", "0.8", "1")
    for e in (MIN_ELAPSED_DAYS, 91)
)
DEFAULTS: Params = (DEFAULT_RECENT_WEIGHT, DEFAULT_RECENT_DAYS, DEFAULT_HISTORY_WEIGHT, SHORTFALL_FROM_DAY)
TUNING_SEEDS = range(4)
TEST_SEEDS = range(4, 8)
LEAD_AIM = Decimal(8)


def tuning_family(family: Family) -> bool:
    """The families parameters are chosen on, one or two of each kind (the others, and the real series, are held
    out): slowdowns from July on the plan curve, revenue ahead at Q1 slowing from April, the national shape
    closing at 93 %, Lạng Sơn's December rush closing at 80 %, and the on-pace disbursement control."""
    return family.name.endswith(("from Jul", "from Apr", "all year", "closing at 93 %", "closing at 80 %")) and (
        not family.name.startswith(("industrial", "site clearance"))
    )


@dataclass(frozen=True)
class Row:
    """The forecast made at a month's last reading (figures in % of the target)."""

    day: date
    actual: Decimal
    pace: Decimal | None
    recent_pace: Decimal | None
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
    def short(self) -> bool:
        """Whether the series ended short: below the plan's value at the scored instant by more than the margin."""
        return self.came < (1 - MARGIN) * self.plan.target * self.plan.expected_fraction(self.horizon)

    @property
    def lead_weeks(self) -> Decimal | None:
        if self.shortfall_first is None or self.behind_first is None:
            return None
        return Decimal((self.behind_first - self.shortfall_first).days) / 7

    @property
    def named_early(self) -> bool:
        """A short series the shortfall alert named ≥ 8 weeks before the behind-plan rule (or that rule never)."""
        if not self.short or self.shortfall_first is None:
            return False
        return self.behind_first is None or (self.lead_weeks or Decimal(0)) >= LEAD_AIM

    @property
    def false_shortfall(self) -> bool:
        return self.shortfall_first is not None and not self.short

    @property
    def false_behind(self) -> bool:
        return self.behind_first is not None and not self.short

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


def backtest(  # noqa: PLR0917 (a series and how it is forecast)
    name: str,
    variant: str,
    plan: Plan,
    readings: list[Reading],
    shape: Curve | None,
    params: Params = DEFAULTS,
) -> Outcomes | None:
    if not readings:
        return None
    scored = [seen for m, _ in plan.milestones if (seen := observed(readings, m)) is not None]
    if not scored:
        return None
    horizon, came = scored[-1]
    result = Outcomes(name, variant, plan, horizon, came)
    options = {
        "previous_shape": shape,
        "recent_weight": params[0],
        "recent_days": params[1],
        "history_weight": params[2],
    }
    thresholds = Thresholds()
    higher = get_indicator(plan.indicator).higher_is_better
    firing, severity = False, None
    h1 = end_of(date(plan.year, 6, 30))
    month_last = {(w.year, w.month): i for i, (w, _) in enumerate(readings)}
    for i, (when, value) in enumerate(readings):
        upto = readings[: i + 1]
        made = forecast(plan, upto, **options)  # type: ignore[arg-type]
        firing = shortfall(made, plan, MARGIN, firing=firing, min_elapsed_days=params[3])
        if firing and result.shortfall_first is None:
            result.shortfall_first = when
        severity = progress(plan, value, when, thresholds, higher=higher, previous=severity)
        if severity is not None and result.behind_first is None:
            result.behind_first = when
        to_horizon = project(plan, upto, horizon, **options)  # type: ignore[arg-type]
        if h1 - SLACK <= when < horizon - timedelta(days=7) and to_horizon is not None:
            result.year_end_errors.append(points(to_horizon.point - came, plan))
        if month_last[(when.year, when.month)] == i and made is not None:
            result.rows.append(
                Row(
                    when.astimezone(VN_TZ).date(),
                    points(value, plan),
                    made.pace,
                    made.recent_pace,
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
        ahead = project(plan, readings, seen[0], at=previous_milestone, **options)  # type: ignore[arg-type]
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


def run(params: Params = DEFAULTS) -> list[Outcomes]:
    """The real series: the 2025 national one and every plan of the sample year."""
    outcomes: list[Outcomes] = []
    national = [(end_of(d), v) for d, v in national_disbursement_2025().items()]
    found = backtest("National 2025 (target 100 %)", "plan curve", national_plan(), national, None, params)
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
            found = backtest(name, variant, plan, readings, shape, params)
            if found:
                outcomes.append(found)
    return outcomes


def run_synthetic(seeds: range, params: Params, *, tuning: bool | None = None) -> list[Outcomes]:
    """The synthetic series of ``seeds`` (``tuning``: only the tuning families, or only the held-out ones), each on
    the plan curve alone and with the province's own previous year."""
    outcomes: list[Outcomes] = []
    for series in synthetic(seeds):
        if tuning is not None and tuning_family(series.family) != tuning:
            continue
        for variant, shape in (("plan curve", None), ("plan + own previous year", series.previous_shape)):
            found = backtest(series.family.name, variant, series.family.plan, series.readings, shape, params)
            if found:
                outcomes.append(found)
    return outcomes


@dataclass(frozen=True)
class Score:
    """A set of series' figures: how many ended short, how many of those the shortfall named ≥ 8 weeks early."""

    series: int
    short: int
    named_early: int
    missed: int
    false_shortfall: int
    false_behind: int
    median_lead: Decimal | None
    mae_mean: Decimal | None
    mae_max: Decimal | None

    @property
    def value(self) -> int:
        """The tuning criterion, fixed before tuning: series named early minus false alarms."""
        return self.named_early - self.false_shortfall


def score(outcomes: Sequence[Outcomes]) -> Score:
    leads = sorted(o.lead_weeks for o in outcomes if o.short and o.lead_weeks is not None)
    maes = [m for o in outcomes if (m := o.mae_from_h1) is not None]
    return Score(
        series=len(outcomes),
        short=sum(o.short for o in outcomes),
        named_early=sum(o.named_early for o in outcomes),
        missed=sum(o.short and o.shortfall_first is None for o in outcomes),
        false_shortfall=sum(o.false_shortfall for o in outcomes),
        false_behind=sum(o.false_behind for o in outcomes),
        median_lead=leads[len(leads) // 2] if leads else None,
        mae_mean=sum(maes, Decimal(0)) / len(maes) if maes else None,
        mae_max=max(maes) if maes else None,
    )


def tune() -> tuple[Params, list[tuple[Params, Score]]]:
    """Every grid point on the tuning families and seeds; the best by :attr:`Score.value`, then the lower mean MAE."""
    scored = [(params, score(run_synthetic(TUNING_SEEDS, params, tuning=True))) for params in GRID]
    best = max(scored, key=lambda item: (item[1].value, -(item[1].mae_mean or Decimal(0))))
    return best[0], scored


def fmt(value: Decimal | None, places: int = 1) -> str:
    return "–" if value is None else f"{value:.{places}f}"


def day(at: datetime | None) -> str:
    return "never" if at is None else at.astimezone(VN_TZ).date().isoformat()


def summary_table(outcomes: Sequence[Outcomes]) -> list[str]:
    lines = [
        "| series | forecast | scored at | what came (% of target) | ended short | shortfall first "
        "| behind-plan first | lead (weeks) | error at each milestone, projected from the previous one (points) "
        "| MAE to year end from H1 (points) |",
        "|---|---|---|---:|---|---|---|---:|---|---:|",
    ]
    for o in outcomes:
        errors = ", ".join(f"{d.strftime('%d %b')} {fmt(e, 1)}" for d, e in o.milestone_errors)
        short = "yes" if o.short else ("no: false alarm" if o.false_shortfall else "no")
        lines.append(
            f"| {o.name} | {o.variant} | {day(o.horizon)} | {fmt(points(o.came, o.plan))} | {short} "
            f"| {day(o.shortfall_first)} | {day(o.behind_first)} | {fmt(o.lead_weeks)} | {errors} "
            f"| {fmt(o.mae_from_h1)} |"
        )
    return lines


SCORE_HEADER = (
    "| series | short | named ≥ 8 wk early | short, never named | median lead (wk) | false shortfall "
    "| false behind-plan | MAE from H1 mean / max |",
    "|---|---:|---:|---:|---:|---:|---:|---|",
)


def score_row(label: str, s: Score) -> str:
    return (
        f"| {label} | {s.short} of {s.series} | {s.named_early} | {s.missed} | {fmt(s.median_lead)} "
        f"| {s.false_shortfall} | {s.false_behind} | {fmt(s.mae_mean)} / {fmt(s.mae_max)} |"
    )


def family_table(outcomes: Sequence[Outcomes]) -> list[str]:
    lines = [SCORE_HEADER[0].replace("| series |", "| family | forecast |"), "|---" + SCORE_HEADER[1]]
    groups: dict[tuple[str, str], list[Outcomes]] = {}
    for o in outcomes:
        groups.setdefault((o.name, o.variant), []).append(o)
    for (name, variant), group in groups.items():
        lines.append(score_row(f"{name} | {variant}", score(group)))
    return lines


def monthly_table(o: Outcomes) -> list[str]:
    lines = [
        f"{o.name}, {o.variant} (what came on {day(o.horizon)}: {fmt(points(o.came, o.plan))} % of the target)",
        "",
        "| reading | actual % | pace | recent pace | year-end point [low–high] % | to "
        f"{day(o.horizon)} % | error (points) | shortfall | behind plan |",
        "|---|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for row in o.rows:
        error = None if row.to_horizon is None else row.to_horizon - points(o.came, o.plan)
        lines.append(
            f"| {row.day} | {fmt(row.actual)} | {fmt(row.pace, 3)} | {fmt(row.recent_pace, 3)} "
            f"| {fmt(row.point)} [{fmt(row.low)}–{fmt(row.high)}] | {fmt(row.to_horizon)} | {fmt(error)} "
            f"| {'firing' if row.shortfall else '–'} | {row.behind or '–'} |"
        )
    return lines


def verdict(real: Sequence[Outcomes], held_out: Sequence[Outcomes]) -> list[str]:
    lines = []
    for label, outcomes in (("real series (national 2025, sample year)", real), ("held-out synthetic", held_out)):
        s = score(outcomes)
        short_leads = [o.lead_weeks for o in outcomes if o.short and o.lead_weeks is not None]
        lines.append(
            f"- {label}: {s.series} series, {s.short} ended short; named ≥ 8 weeks before the behind-plan rule (or"
            f" where it never warned): {s.named_early} of {s.short}; leads where both fired: median"
            f" {fmt(s.median_lead)}, max {fmt(max(short_leads) if short_leads else None)} weeks (aim ≥ 8);"
            f" false alarms: shortfall {s.false_shortfall}, behind-plan {s.false_behind}; MAE to year end from H1:"
            f" mean {fmt(s.mae_mean)}, max {fmt(s.mae_max)} points (aim < 10)"
        )
    return lines


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


def report(params: Params, tuning: list[tuple[Params, Score]] | None) -> list[str]:
    """The section's figures: the tuning grid (if run), the held-out families, the real series, the verdict."""
    real = run(params)
    held_out = [
        *run_synthetic(TEST_SEEDS, params, tuning=True),
        *run_synthetic(range(8), params, tuning=False),
    ]
    lines: list[str] = []
    if tuning is not None:
        lines += [
            f"Tuning (families {', '.join(sorted({f.name for f in families() if tuning_family(f)}))};"
            f" seeds {TUNING_SEEDS.start}-{TUNING_SEEDS.stop - 1}; criterion: named early − false alarms, then"
            " the lower mean MAE):",
            "",
            SCORE_HEADER[0].replace(
                "| series |", "| recent weight, days, history weight, shortfall from day | score |"
            ),
            "|---|---:" + SCORE_HEADER[1][4:],
        ]
        lines += [score_row(f"{w}, {d}, {h}, {e} | {s.value}", s) for (w, d, h, e), s in tuning]
        lines += [
            "",
            f"Chosen: recent_weight {params[0]}, recent_days {params[1]}, history_weight {params[2]},"
            f" shortfall from day {params[3]}.",
            "",
        ]
    baseline = (Decimal(0), DEFAULT_RECENT_DAYS, Decimal("0.5"), MIN_ELAPSED_DAYS)
    lines += [
        f"Held out (families not tuned on, seeds 0-7; tuned families, seeds {TEST_SEEDS.start}-{TEST_SEEDS.stop - 1})"
        f" with recent_weight {params[0]}, recent_days {params[1]}, history_weight {params[2]}, shortfall from day"
        f" {params[3]}:",
        "",
        *family_table(held_out),
        "",
        "Totals, this forecaster against the previous version (cumulative pace only, history weight 0.5):",
        "",
        *SCORE_HEADER,
        score_row("held-out synthetic, this forecaster", score(held_out)),
        score_row(
            "held-out synthetic, cumulative pace only",
            score(
                [
                    *run_synthetic(TEST_SEEDS, baseline, tuning=True),
                    *run_synthetic(range(8), baseline, tuning=False),
                ]
            ),
        ),
        score_row("real series, this forecaster", score(real)),
        score_row("real series, cumulative pace only", score(run(baseline))),
        "",
        "Real series:",
        "",
        *summary_table(real),
        "",
        *verdict(real, held_out),
    ]
    for o in real:
        if o.plan.indicator in ("public_investment_disbursed", "site_clearance_area"):
            lines += ["", *monthly_table(o)]
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.backtest", description=__doc__.split("\n")[0])
    parser.add_argument("--no-write", action="store_true", help="print only; do not append to bench/RESULTS.md")
    parser.add_argument("--tune", action="store_true", help="choose the forecast parameters on the tuning set")
    args = parser.parse_args(argv)
    params: Params = DEFAULTS
    tuning = None
    if args.tune:
        params, tuning = tune()
    lines = report(params, tuning)
    print("\n".join(lines))
    if args.no_write:
        return
    stamp = datetime.now().astimezone()
    section = [
        "",
        f"## {stamp:%Y-%m-%d %H:%M} — forecast backtest (`python -m bench.backtest{' --tune' if args.tune else ''}`)",
        "",
        f"- Machine: {machine()}; no broker (pure functions); code: commit {commit()}",
        f"- Forecast: pace = {1 - params[0]} × cumulative + {params[0]} × last-{params[1]}-days pace, on the plan"
        f" curve (and blended with the previous year's shape, weight {params[2]}, where there is one);"
        f" shortfall = year-end point below 90 % of the target (resolves at 95 %), from day {params[3]};"
        " behind-plan = `evaluate_progress` at each reading's date (warning < 0.9);"
        " ended short = below 90 % of the plan's value at the scored instant",
        "",
        *lines,
        "",
    ]
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(section))
    print(f"\nappended to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
