"""The alert worker's ``/ranking``, ``/forecast`` and ``/alerts`` JSON for a sample 2025 week, built with the pure
shared functions (ranking, forecast, shortfall, on-time rate) from the 2025 national disbursement shape: every
one of the 34 provinces follows the national shape at its own pace (deterministic), monthly readings to the
end of August, judged at the end of Thursday 18 September 2025 (the digest of 2025-W38)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from shared.curves import named_history_curve, national_disbursement_2025
from shared.forecast import forecast, shortfall
from shared.plans import Plan, curve_milestones
from shared.provinces import registry
from shared.ranking import ProgressEntry, rank
from shared.timeliness import Cadence, on_time_rate
from shared.vntime import VN_TZ

INDICATOR = "public_investment_disbursed"
YEAR = 2025
WEEK = "2025-W38"
JUDGED = date(2025, 9, 18)
BN = Decimal(10**9)
MONTH_ENDS = [date(2025, m, 1) - timedelta(days=1) for m in range(2, 10)]  # 31 Jan .. 31 Aug


def end_of(day: date) -> datetime:
    return datetime.combine(day, time.max, VN_TZ)


def _national_share(day: date) -> Decimal:
    """The 2025 national share of the plan (%) on a day, linear between the reports."""
    readings = sorted(national_disbursement_2025().items())
    before = (date(2025, 1, 1), Decimal(0))
    for after in readings:
        if day <= after[0]:
            span = Decimal((after[0] - before[0]).days)
            return before[1] + (after[1] - before[1]) * Decimal((day - before[0]).days) / span
        before = after
    return before[1]


def plans() -> list[Plan]:
    """A 2025 central disbursement plan for each current province (targets 2,000-20,000 bn VND)."""
    out = []
    for i, p in enumerate(registry().current()):
        out.append(
            Plan(
                p.code,
                p.uid,
                p.name,
                INDICATOR,
                YEAR,
                Decimal(2000 + (i * 3779) % 18000) * BN,
                "VND",
                "central",
                curve_milestones("disbursement", YEAR),
                "disbursement",
            )
        )
    return out


def pace(i: int) -> Decimal:
    """Province i's pace against the national shape: 0.55-1.45, deterministic."""
    return Decimal("0.55") + Decimal((i * 37) % 91) / 100


def readings(plan: Plan, i: int, until: date) -> list[tuple[datetime, Decimal]]:
    return [(end_of(day), plan.target * _national_share(day) * pace(i) / 100) for day in MONTH_ENDS if day <= until]


def _entry(plan: Plan, reading: tuple[datetime, Decimal]) -> ProgressEntry:
    return ProgressEntry.from_plan(plan, reading[1], reading[0])


def sources() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(rankings, forecasts, alerts, timeliness) as the alert worker's API gives them for 2025-W38."""
    all_plans = plans()
    shape = named_history_curve("history:2025", YEAR)
    week_before = [_entry(p, readings(p, i, date(2025, 7, 31))[-1]) for i, p in enumerate(all_plans)]
    now = []
    for i, p in enumerate(all_plans):
        series = readings(p, i, JUDGED)
        if i % 7 == 3:  # some provinces are a month behind in reporting
            series = series[:-1]
        now.append((p, i, series))
    ranking = rank([_entry(p, series[-1]) for p, _, series in now], rank(week_before))
    reporting = {}
    for p, i, series in now:
        days = [
            (at.date(), at.date() + timedelta(days=27 if (i + k) % 5 == 0 else 20)) for k, (at, _) in enumerate(series)
        ]
        reporting[p.province_code] = on_time_rate(days, Cadence.monthly(25), date(2025, 1, 1), JUDGED)
    rows = []
    for row in ranking.rows:
        e = row.entry
        rate = reporting[e.province_code].rate
        rows.append(
            {
                "rank": row.rank,
                "count": row.count,
                "tied": row.tied,
                "position": row.position,
                "province_code": e.province_code,
                "province": e.province_name,
                "percent": f"{e.percent:.1f}",
                "ratio": None if e.ratio is None else f"{e.ratio:.2f}",
                "as_of": e.as_of.isoformat(),
                "standing": row.standing,
                "rank_change": row.rank_change,
                "on_time_rate": None if rate is None else f"{rate:.2f}",
            }
        )
    rankings = [
        {
            "indicator": INDICATOR,
            "year": YEAR,
            "basis": "central",
            "national_aggregate_percent": f"{ranking.national_aggregate:.1f}",
            "national_average_percent": f"{ranking.national_average:.1f}",
            "against": "aggregate",
            "rows": rows,
        }
    ]
    forecasts, alerts = [], []
    for p, _, series in now:
        f = forecast(p, series, previous_shape=shape, at=end_of(JUDGED))
        assert f is not None
        end = f.year_end
        short = shortfall(f, p)
        forecasts.append(
            {
                "province_code": p.province_code,
                "province": p.province_name,
                "indicator": INDICATOR,
                "year": YEAR,
                "basis": "central",
                "unit": "VND",
                "target": str(p.target),
                "as_of": f.as_of.isoformat(),
                "actual": str(f.actual),
                "pace": f"{f.pace:.2f}",
                "method": f.method,
                "next_milestone": _projection(f.next_milestone),
                "year_end": {
                    **_projection(end),
                    "ratio_low": f"{end.low / p.target:.2f}",
                    "ratio_high": f"{end.high / p.target:.2f}",
                },
                "shortfall": short,
            }
        )
        ratio = ranking.row(p.province_code).entry.ratio  # type: ignore[union-attr]
        if ratio is not None and ratio < Decimal("0.9"):
            severity = "critical" if ratio < Decimal("0.75") else "warning"
            alerts.append(_alert("TiendoBehindPlan", p, severity, f"{p.province_name}: ratio {ratio:.2f}"))
    missing = next(p for p, i, _ in now if i % 7 == 3)
    alerts.append(_alert("TiendoFeedStale", missing, "warning", f"{missing.province_name}: no update for 48 days"))
    timeliness = [
        {
            "province_code": code,
            "province": next(p.province_name for p in all_plans if p.province_code == code),
            "indicator": INDICATOR,
            "expected": r.expected,
            "on_time": r.on_time,
            "late": r.late,
            "missing": r.missing,
            "rate": None if r.rate is None else f"{r.rate:.4f}",
        }
        for code, r in sorted(reporting.items())
    ]
    return rankings, forecasts, alerts, timeliness


def _projection(p: Any) -> dict[str, Any]:
    return {
        "date": p.at.astimezone(VN_TZ).date().isoformat(),
        "point": str(p.point),
        "low": str(p.low),
        "high": str(p.high),
        "ratio_to_target": f"{p.ratio_to_target:.2f}",
    }


def _alert(rule: str, plan: Plan, severity: str, summary: str) -> dict[str, Any]:
    stale = rule == "TiendoFeedStale"
    return {
        "key": {
            "rule": rule,
            "province_uid": plan.province_uid,
            "indicator": plan.indicator,
            "basis": "" if stale else plan.basis,
            "year": 0 if stale else plan.year,
        },
        "status": "firing",
        "severity": severity,
        "starts_at": end_of(date(2025, 9, 1)).isoformat(),
        "ends_at": None,
        "last_sent_at": None,
        "updated_at": end_of(JUDGED).isoformat(),
        "labels": {"province": plan.province_code, "province_name": plan.province_name, "indicator": plan.indicator},
        "annotations": {"summary": summary},
    }
