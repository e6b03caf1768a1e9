"""What-if: changed plans judged against the current figures and alerts, without publishing anything. Pure.

For each plan of a changed file, the alert worker's own plan rules (:class:`shared.evaluation.Evaluator`: behind
plan, implausible figure, no report) run on the series' year-to-date figures as the readings dated by ``at`` show
them (a day before the latest report is judged on what was reported by then), each from the alert the worker has
now for that plan (the ``GET /alerts`` states). Each rule's outcome is one :class:`Outcome`: the alert
would fire, resolve, escalate or de-escalate, stay firing, or stay quiet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from shared.alerting import BEHIND_PLAN, IMPLAUSIBLE, NO_REPORT, AlertState, Severity, Transition
from shared.evaluation import Evaluator, SeriesFigures, plan_alert_key, plan_series_key
from shared.plans import Plan

__all__ = ["Outcome", "Verdict", "what_if"]

Verdict = Literal["fires", "resolves", "escalates", "de-escalates", "stays firing", "quiet"]
_VERDICTS: Final[Mapping[str, Verdict]] = {
    "fired": "fires",
    "resolved": "resolves",
    "escalated": "escalates",
    "deescalated": "de-escalates",
}


@dataclass(frozen=True)
class Outcome:
    """One rule of one plan: its alert's severity now (None: not firing) and under the changed plan."""

    plan: Plan
    rule: str
    before: Severity | None
    after: Severity | None
    verdict: Verdict
    summary: str

    @property
    def changes(self) -> bool:
        return self.verdict not in ("stays firing", "quiet")


def _firing(state: AlertState | None) -> Severity | None:
    return state.severity if state is not None and state.status == "firing" else None


def _outcome(plan: Plan, rule: str, state: AlertState | None, transition: Transition | None) -> Outcome:
    before = _firing(state)
    if transition is None or transition.event in ("unchanged", "repeat"):
        after = before if transition is None else _firing(transition.state)
        verdict: Verdict = "stays firing" if after is not None else "quiet"
        summary = "" if transition is None else transition.state.annotations.get("summary", "")
        return Outcome(plan, rule, before, after, verdict, summary if after is not None else "")
    after = _firing(transition.state)
    summary = transition.state.annotations.get("summary", "")
    return Outcome(plan, rule, before, after, _VERDICTS[transition.event], summary)


def what_if(
    plans: Iterable[Plan],
    figures: Mapping[str, SeriesFigures],
    alerts: Mapping[str, AlertState],
    at: datetime,
    evaluator: Evaluator | None = None,
) -> list[Outcome]:
    """Every plan's behind-plan, implausible-figure and no-report outcome at ``at``: ``figures`` by series key
    (:func:`shared.evaluation.plan_series_key`), ``alerts`` by alert id (``AlertKey.id``)."""
    rules = evaluator or Evaluator()
    out: list[Outcome] = []
    for plan in plans:
        found = figures.get(plan_series_key(plan))
        series = None if found is None else found.dated_by(at)  # judged as known at ``at``, not on later reports
        for rule, judge in (
            (BEHIND_PLAN, rules.behind_plan),
            (IMPLAUSIBLE, rules.implausible),
            (NO_REPORT, rules.no_report),
        ):
            state = alerts.get(plan_alert_key(rule, plan).id)
            out.append(_outcome(plan, rule, state, judge(plan, series, state, at)))
    return out
