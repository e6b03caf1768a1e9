"""The aggregation rules of ``shared.aggregation`` kept as small state per key, the way a Quix Streams or Faust user
keeps state: no value grows with the number of events of a series, and an event reads and writes a handful of
small values, never the whole series.

Keys (JSON values, through any store with ``get``/``set``: a Quix ``State``, a Faust table):

- ``e|<series>|<identity>``: one event identity's applied contribution ``[revision, quarter, reading, value, as_of
  µs, seq]`` (quarter 0: retracted) — the dedupe and correction lookup;
- ``s|<series>``: the series' identity: unit, province and current codes, ``seq`` (apply order), ``n`` (identities
  remembered, for ``MAX_IDENTITIES``);
- ``q|<series>|<quarter>``: one series-quarter's contribution: deltas per ``as_of`` (count, sum), readings per
  ``as_of`` (count, and the latest applied one: seq, value, identity), update time and sources. Its size grows with
  the distinct dates of a quarter (~13 for a weekly feed), not with the events;
- ``r|<series>|<quarter>|<as_of>|<chunk>``: append-only lists of 50 ``[identity, seq]`` readings of one date, read
  only in the rare case that a correction removes the latest reading of a date that has several.

Every published figure is a function of these (``SmallSeries.quarter_total``), equal to ``SeriesState``'s: the test
``tests/unit/test_bench_smallstate.py`` checks it on random update sequences.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import MAX_PREC, Context, Decimal
from typing import Any, Protocol, cast

from bench.raw_aggregate import totals_messages
from shared.aggregation import (
    IMPLAUSIBLE_FACTOR,
    MAX_IDENTITIES,
    MAX_SOURCES,
    BatchResult,
    Outcome,
    QuarterTotal,
    SeriesState,
)
from shared.indicators import Kind, get_indicator
from shared.updates import IndicatorUpdate, Retraction
from shared.vntime import VN_TZ, iso, parse_iso

_EXACT = Context(prec=MAX_PREC)
_ZERO = Decimal(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_QUARTERS = (1, 2, 3, 4, 5)
_CHUNK = 50
_CHANGES = frozenset({Outcome.APPLIED, Outcome.CORRECTION, Outcome.RETRACTED})


class Store(Protocol):
    """What the state API offers: a value (JSON) by key, None when absent."""

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


def _micros(instant: datetime) -> int:
    if instant.utcoffset() is None:
        raise ValueError(f"as_of {instant.isoformat()} has no time zone")
    return (instant - _EPOCH) // timedelta(microseconds=1)


class _Quarter:
    """One series-quarter's stored contribution (``q|`` key) and its figures."""

    def __init__(self, store: Store, key: str, data: dict[str, Any] | None) -> None:
        self.store, self.key = store, key
        data = data or {"d": {}, "r": {}, "u": None, "s": []}
        self.deltas: dict[str, list[Any]] = data["d"]  # as_of → [count, sum]
        self.readings: dict[str, list[Any]] = data["r"]  # as_of → [count, seq, value, identity, appended]
        self.updated_at: str | None = data["u"]
        self.sources: list[str] = data["s"]
        self.dirty = False
        self.cache: dict[str, Any] = {}  # derived figures, until the next change

    def save(self) -> None:
        if self.dirty:
            self.store.set(self.key, {"d": self.deltas, "r": self.readings, "u": self.updated_at, "s": self.sources})
            self.dirty = False

    @property
    def members(self) -> int:
        if "members" not in self.cache:
            self.cache["members"] = sum(c for c, _ in self.deltas.values()) + sum(r[0] for r in self.readings.values())
        return int(self.cache["members"])

    def add(self, identity: str, entry: list[Any]) -> None:
        self.cache.clear()
        _, _, reading, value, as_of, seq = entry
        date = str(as_of)
        if reading:
            found = self.readings.get(date)
            appended = found[4] if found else 0
            chunk = f"{self.key}|{date}|{appended // _CHUNK}"
            self.store.set(chunk, [*(self.store.get(chunk) if appended % _CHUNK else []), [identity, seq]])
            if found is None:
                self.readings[date] = [1, seq, value, identity, 1]
            else:  # a later apply wins a tie of dates
                self.readings[date] = [found[0] + 1, seq, value, identity, appended + 1]
        else:
            count, total = self.deltas.get(date, (0, "0"))
            self.deltas[date] = [count + 1, str(_EXACT.add(Decimal(total), Decimal(value)))]
        self.dirty = True

    def remove(self, identity: str, entry: list[Any], entries: _Entries) -> None:
        self.cache.clear()
        _, _, reading, value, as_of, seq = entry
        date = str(as_of)
        if reading:
            count, top_seq, _, _, appended = self.readings[date]
            if count == 1:
                del self.readings[date]
            elif top_seq != seq:
                self.readings[date][0] = count - 1
            else:  # the date's latest reading goes: find the next one in the date's list
                best = self._best_at(date, appended, entries, exclude=identity)
                assert best is not None
                self.readings[date] = [count - 1, best[0], best[1], best[2], appended]
        else:
            count, total = self.deltas[date]
            if count == 1:
                del self.deltas[date]
            else:
                self.deltas[date] = [count - 1, str(_EXACT.subtract(Decimal(total), Decimal(value)))]
        self.dirty = True

    def _best_at(self, date: str, appended: int, entries: _Entries, exclude: str) -> tuple[int, str, str] | None:
        """(seq, value, identity) of the latest applied live reading of ``date`` other than ``exclude``."""
        quarter = int(self.key.rsplit("|", 1)[1])
        best: tuple[int, str, str] | None = None
        for chunk in range((appended + _CHUNK - 1) // _CHUNK):
            for identity, seq in self.store.get(f"{self.key}|{date}|{chunk}") or ():
                if identity == exclude:
                    continue
                entry = entries.get(identity)
                live = entry is not None and entry[5] == seq and entry[1] == quarter
                if live and (best is None or seq > best[0]):
                    best = (seq, entry[3], identity)  # type: ignore[index]
        return best

    def touch(self, at: datetime, source: str | None) -> None:
        self.updated_at = iso(at)
        if source is not None:
            if source in self.sources:
                self.sources.remove(source)
            self.sources.append(source)
            del self.sources[:-MAX_SOURCES]
        self.dirty = True

    def latest(self) -> tuple[int, int, Decimal] | None:
        """(as_of, seq, value) of the last reading: latest as_of, tie → later applied."""
        if "latest" not in self.cache:
            found = None
            if self.readings:
                date = max(self.readings, key=int)
                _, seq, value, _, _ = self.readings[date]
                found = int(date), seq, Decimal(value)
            self.cache["latest"] = found
        latest: tuple[int, int, Decimal] | None = self.cache["latest"]
        return latest

    def latest_other(self, identity: str, entries: _Entries) -> tuple[int, int, Decimal] | None:
        """The last reading of the quarter other than ``identity``'s."""
        for date in sorted(self.readings, key=int, reverse=True):
            count, seq, value, top, appended = self.readings[date]
            if top != identity:
                return int(date), seq, Decimal(value)
            if count > 1:
                best = self._best_at(date, appended, entries, exclude=identity)
                if best is not None:
                    return int(date), best[0], Decimal(best[1])
        return None

    def cumulative(self, before: Decimal) -> Decimal:
        """C(q) of ``shared.aggregation``'s rule, given ``before`` = C(q-1)."""
        last = self.latest()
        if "sum" not in self.cache:
            self.cache["sum"] = self._delta_sum(None if last is None else last[0])
        return _EXACT.add(before if last is None else last[2], self.cache["sum"])

    def _delta_sum(self, after: int | None) -> Decimal:
        total = _ZERO
        for date, (_, value) in self.deltas.items():
            if after is None or int(date) > after:
                total = _EXACT.add(total, Decimal(value))
        return total

    def last_as_of(self) -> int | None:
        if "as_of" not in self.cache:
            self.cache["as_of"] = max((int(d) for d in (*self.deltas, *self.readings)), default=None)
        last: int | None = self.cache["as_of"]
        return last


class _Entries:
    """The ``e|`` keys of one series, read once per message."""

    def __init__(self, store: Store, series: str) -> None:
        self.store, self.prefix = store, f"e|{series}|"
        self.cache: dict[str, list[Any] | None] = {}

    def get(self, identity: str) -> list[Any] | None:
        if identity not in self.cache:
            self.cache[identity] = self.store.get(self.prefix + identity)
        return self.cache[identity]

    def set(self, identity: str, entry: list[Any]) -> None:
        self.cache[identity] = entry
        self.store.set(self.prefix + identity, entry)


class SmallSeries:
    """One series (unit, indicator, year) read and written through its small keys; ``apply``, ``retract`` and the
    totals follow ``SeriesState`` exactly."""

    def __init__(self, store: Store, series: str, meta: dict[str, Any]) -> None:
        self.store, self.series, self.meta = store, series, meta
        spec = get_indicator(meta["indicator"])
        self.summable = spec.kind in (Kind.FLOW, Kind.YTD)
        self.rate = spec.kind is Kind.RATE
        self.base_unit = spec.base_unit
        self.entries = _Entries(store, series)
        self.quarters: dict[int, _Quarter] = {}
        self.figures: list[tuple[Decimal, Decimal]] | None = None  # (value, ytd) of every quarter, until a change

    @classmethod
    def load(cls, store: Store, series: str) -> SmallSeries | None:
        meta = store.get(f"s|{series}")
        return None if meta is None else cls(store, series, meta)

    @classmethod
    def new(cls, store: Store, message: IndicatorUpdate) -> SmallSeries:
        """An empty series; raises ``UnknownIndicatorError`` for an indicator not in the catalogue."""
        meta = {
            "unit": message.unit, "province_code": message.province_code, "current_code": message.current_code,
            "indicator": message.indicator, "year": message.year, "seq": 0, "n": 0,
        }  # fmt: skip
        return cls(store, series=message.series, meta=meta)

    @property
    def current_code(self) -> str:
        return str(self.meta["current_code"])

    @property
    def indicator(self) -> str:
        return str(self.meta["indicator"])

    @property
    def year(self) -> int:
        return int(self.meta["year"])

    def quarter(self, q: int) -> _Quarter:
        if q not in self.quarters:
            key = f"q|{self.series}|{q}"
            self.quarters[q] = _Quarter(self.store, key, self.store.get(key))
        return self.quarters[q]

    def save(self) -> None:
        self.store.set(f"s|{self.series}", self.meta)
        for data in self.quarters.values():
            data.save()

    # --- applying -----------------------------------------------------------------------------------------------

    def applied_quarter(self, identity: str) -> int | None:
        entry = self.entries.get(identity)
        return None if entry is None or entry[1] == 0 else int(entry[1])

    def remembers(self, update: IndicatorUpdate) -> bool:
        entry = self.entries.get(update.identity)
        return entry is not None and entry[0] >= update.revision

    def _next_seq(self) -> int:
        self.meta["seq"] += 1
        return int(self.meta["seq"])

    def retract(self, retraction: Retraction) -> Outcome:
        identity = retraction.identity
        old = self.entries.get(identity)
        if old is None or old[1] == 0 or old[0] >= retraction.revision:
            return Outcome.DUPLICATE
        self.figures = None
        data = self.quarter(old[1])
        data.remove(identity, old, self.entries)
        data.touch(retraction.received_at, None)
        self.entries.set(identity, [retraction.revision, 0, 0, "0", old[4], self._next_seq()])
        return Outcome.RETRACTED

    def implausible(self, update: IndicatorUpdate) -> bool:
        """``SeriesState.implausibility`` is not None: a reading ``IMPLAUSIBLE_FACTOR`` off the latest other one."""
        if update.confirmed or self.rate or (self.summable and update.mode != "ytd"):
            return False
        latest = self._latest_reading(update.identity)
        if latest is None or latest[2] <= 0 or update.value <= 0:
            return False
        factor = update.value / latest[2]
        return factor >= IMPLAUSIBLE_FACTOR or (_micros(update.as_of) >= latest[0] and factor * IMPLAUSIBLE_FACTOR <= 1)

    def _latest_reading(self, other_than: str) -> tuple[int, int, Decimal] | None:
        found = [r for q in _QUARTERS if (r := self.quarter(q).latest_other(other_than, self.entries))]
        return max(found, key=lambda r: (r[0], r[1]), default=None)

    def apply(self, update: IndicatorUpdate) -> Outcome:
        if update.quarter not in _QUARTERS:
            raise ValueError(f"quarter {update.quarter!r} is not 1-5")
        if update.mode not in ("delta", "ytd"):
            raise ValueError(f"mode {update.mode!r} is neither 'delta' nor 'ytd'")
        if not update.value.is_finite():
            raise ValueError(f"value {update.value} is not finite")
        identity = update.identity
        old = self.entries.get(identity)
        if old is not None:
            if update.revision <= old[0]:
                return Outcome.DUPLICATE
            outcome = Outcome.APPLIED if old[1] == 0 else Outcome.CORRECTION
        elif self.meta["n"] >= MAX_IDENTITIES:
            return Outcome.OVERFLOW
        else:
            outcome = Outcome.APPLIED
            self.meta["n"] += 1
        reading = update.mode == "ytd" or not self.summable
        entry = [update.revision, update.quarter, int(reading), str(update.value), _micros(update.as_of), 0]
        entry[5] = self._next_seq()
        self.figures = None
        if old is not None and old[1] != 0:
            moved_from = self.quarter(old[1])
            moved_from.remove(identity, old, self.entries)
            moved_from.touch(update.received_at, None)
        self.entries.set(identity, entry)
        target = self.quarter(update.quarter)
        target.add(identity, entry)
        target.touch(update.received_at, update.source)
        return outcome

    # --- totals -------------------------------------------------------------------------------------------------

    def _data_quarters(self) -> list[int]:
        with_events = [q for q in _QUARTERS if self.quarter(q).members]
        if not with_events or not self.summable:
            return with_events
        return list(range(1, with_events[-1] + 1))

    def affected_quarters(self, touched: Iterable[int]) -> set[int]:
        changed = set(touched)
        if changed and self.summable:
            first = min(changed)
            changed.update(q for q in self._data_quarters() if q > first)
        return changed

    def _figures(self) -> list[tuple[Decimal, Decimal]]:
        if self.figures is not None:
            return self.figures
        out: list[tuple[Decimal, Decimal]] = []
        if self.summable:
            cumulative = _ZERO
            for q in _QUARTERS:
                now = self.quarter(q).cumulative(cumulative)
                out.append((_EXACT.subtract(now, cumulative), now))
                cumulative = now
        else:
            latest = _ZERO
            for q in _QUARTERS:
                last = self.quarter(q).latest()
                if last is not None:
                    latest = last[2]
                out.append((latest, latest))
        self.figures = out
        return out

    def quarter_total(self, quarter: int) -> QuarterTotal:
        value, ytd = self._figures()[quarter - 1]
        data = self.quarter(quarter)
        last_as_of = data.last_as_of()
        return QuarterTotal(
            unit=self.meta["unit"],
            province_code=self.meta["province_code"],
            current_code=self.current_code,
            indicator=self.indicator,
            year=self.year,
            quarter=quarter,
            value=value,
            ytd=ytd,
            base_unit=self.base_unit,
            events=data.members,
            last_as_of=None if last_as_of is None else (_EPOCH + timedelta(microseconds=last_as_of)).astimezone(VN_TZ),
            updated_at=parse_iso(data.updated_at),
            sources=tuple(data.sources),
            anchored=any(self.quarter(q).latest() is not None for q in range(1, quarter + 1)),
        )

    def totals(self) -> list[QuarterTotal]:
        return [self.quarter_total(q) for q in self._data_quarters()]


def apply_one(store: Store, message: IndicatorUpdate | Retraction) -> tuple[BatchResult, SmallSeries | None]:
    """``apply_batch`` of one message on the store: what it did, and its series (saved if it changed)."""
    result = BatchResult()
    key = message.series
    series = SmallSeries.load(store, key)
    try:
        if series is None:
            if isinstance(message, Retraction):
                result.counts[Outcome.DUPLICATE] += 1
                return result, None
            series = SmallSeries.new(store, message)
        before = series.applied_quarter(message.identity)
        if isinstance(message, Retraction):
            outcome = series.retract(message)
        elif series.implausible(message) and not series.remembers(message):
            outcome = Outcome.IMPLAUSIBLE
        else:
            outcome = series.apply(message)
    except ValueError as exc:
        if isinstance(message, IndicatorUpdate):
            result.rejected.append((message, str(exc)))
        return result, series
    result.counts[outcome] += 1
    if outcome in _CHANGES:
        series.save()
        result.changed[key] = cast(SeriesState, series)  # read through the same attributes
        quarters = {message.quarter} if isinstance(message, IndicatorUpdate) else set()
        if before is not None:
            quarters.add(before)
        result.changed_quarters.update((key, q) for q in series.affected_quarters(quarters))
    return result, series


def totals_of(store: Store, message: IndicatorUpdate | Retraction) -> list[tuple[bytes, bytes]]:
    """Apply one message and return the ``indicator.totals`` messages it publishes, as the aggregate worker."""
    result, series = apply_one(store, message)
    if not result.changed:
        return []

    def lookup(key: str) -> SeriesState | None:
        found = series if series is not None and key == series.series else SmallSeries.load(store, key)
        return cast(SeriesState | None, found)

    return totals_messages(result, lookup)
