"""Benchmark inputs: realistic feed events (ingest) and indicator updates (aggregate), deterministic per seed."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import cycle

from samples.feeds import generate_year
from shared.provinces import registry
from shared.updates import IndicatorUpdate, Origin
from shared.vntime import VN_TZ

#: Summable indicators (kind flow) that accept delta updates.
INDICATORS = (
    "state_budget_revenue",
    "new_enterprises",
    "investment_attracted",
    "site_clearance_area",
    "new_jobs",
    "registered_capital",
    "public_investment_disbursed",
    "import_export_value",
    "site_clearance_households",
    "industrial_production_value",
)
#: Pre-merger province codes (valid in 2024).
UNITS = ("01", "04", "08", "11", "12", "14", "20", "22", "24", "31", "79", "92")

PUBLISHER = "feed.bench"
_EVENT_ID = re.compile(rb'"event_id"\s*:\s*"')


@dataclass(frozen=True, slots=True)
class FeedMessage:
    topic: str
    value: bytes
    kind: str
    """valid, duplicate, correction or bad (from ``samples.feeds``)."""


def feed_events(n: int, topic_prefix: str, seed: int = 2024) -> list[FeedMessage]:
    """``n`` feed messages built from the demo generator's realistic years (every spelling, unit and notation).

    The demo year (3,277 events, ~3% re-sends, a few corrections, ~2% broken with every dead-letter reason) is
    repeated with a copy prefix in every valid event id, so the ids stay unique across copies while the re-sends
    and corrections of one copy stay re-sends and corrections of that copy. Broken events are kept byte for byte.
    Topics are ``feed.<topic_prefix>-<office>``.
    """
    years = [generate_year(year, seed + year) for year in (2023, 2024)]
    out: list[FeedMessage] = []
    copy = 0
    while len(out) < n:
        for event in years[copy % len(years)]:
            value = event.value
            if event.kind != "bad":
                value, count = _EVENT_ID.subn(lambda m, c=copy: m[0] + b"c%d-" % c, value, count=1)
                assert count == 1, value
            topic = f"feed.{topic_prefix}-" + event.topic.removeprefix("feed.")
            out.append(FeedMessage(topic, value, event.kind))
            if len(out) == n:
                break
        copy += 1
    return out


def _series(keys: int) -> list[tuple[str, str, int]]:
    """``keys`` distinct (province code, indicator, year) series: 6 provinces x 10 indicators in 2024 for 60, then
    12 provinces x 10 indicators per year, counting years back from 2024; beyond 120,000 series (1,000 years)
    every pre-merger province that has always existed x 10 indicators per year."""
    if keys <= 60:
        units, years = UNITS[:6], range(2024, 2025)
    else:
        units = UNITS if keys <= len(UNITS) * len(INDICATORS) * 1000 else _lasting_units()
        years = range(2024, 2024 + (keys // -(len(units) * len(INDICATORS))), -1)
    series = [(u, i, y) for y in years for u in units for i in INDICATORS]
    if len(series) < keys:
        raise ValueError(f"cannot make {keys} series")
    return series[:keys]


def _lasting_units() -> tuple[str, ...]:
    """Codes of the pre-merger provinces valid on any date back in time (none created later)."""
    return tuple(p.code for p in registry().pre_merger() if p.valid_from is None)


class _Units:
    """(code, day) → (unit uid, province code, current code), cached per month (units change on a 1st)."""

    def __init__(self) -> None:
        self.reg = registry()
        self.cache: dict[tuple[str, date], tuple[str, str, str]] = {}

    def __call__(self, code: str, day: date) -> tuple[str, str, str]:
        key = (code, day.replace(day=1))
        found = self.cache.get(key)
        if found is None:
            unit = self.reg.get(code, on=day)
            found = (unit.uid, unit.code, self.reg.rollup(unit.code, on=day).code)
            self.cache[key] = found
        return found


def indicator_updates(
    n: int, keys: int, seed: int = 7, resend: float = 0.03, correct: float = 0.01
) -> list[IndicatorUpdate]:
    """``n`` delta updates as ingest publishes them: ~3% exact re-sends and ~1% corrections (a higher revision with
    another value, same quarter); the rest are new event identities spread round-robin over ``keys`` series (years
    back from 2024 when more than 60 are asked for)."""
    return list(generate_updates(n, keys, seed, resend, correct))


def generate_updates(
    n: int, keys: int, seed: int = 7, resend: float = 0.03, correct: float = 0.01
) -> Iterator[IndicatorUpdate]:
    """:func:`indicator_updates` one by one: only what re-sends and corrections draw from is kept, so a million
    updates of new identities take little memory."""
    rng = random.Random(seed)
    units = _Units()
    received = datetime.now(UTC)
    sent: list[IndicatorUpdate] = []  # kept when re-sends draw from it
    originals: list[IndicatorUpdate] = []  # kept when corrections draw from it
    series = cycle(_series(keys))  # advanced by new identities only: every series is reached
    for i in range(n):
        r = rng.random()
        if r < resend and sent:
            new = rng.choice(sent)
        elif r < resend + correct and originals:
            old = rng.choice(originals)
            new = replace(
                old, revision=old.revision + 1, value=_value(rng, old.indicator), origin=Origin(PUBLISHER, 0, i)
            )
        else:
            code, indicator, year = next(series)
            quarter = rng.randint(1, 4)
            as_of = datetime(year, 3 * quarter - 2, 1, 12, tzinfo=VN_TZ) + timedelta(seconds=rng.randrange(89 * 86400))
            uid, province_code, current_code = units(code, as_of.date())
            new = IndicatorUpdate(
                event_id=f"e{i}",
                revision=0,
                publisher=PUBLISHER,
                unit=uid,
                province_code=province_code,
                current_code=current_code,
                indicator=indicator,
                mode="delta",
                value=_value(rng, indicator),
                as_of=as_of,
                year=year,
                quarter=quarter,
                source="bench",
                origin=Origin(PUBLISHER, 0, i),
                received_at=received,
            )
            if correct > 0:
                originals.append(new)
        if resend > 0:
            sent.append(new)
        yield new


def encoded(updates: Iterable[IndicatorUpdate]) -> list[tuple[bytes, bytes]]:
    """(key, value) messages of updates. Each value is copied: orjson's result holds an 8 KiB buffer, which for a
    million messages would be 8 GB."""
    return [(u.key, bytes(memoryview(u.encode()))) for u in updates]


def paced_updates(n: int, keys: int, seed: int = 11) -> list[IndicatorUpdate]:
    """``n`` new identities only (no re-sends or corrections), so every update raises its quarter's event count
    by one: the k-th update of a quarter is in the first published total whose ``events`` reaches k."""
    return indicator_updates(n, keys, seed=seed, resend=0.0, correct=0.0)


def _value(rng: random.Random, indicator: str) -> Decimal:
    if indicator in ("new_enterprises", "new_jobs", "site_clearance_households"):
        return Decimal(rng.randint(1, 60))
    if indicator == "site_clearance_area":
        return Decimal(rng.randint(1, 500_000)) / 100  # ha, two decimals
    if indicator == "investment_attracted":
        return Decimal(rng.randint(1, 10**8)) / 100  # USD, cents
    return Decimal(rng.randint(1, 10**6)) * 10**6  # VND, whole millions
