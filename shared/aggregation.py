"""Aggregation semantics: per-series state and the maths of quarterly totals (no Kafka, no Faust).

A *series* is one province unit, indicator and year (``shared.contracts.series_key``). The aggregate worker keeps one
``SeriesState`` per series, applies batches of ``IndicatorUpdate`` to it (``apply_batch``) and publishes
``QuarterTotal`` snapshots. The quarter and year of an update are ``update.quarter``/``update.year``
(Vietnam time, set by ingest from ``as_of``). All values are exact ``Decimal``; sums never round.

Summable indicators (kinds ``flow`` and ``ytd``)
    Each quarter q holds the *delta* events (increments) and the *ytd* readings (cumulative
    year-to-date totals) whose update quarter is q. Its last reading is the one with the latest
    ``as_of``; on the same ``as_of`` the later applied one wins. With C0 = 0, the cumulative total at
    the end of quarter q is::

        C(q) = last reading of q + deltas of q with as_of after that reading   if q has a reading
        C(q) = C(q-1) + all deltas of q                                        otherwise

    and the quarter's own value is ``C(q) - C(q-1)``; its year-to-date value is ``C(q)``. So a reading
    is authoritative for the year so far: every delta dated at or before it (in its quarter or any
    earlier one) counts as included in it, and deltas dated after it add on top. This gives:

    * delta-only series: a quarter's value is the sum of its deltas;
    * ytd-only series: ``Q2 = H1 - Q1``; a quarter without a reading of its own carries the previous
      quarter's cumulative (own value 0); a late reading older than the quarter's last one changes
      nothing, and a late reading for an earlier quarter fixes that quarter and the next one's own
      value while the current year-to-date figure stays put;
    * mixed series (weekly deltas and a ytd reading at quarter end): the reading replaces the deltas
      it covers, the weekly deltas after it accumulate until the next reading.

Rates and levels (kinds ``rate`` and ``level``)
    Never summed. Every event, whatever its mode, is a reading; a quarter's value is its last reading
    (latest ``as_of``, tie → later applied); the year-to-date value at quarter q is the value of the
    latest quarter up to q that has a reading.

Exactly once, corrections and the memory bound
    The state remembers every applied event identity (``publisher/event_id``) with its revision and
    contribution. A higher revision of a remembered identity is a correction: the old contribution
    is removed and the new one added, even across quarters or modes, so nothing counts twice. A same
    or lower revision is a duplicate and changes nothing. Since the state is per series-year, it holds
    at most the events of one indicator of one province in one year (a weekly feed sends about 52). It
    is further capped at ``MAX_IDENTITIES`` (5,000, about 14 a day), chosen so the serialised state
    (≈ 100 bytes per identity) stays below Kafka's default 1 MB message limit of the table changelog.
    A *new* identity arriving when a series is full is refused (``Outcome.OVERFLOW``, counted and
    dead-lettered as ``series_full``): forgetting an identity instead could count a redelivery or a
    correction twice.
    Corrections and duplicates of remembered identities keep working on a full series.

Snapshot bookkeeping
    A quarter's ``events`` counts the identities currently contributing to it (a correction replaces
    its earlier revision; a correction moving an event to another quarter moves it). ``updated_at`` is
    the ``received_at`` of the last applied update that changed the quarter, ``last_as_of`` the latest
    ``as_of`` among its events, ``sources`` the distinct sources of updates applied to it (the latest
    ``MAX_SOURCES``, latest last).

Derived figures (last readings, sums after them, last ``as_of``) are cached per quarter and refreshed
lazily, so ``apply`` is O(1) amortised and ``totals`` costs O(4) plus a rescan of a quarter's events
only after a change that invalidated its cache (e.g. correcting its last reading).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import MAX_PREC, Context, Decimal
from enum import StrEnum
from functools import cache
from typing import Any, Final

import orjson

from shared.contracts import series_key
from shared.indicators import Kind, get_indicator
from shared.jsoncodec import dumps_kept
from shared.provinces import MERGER_DATE, registry
from shared.updates import IndicatorUpdate, Retraction
from shared.vntime import VN_TZ, iso, parse_iso, period_label

__all__ = [
    "MAX_IDENTITIES",
    "MAX_SOURCES",
    "BatchResult",
    "Outcome",
    "QuarterTotal",
    "SeriesState",
    "apply_batch",
    "rollup",
]

MAX_IDENTITIES: Final = 5_000
"""Most event identities one series-year remembers; new identities beyond it are refused."""
MAX_SOURCES: Final = 10
"""Most distinct sources a quarter total lists (the most recent ones, latest last)."""
IMPLAUSIBLE_FACTOR: Final = Decimal(500)
"""A reading this many times above or below the series' latest reading is refused as a likely misreading: the
Vietnamese/English notation of ``4,680`` or a unit off by 10^3 gives exactly 1000x; real readings never jump so."""

_STATE_VERSION: Final = 1
_QUARTERS: Final = (1, 2, 3, 4, 5)
#: Quarter 5 ("Q4+") holds readings of plan year N dated in January N+1 (the disbursement year runs 13 months).
TAIL_QUARTER: Final = 5
_RETRACTED: Final = 0  # the quarter of a retracted identity's entry
_EXACT: Final = Context(prec=MAX_PREC)  # additions and subtractions are exact at any magnitude
_ZERO: Final = Decimal(0)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


class Outcome(StrEnum):
    """What applying one update did."""

    APPLIED = "applied"
    """A new identity: its value now counts."""
    CORRECTION = "correction"
    """A higher revision of a remembered identity: it replaced the earlier contribution."""
    DUPLICATE = "duplicate"
    """A same or lower revision of a remembered identity: ignored."""
    OVERFLOW = "overflow"
    """A new identity for a series that already remembers ``MAX_IDENTITIES``: refused."""
    RETRACTED = "retracted"
    """A retraction removed the identity's contribution (a correction moved it to another series)."""
    IMPLAUSIBLE = "implausible"
    """A reading about three orders of magnitude off the series' readings: refused, to be dead-lettered."""


@dataclass(frozen=True, slots=True)
class QuarterTotal:
    """A published snapshot of one quarter of one series (the ``indicator.totals`` value)."""

    unit: str
    province_code: str
    current_code: str
    indicator: str
    year: int
    quarter: int
    value: Decimal
    """The quarter's own value (summable kinds) or its latest reading (rate, level)."""
    ytd: Decimal
    """Year-to-date value at the end of the quarter (summable) or the latest value up to it (rate, level)."""
    base_unit: str
    events: int
    last_as_of: datetime | None
    updated_at: datetime | None
    sources: tuple[str, ...]
    anchored: bool = False
    """The ytd rests on a year-to-date reading of this quarter or an earlier one (it covers the year since 1 January
    by itself), rather than on increments alone."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: Decimals as strings, datetimes as ISO 8601."""
        return {
            "unit": self.unit,
            "province_code": self.province_code,
            "current_code": self.current_code,
            "indicator": self.indicator,
            "year": self.year,
            "quarter": self.quarter,
            "period": period_label(self.quarter),
            "value": format(self.value, "f"),
            "ytd": format(self.ytd, "f"),
            "base_unit": self.base_unit,
            "events": self.events,
            "last_as_of": iso(self.last_as_of),
            "updated_at": iso(self.updated_at),
            "sources": list(self.sources),
            "anchored": self.anchored,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuarterTotal:
        return cls(
            unit=d["unit"],
            province_code=d["province_code"],
            current_code=d["current_code"],
            indicator=d["indicator"],
            year=int(d["year"]),
            quarter=int(d["quarter"]),
            value=Decimal(d["value"]),
            ytd=Decimal(d["ytd"]),
            base_unit=d["base_unit"],
            events=int(d["events"]),
            last_as_of=parse_iso(d["last_as_of"]),
            updated_at=parse_iso(d["updated_at"]),
            sources=tuple(d["sources"]),
            anchored=d.get("anchored") is True,
        )


class _Entry:
    """The remembered contribution of one identity. ``as_of`` in microseconds since the epoch."""

    __slots__ = ("_json", "as_of", "quarter", "reading", "revision", "seq", "value")

    def __init__(self, revision: int, quarter: int, *, reading: bool, value: Decimal, as_of: int, seq: int) -> None:
        self.revision = revision
        self.quarter = quarter
        self.reading = reading
        self.value = value
        self.as_of = as_of
        self.seq = seq
        self._json: orjson.Fragment | None = None

    @property
    def retracted(self) -> bool:
        """A retracted identity: remembered with its revision, contributing nothing (quarter 0)."""
        return self.quarter == _RETRACTED

    def to_list(self) -> list[Any]:
        return [self.revision, self.quarter, int(self.reading), str(self.value), self.as_of, self.seq]

    def json(self) -> orjson.Fragment:
        """``to_list`` as JSON, encoded once (an entry never changes; a correction replaces it)."""
        if self._json is None:
            self._json = orjson.Fragment(dumps_kept(self.to_list()))
        return self._json

    @classmethod
    def from_list(cls, item: list[Any]) -> _Entry:
        revision, quarter, reading, value, as_of, seq = item
        return cls(
            int(revision),
            int(quarter),
            reading=bool(reading),
            value=Decimal(value),
            as_of=int(as_of),
            seq=int(seq),
        )


class _Quarter:
    """One quarter's events with lazily refreshed derived figures.

    Invariants: ``last_ok`` → ``last`` is the latest reading by (as_of, seq); ``after_ok`` → ``last_ok``
    and ``after`` is the sum of deltas dated after ``last`` (meaningful only when ``last`` is set);
    ``max_ok`` → ``max_as_of`` is the latest ``as_of`` of all events.
    """

    __slots__ = (
        "after",
        "after_ok",
        "delta_sum",
        "deltas",
        "last",
        "last_ok",
        "max_as_of",
        "max_ok",
        "members",
        "sources",
        "updated_at",
    )

    def __init__(self) -> None:
        self.members: dict[str, _Entry] = {}
        self.deltas = 0
        self.delta_sum = _ZERO
        self.last: _Entry | None = None
        self.last_ok = True
        self.after = _ZERO
        self.after_ok = True
        self.max_as_of: int | None = None
        self.max_ok = True
        self.updated_at: datetime | None = None
        self.sources: list[str] = []

    def add(self, identity: str, entry: _Entry) -> None:
        self.members[identity] = entry
        if entry.reading:
            last = self.last
            if self.last_ok and (last is None or (entry.as_of, entry.seq) > (last.as_of, last.seq)):
                self.last = entry
                self.after_ok = False
        else:
            self.deltas += 1
            self.delta_sum = _EXACT.add(self.delta_sum, entry.value)
            if self.after_ok and self.last is not None and entry.as_of > self.last.as_of:
                self.after = _EXACT.add(self.after, entry.value)
        if self.max_ok and (self.max_as_of is None or entry.as_of > self.max_as_of):
            self.max_as_of = entry.as_of

    def remove(self, identity: str, entry: _Entry) -> None:
        del self.members[identity]
        if entry.reading:
            if self.last is entry:
                self.last_ok = self.after_ok = False
        else:
            self.deltas -= 1
            self.delta_sum = _EXACT.subtract(self.delta_sum, entry.value)
            if self.after_ok and self.last is not None and entry.as_of > self.last.as_of:
                self.after = _EXACT.subtract(self.after, entry.value)
        if entry.as_of == self.max_as_of:
            self.max_ok = False

    def touch(self, at: datetime, source: str | None) -> None:
        self.updated_at = at
        if source is not None:
            if source in self.sources:
                self.sources.remove(source)
            self.sources.append(source)
            del self.sources[:-MAX_SOURCES]

    def latest(self) -> _Entry | None:
        """The last reading (latest as_of, tie → later applied), or None."""
        if not self.last_ok:
            readings = [e for e in self.members.values() if e.reading]
            self.last = max(readings, key=lambda e: (e.as_of, e.seq)) if readings else None
            self.last_ok = True
        return self.last

    def cumulative(self, before: Decimal) -> Decimal:
        """C(q) of the module rule, given ``before`` = C(q-1)."""
        last = self.latest()
        if last is None:
            return _EXACT.add(before, self.delta_sum)
        if not self.after_ok:
            after = _ZERO
            if self.deltas:
                for e in self.members.values():
                    if not e.reading and e.as_of > last.as_of:
                        after = _EXACT.add(after, e.value)
            self.after = after
            self.after_ok = True
        return _EXACT.add(last.value, self.after)

    def last_as_of(self) -> int | None:
        if not self.max_ok:
            self.max_as_of = max((e.as_of for e in self.members.values()), default=None)
            self.max_ok = True
        return self.max_as_of


class SeriesState:
    """The aggregation state of one (unit, indicator, year); see the module docstring for the rules."""

    __slots__ = (
        "_applied",
        "_base_unit",
        "_kind",
        "_quarters",
        "_seq",
        "current_code",
        "indicator",
        "province_code",
        "unit",
        "year",
    )

    def __init__(self, unit: str, province_code: str, current_code: str, indicator: str, year: int) -> None:
        spec = get_indicator(indicator)
        self.unit = unit
        self.province_code = province_code
        self.current_code = current_code
        self.indicator = indicator
        self.year = year
        self._kind = spec.kind
        self._base_unit = spec.base_unit
        self._seq = 0
        self._applied: dict[str, _Entry] = {}
        self._quarters = tuple(_Quarter() for _ in _QUARTERS)

    @classmethod
    def new(cls, unit: str, province_code: str, current_code: str, indicator: str, year: int) -> SeriesState:
        """An empty state; raises ``UnknownIndicatorError`` for an indicator not in the catalogue."""
        return cls(unit, province_code, current_code, indicator, year)

    @property
    def key(self) -> str:
        return series_key(self.unit, self.indicator, self.year)

    @property
    def summable(self) -> bool:
        """Whether quarter values add up (flow, ytd) rather than the latest winning (rate, level)."""
        return self._kind in (Kind.FLOW, Kind.YTD)

    def applied_quarter(self, identity: str) -> int | None:
        """The quarter the identity currently contributes to, or None (not remembered, or retracted)."""
        entry = self._applied.get(identity)
        return None if entry is None or entry.retracted else entry.quarter

    def remembers(self, update: IndicatorUpdate) -> bool:
        """Whether the update is a duplicate here: its identity is remembered at the same or a higher revision."""
        entry = self._applied.get(update.identity)
        return entry is not None and entry.revision >= update.revision

    def retract(self, retraction: Retraction) -> Outcome:
        """Remove the identity's contribution if it is of a lower revision than the retraction's. The identity is
        remembered as retracted at that revision, so a late copy of the old revision is a duplicate, and a later
        correction moving it back here counts once."""
        identity = retraction.identity
        old = self._applied.get(identity)
        if old is None or old.retracted or old.revision >= retraction.revision:
            return Outcome.DUPLICATE
        data = self._quarters[old.quarter - 1]
        data.remove(identity, old)
        data.touch(retraction.received_at, None)
        self._seq += 1
        self._applied[identity] = _Entry(
            retraction.revision, _RETRACTED, reading=False, value=_ZERO, as_of=old.as_of, seq=self._seq
        )
        return Outcome.RETRACTED

    def implausibility(self, update: IndicatorUpdate) -> str | None:
        """Why a reading looks misread (``IMPLAUSIBLE_FACTOR`` off the series' latest other reading), or None.

        Only readings are checked (ytd readings of summable kinds, level readings): an increment has no scale to
        compare with, and rates may sit near zero. A reading later than the latest is compared both ways; an older
        (late) one only upwards, since earlier year-to-date figures are legitimately much smaller.
        """
        if update.confirmed or self._kind is Kind.RATE or (self.summable and update.mode != "ytd"):
            return None
        latest = self._latest_reading(update.identity)
        if latest is None or latest.value <= 0 or update.value <= 0:
            return None
        factor = update.value / latest.value
        later = _micros(update.as_of) >= latest.as_of
        if factor >= IMPLAUSIBLE_FACTOR:
            how = f"{_ratio(factor)} times"
        elif later and factor * IMPLAUSIBLE_FACTOR <= 1:
            how = f"1/{_ratio(1 / factor)} of"
        else:
            return None
        return (
            f"{update.mode} reading {format(update.value, 'f')} {self._base_unit} as of {update.as_of.date()} is {how} "
            f"the series' reading {format(latest.value, 'f')} {self._base_unit} as of "
            f'{_from_micros(latest.as_of).date()}: likely a misread notation or unit ("4,680" in Vietnamese notation '
            'is 4.68); not applied. Re-send it with a higher revision: corrected, or with "confirmed": true if right'
        )

    def _latest_reading(self, other_than: str) -> _Entry | None:
        own = self._applied.get(other_than)
        latest = [q.latest() for q in self._quarters]
        best = max((e for e in latest if e is not None), key=lambda e: (e.as_of, e.seq), default=None)
        if best is None or best is not own:
            return best
        readings = (e for e in self._applied.values() if e.reading and e is not own and not e.retracted)
        return max(readings, key=lambda e: (e.as_of, e.seq), default=None)

    def apply(self, update: IndicatorUpdate) -> Outcome:
        """Apply one update; raises ValueError (leaving the state untouched) if it cannot belong here."""
        if update.unit != self.unit or update.indicator != self.indicator or update.year != self.year:
            raise ValueError(f"update for {update.series!r} applied to series {self.key!r}")
        if update.quarter not in _QUARTERS:
            raise ValueError(f"quarter {update.quarter!r} is not 1-5")
        if update.mode not in ("delta", "ytd"):
            raise ValueError(f"mode {update.mode!r} is neither 'delta' nor 'ytd'")
        if not update.value.is_finite():
            raise ValueError(f"value {update.value} is not finite")
        identity = update.identity
        old = self._applied.get(identity)
        if old is not None:
            if update.revision <= old.revision:
                return Outcome.DUPLICATE
            outcome = Outcome.APPLIED if old.retracted else Outcome.CORRECTION
        elif len(self._applied) >= MAX_IDENTITIES:
            return Outcome.OVERFLOW
        else:
            outcome = Outcome.APPLIED
        as_of = _micros(update.as_of)
        self._seq += 1
        entry = _Entry(
            update.revision,
            update.quarter,
            reading=update.mode == "ytd" or not self.summable,
            value=update.value,
            as_of=as_of,
            seq=self._seq,
        )
        if old is not None and not old.retracted:
            moved_from = self._quarters[old.quarter - 1]
            moved_from.remove(identity, old)
            moved_from.touch(update.received_at, None)
        self._applied[identity] = entry
        target = self._quarters[update.quarter - 1]
        target.add(identity, entry)
        target.touch(update.received_at, update.source)
        return outcome

    def _data_quarters(self) -> list[int]:
        """Quarters ``totals`` publishes: up to the last with events (summable), with events (others)."""
        with_events = [q for q in _QUARTERS if self._quarters[q - 1].members]
        if not with_events or not self.summable:
            return with_events
        return list(range(1, with_events[-1] + 1))

    def totals(self) -> list[QuarterTotal]:
        """Snapshots of the quarters with data: Q1 up to the last quarter with events for summable
        indicators (an empty quarter in between shows value 0 and the carried ytd), only quarters
        with readings for rates and levels."""
        wanted = self._data_quarters()
        if not wanted:
            return []
        figures = self._figures(wanted[-1])
        return [self._total(q, *figures[q - 1]) for q in wanted]

    def quarter_total(self, quarter: int) -> QuarterTotal:
        """The snapshot of any quarter 1-5, also one without events (value 0 or carried, events 0)."""
        if quarter not in _QUARTERS:
            raise ValueError(f"quarter {quarter!r} is not 1-5")
        return self._total(quarter, *self._figures(quarter)[quarter - 1])

    def affected_quarters(self, touched: Iterable[int]) -> set[int]:
        """Quarters whose snapshot may differ after events changed in ``touched`` quarters.

        For summable kinds a change also moves the ytd of every later published quarter (and the own
        value of the next one); for rates and levels a later quarter with readings is unaffected.
        """
        changed = set(touched)
        if changed and self.summable:
            first = min(changed)
            changed.update(q for q in self._data_quarters() if q > first)
        return changed

    def _figures(self, upto: int) -> list[tuple[Decimal, Decimal]]:
        """(value, ytd) for quarters 1..upto."""
        out: list[tuple[Decimal, Decimal]] = []
        if self.summable:
            cumulative = _ZERO
            for q in range(1, upto + 1):
                now = self._quarters[q - 1].cumulative(cumulative)
                out.append((_EXACT.subtract(now, cumulative), now))
                cumulative = now
        else:
            latest = _ZERO
            for q in range(1, upto + 1):
                last = self._quarters[q - 1].latest()
                if last is not None:
                    latest = last.value
                out.append((latest, latest))
        return out

    def _total(self, quarter: int, value: Decimal, ytd: Decimal) -> QuarterTotal:
        data = self._quarters[quarter - 1]
        last_as_of = data.last_as_of()
        return QuarterTotal(
            unit=self.unit,
            province_code=self.province_code,
            current_code=self.current_code,
            indicator=self.indicator,
            year=self.year,
            quarter=quarter,
            value=value,
            ytd=ytd,
            base_unit=self._base_unit,
            events=len(data.members),
            last_as_of=None if last_as_of is None else _from_micros(last_as_of),
            updated_at=data.updated_at,
            sources=tuple(data.sources),
            anchored=any(self._quarters[q - 1].latest() is not None for q in range(1, quarter + 1)),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; ``from_dict`` restores it exactly."""
        return self._as_dict({identity: entry.to_list() for identity, entry in self._applied.items()})

    def encode(self) -> bytes:
        """``to_dict`` as JSON bytes (what the aggregate worker stores); each remembered event is encoded once in the
        state's life, not at every write of the state."""
        return orjson.dumps(self._as_dict({identity: entry.json() for identity, entry in self._applied.items()}))

    def _as_dict(self, applied: dict[str, Any]) -> dict[str, Any]:
        return {
            "v": _STATE_VERSION,
            "unit": self.unit,
            "province_code": self.province_code,
            "current_code": self.current_code,
            "indicator": self.indicator,
            "year": self.year,
            "seq": self._seq,
            "applied": applied,
            "quarters": [{"updated_at": iso(q.updated_at), "sources": q.sources[:]} for q in self._quarters],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SeriesState:
        if d.get("v") != _STATE_VERSION:
            raise ValueError(f"unsupported series state version {d.get('v')!r}")
        state = cls(d["unit"], d["province_code"], d["current_code"], d["indicator"], int(d["year"]))
        state._seq = int(d["seq"])
        for identity, item in d["applied"].items():
            entry = _Entry.from_list(item)
            state._applied[identity] = entry
            if not entry.retracted:
                state._quarters[entry.quarter - 1].add(identity, entry)
        # States saved before the plan year's January tail (quarter 5) existed list four quarters.
        for data, saved in zip(state._quarters, d["quarters"], strict=False):
            data.updated_at = parse_iso(saved["updated_at"])
            data.sources = list(saved["sources"])
        return state


@dataclass
class BatchResult:
    """What one batch did: outcome counts, the changed states, the quarters to publish, refused updates."""

    counts: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    changed: dict[str, SeriesState] = field(default_factory=dict)
    changed_quarters: set[tuple[str, int]] = field(default_factory=set)
    rejected: list[tuple[IndicatorUpdate, str]] = field(default_factory=list)
    """Updates that cannot be applied (unknown indicator, quarter outside 1-5, non-finite value), with why."""
    implausible: list[tuple[IndicatorUpdate, str]] = field(default_factory=list)
    """Readings refused as likely misread (``Outcome.IMPLAUSIBLE``), with why: to be dead-lettered."""
    overflow: list[tuple[IndicatorUpdate, str]] = field(default_factory=list)
    """New identities refused by a full series (``Outcome.OVERFLOW``), with why: to be dead-lettered."""


def apply_batch(
    states: MutableMapping[str, SeriesState],
    messages: Iterable[IndicatorUpdate | Retraction],
    load: Callable[[str], SeriesState | None],
) -> BatchResult:
    """Apply updates and retractions in order. ``states`` caches the batch's states; a missing key is loaded with
    ``load`` (the table) or, for an update, created. A rejected update changes nothing and does not stop the
    batch; a retraction for a series that does not exist has nothing to remove."""
    result = BatchResult()
    touched: dict[str, set[int]] = {}
    for message in messages:
        key = message.series
        state = states.get(key)
        try:
            if state is None:
                state = load(key)
                if state is None:
                    if isinstance(message, Retraction):
                        result.counts[Outcome.DUPLICATE] += 1
                        continue
                    state = SeriesState.new(
                        message.unit, message.province_code, message.current_code, message.indicator, message.year
                    )
                states[key] = state
            before = state.applied_quarter(message.identity)
            if isinstance(message, Retraction):
                outcome = state.retract(message)
            elif (why := state.implausibility(message)) is not None and not state.remembers(message):
                outcome = Outcome.IMPLAUSIBLE
                result.implausible.append((message, why))
            else:
                outcome = state.apply(message)
                if outcome is Outcome.OVERFLOW:
                    result.overflow.append((message, _FULL))
        except ValueError as exc:
            if isinstance(message, IndicatorUpdate):
                result.rejected.append((message, str(exc)))
            continue
        result.counts[outcome] += 1
        if outcome in _CHANGES:
            result.changed[key] = state
            quarters = touched.setdefault(key, set())
            if isinstance(message, IndicatorUpdate):
                quarters.add(message.quarter)
            if before is not None:
                quarters.add(before)
    for key, quarters in touched.items():
        result.changed_quarters.update((key, q) for q in result.changed[key].affected_quarters(quarters))
    return result


_CHANGES: Final = frozenset({Outcome.APPLIED, Outcome.CORRECTION, Outcome.RETRACTED})
_FULL: Final = (
    f"the series already remembers {MAX_IDENTITIES:,} event identities this year, so a new one cannot be counted "
    "without risking a double count: the feed probably sends each re-send under a new event_id"
)


def rollup(totals: Iterable[QuarterTotal], current_code: str) -> list[QuarterTotal]:
    """Post-merger view: the totals of every unit rolling up to ``current_code``, combined per
    (indicator, year, quarter), sorted by those.

    Flow, ytd and level indicators are summed (value, ytd, events; last ``as_of`` and update time are
    the latest; sources merged, most recently updated last, at most ``MAX_SOURCES``). Rates are
    skipped: they do not add. A unit without a total for a quarter another unit has contributes value
    0 and the ytd of its latest earlier quarter, so the year-to-date sum stays whole.

    In the merger year a merged province's own series continues its constituents' (summable kinds): from the third
    quarter its year-to-date readings cover the whole new territory since 1 January, so where its series rests on
    such a reading (``anchored``) that reading is the province's year-to-date figure and the constituents'
    first-half figures are inside it, not added to it; its increments alone add to the constituents' cumulative.
    """
    grouped: dict[tuple[str, int], dict[str, dict[int, QuarterTotal]]] = {}
    for total in totals:
        if total.current_code != current_code or get_indicator(total.indicator).kind is Kind.RATE:
            continue
        by_unit = grouped.setdefault((total.indicator, total.year), {})
        by_unit.setdefault(total.unit, {})[total.quarter] = total
    merged = merged_unit(current_code)
    out: list[QuarterTotal] = []
    for (indicator, year), units in sorted(grouped.items()):
        continues = year == MERGER_DATE.year and get_indicator(indicator).kind is not Kind.LEVEL
        # levels simply add up: the constituents' ended
        whole = units.pop(merged, None) if merged is not None and continues else None
        quarters = sorted({q for by_quarter in (*units.values(), whole or {}) for q in by_quarter})
        previous = _ZERO
        for quarter in quarters:
            total = _rolled(indicator, year, quarter, units.values(), current_code, whole=whole)
            if whole is not None:  # the own value follows from the combined year-to-date figures
                total = replace(total, value=_EXACT.subtract(total.ytd, previous))
                previous = total.ytd
            out.append(total)
    return out


@cache
def merged_unit(current_code: str) -> str | None:
    """The uid of the province unit that a merger created on ``MERGER_DATE`` under ``current_code``, else None."""
    reg = registry()
    unit = reg.get(current_code, on=MERGER_DATE)
    ended = [p for p in reg.constituents(current_code) if p.valid_to == MERGER_DATE]
    return unit.uid if unit.valid_from == MERGER_DATE and len(ended) > 1 else None


def _at(by_quarter: dict[int, QuarterTotal], quarter: int) -> QuarterTotal | None:
    """The unit's total of its latest quarter up to ``quarter``."""
    earlier = [q for q in by_quarter if q <= quarter]
    return by_quarter[max(earlier)] if earlier else None


def _rolled(
    indicator: str,
    year: int,
    quarter: int,
    units: Iterable[dict[int, QuarterTotal]],
    current_code: str,
    *,
    whole: dict[int, QuarterTotal] | None = None,
) -> QuarterTotal:
    value = ytd = _ZERO
    events = 0
    parts: list[QuarterTotal] = []
    for by_quarter in units:
        latest = _at(by_quarter, quarter)
        if latest is None:
            continue
        ytd = _EXACT.add(ytd, latest.ytd)
        own = by_quarter.get(quarter)
        if own is not None:
            value = _EXACT.add(value, own.value)
            events += own.events
            parts.append(own)
    anchored = any(p.anchored for p in parts)
    if whole is not None and (continued := _at(whole, quarter)) is not None:
        ytd = continued.ytd if continued.anchored else _EXACT.add(ytd, continued.ytd)
        anchored = anchored or continued.anchored
        if (own := whole.get(quarter)) is not None:
            events += own.events
            parts.append(own)
    parts.sort(key=lambda t: (t.updated_at is not None, t.updated_at or _EPOCH))
    sources: dict[str, None] = {}
    for part in parts:
        for source in part.sources:
            sources.pop(source, None)
            sources[source] = None
    last_as_of = [t.last_as_of for t in parts if t.last_as_of is not None]
    updated_at = [t.updated_at for t in parts if t.updated_at is not None]
    return QuarterTotal(
        unit=current_code,
        province_code=current_code,
        current_code=current_code,
        indicator=indicator,
        year=year,
        quarter=quarter,
        value=value,
        ytd=ytd,
        base_unit=get_indicator(indicator).base_unit,
        events=events,
        last_as_of=max(last_as_of, default=None),
        updated_at=max(updated_at, default=None),
        sources=tuple(sources)[-MAX_SOURCES:],
        anchored=anchored,
    )


def _ratio(factor: Decimal) -> str:
    return f"{factor:,.0f}"


def _micros(instant: datetime) -> int:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"as_of {instant.isoformat()} has no time zone")
    return (instant - _EPOCH) // _MICROSECOND


def _from_micros(micros: int) -> datetime:
    return (_EPOCH + timedelta(microseconds=micros)).astimezone(VN_TZ)
