"""Deterministic sample provincial feeds for a year: the demo's input and a fixture for tests.

Seven province offices publish what their staff really send: monthly reports on cut-off days (20th-25th,
moved off weekends) with year-to-date readings, quarter-end reviews, weekly increments of disbursed capital
and of site clearance per project, in every spelling of the province, Vietnamese or English units and number
notation, composed or decomposed Unicode. About 3% of events are re-sent (duplicates), a few are corrected
(revision 1) and about 2% are broken, each with the dead-letter reason the ingest worker must give. For 2024
the figures follow the seed articles (Bắc Giang's first quarter, Lạng Sơn's lagging disbursement, Hải Phòng's
site clearance); see ``deploy/samples/README.md``. The offices, their spellings and figures are data:
``offices.yaml`` next to this module.
"""

import calendar
import json
import random
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any, Final, Literal

import orjson
import yaml

from shared.indicators import CATALOGUE
from shared.numbers import NumberError, parse_number
from shared.units import Unit, lookup_unit
from shared.vntime import VN_TZ

__all__ = ["REASONS", "SEED_YEAR", "Kind", "SampleEvent", "generate_year", "write_feeds"]

Kind = Literal["valid", "duplicate", "correction", "bad"]

#: Dead-letter reason codes the bad sample events carry (each occurs at least once).
REASONS: Final = (
    "not_json",
    "not_an_object",
    "missing_field",
    "wrong_type",
    "invalid_field",
    "unknown_indicator",
    "unknown_province",
    "impossible_date",
    "unknown_unit",
    "unit_mismatch",
    "negative_value",
    "ambiguous_number",
    "invalid_number",
)
#: The year whose figures follow the seed articles; other years use the same curves without exact anchors.
SEED_YEAR: Final = 2024

_DUPLICATE_SHARE: Final = 0.031
_BAD_SHARE: Final = 0.021
_CORRECTIONS: Final = 24


@dataclass(frozen=True)
class SampleEvent:
    """One message of a sample feed: its topic, value bytes, what it is, and the expected dead-letter reason."""

    topic: str
    value: bytes
    kind: Kind
    expect_reason: str | None


# ---------------------------------------------------------------------------------------------------------
# Offices and series

Curve = tuple[tuple[int, int, float], ...]
"""Cumulative fraction of the year total by the end of (month, day); day 31 means the month's last day."""
Part = tuple[str, str, str]
"""A sub-series sent as its own events: (id slug, Vietnamese label, English label)."""


@dataclass(frozen=True)
class _Series:
    indicator: str
    mode: Literal["ytd", "delta"]
    schedule: Literal["monthly", "monthly+quarters", "15th", "15th+end", "weekly", "quarters"]
    palette: str
    total: float = 0.0
    curve: Curve = ()
    parts: tuple[Part, ...] = ()
    rates: tuple[str, ...] = ()
    id_template: str | None = None
    anchors: Mapping[tuple[int, int], Decimal] = field(default_factory=dict)
    """Exact year-to-date readings (month, day) of the seed year."""
    monthly: Mapping[int, Decimal] = field(default_factory=dict)
    """Exact monthly increments of the seed year."""
    fixed: Mapping[tuple[int, int], Mapping[str, object]] = field(default_factory=dict)
    """Seed-year events written exactly as given (their amounts are in ``anchors``)."""


@dataclass(frozen=True)
class _Office:
    topic: str
    place_vi: str
    place_en: str
    names: tuple[tuple[str, int], ...]
    ids: str
    time_style: Literal["date", "offset", "naive", "space", "utc", "utc_ms"]
    en_share: float
    formats: tuple[tuple[str, int], ...]
    nfd_share: float
    encoding: Literal["compact", "ascii", "sorted"]
    series: tuple[_Series, ...]
    part_separator: str = "-"
    explicit_revision: bool = False
    week_day: int = 4  # Friday
    period_field: str | None = None
    extras: tuple[tuple[str, object], ...] = ()


_DATA: Final = Path(__file__).with_name("offices.yaml")


def _curve(raw: Sequence[Sequence[object]], scale: float | None = None) -> Curve:
    """``[[month, day, fraction], ...]``; a fraction may be written ``"a/b"``; ``scale`` multiplies each one."""
    points = []
    for month, day, written in raw:
        fraction = _ratio(written) if isinstance(written, str) else written
        points.append((int(month), int(day), fraction if scale is None else fraction * scale))  # type: ignore[operator]
    return tuple(points)  # type: ignore[arg-type]


def _ratio(text: str) -> float:
    """``"a/b"`` as the float ``a / b`` (what Python's ``4_680 / 15_200`` is)."""
    numerator, _, denominator = text.partition("/")
    return float(numerator) / float(denominator)


def _day_key(text: str) -> tuple[int, int]:
    month, day = text.split("-")
    return int(month), int(day)


def _load_offices(path: Path = _DATA) -> tuple[tuple[_Office, ...], Mapping[str, float], Mapping[str, tuple[str, ...]]]:
    """The offices of ``offices.yaml``, the capital sources' shares and the offices' province-name typos."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    weights = data["month_weights"]
    curves = {name: _curve(points) for name, points in data["curves"].items()}
    curves["seasonal"] = tuple((month, 31, sum(weights[:month]) / sum(weights)) for month in range(1, 13))
    sources = {slug: (slug, vi, en) for slug, (vi, en, _) in data["capital_sources"].items()}
    offices = []
    for raw in data["offices"]:
        series = []
        for indicator, standard in data["standard"].items():
            spec = {**standard, **raw["series"].get(indicator, {})}
            curve = spec.get("curve")
            if isinstance(curve, str):
                curve = curves[curve] if "scale" not in spec else _curve(curves[curve], spec["scale"])
            elif curve is not None:
                curve = _curve(curve, spec.get("scale"))
            parts = tuple(sources[slug] for slug in spec.get("sources", ()))
            parts += tuple((slug, name, name) for slug, name in spec.get("projects", {}).items())
            series.append(
                _Series(
                    indicator,
                    spec["mode"],
                    spec["schedule"],
                    spec["palette"],
                    spec.get("total", 0.0),
                    curve or (),
                    parts,
                    tuple(spec.get("rates", ())),
                    spec.get("id_template"),
                    {_day_key(k): Decimal(v) for k, v in spec.get("anchors", {}).items()},
                    {int(k): Decimal(v) for k, v in spec.get("monthly", {}).items()},
                    {_day_key(k): v for k, v in spec.get("fixed", {}).items()},
                )
            )
        offices.append(
            _Office(
                topic=raw["topic"],
                place_vi=raw["place_vi"],
                place_en=raw["place_en"],
                names=tuple(raw["names"].items()),
                ids=raw["ids"],
                time_style=raw["time_style"],
                en_share=raw["en_share"],
                formats=tuple(raw["formats"].items()),
                nfd_share=raw["nfd_share"],
                encoding=raw["encoding"],
                series=tuple(series),
                part_separator=raw.get("part_separator", "-"),
                explicit_revision=raw.get("explicit_revision", False),
                week_day=raw.get("week_day", 4),
                period_field=raw.get("period_field"),
                extras=tuple(raw.get("extras", {}).items()),
            )
        )
    shares = {slug: share for slug, (_, _, share) in data["capital_sources"].items()}
    typos = {raw["topic"]: tuple(raw["typos"]) for raw in data["offices"]}
    return tuple(offices), shares, typos


_OFFICES, _CAPITAL_WEIGHTS, _BAD_PROVINCES = _load_offices()

# ---------------------------------------------------------------------------------------------------------
# Units, numbers, wording

_PALETTES: Final[Mapping[str, Mapping[str, tuple[tuple[str, int], ...]]]] = {
    "vnd": {
        "vi": (("tỷ đồng", 6), ("tỷ VND", 1), ("tỉ đồng", 1)),
        "en": (("billion VND", 4), ("bn VND", 1)),
    },
    "vnd_large": {
        "vi": (("nghìn tỷ đồng", 3), ("tỷ đồng", 3), ("ngàn tỷ đồng", 1)),
        "en": (("trillion VND", 2), ("billion VND", 2)),
    },
    "vnd_small": {
        "vi": (("tỷ đồng", 5), ("triệu đồng", 2)),
        "en": (("billion VND", 3), ("million VND", 1)),
    },
    "usd": {
        "vi": (("triệu USD", 5), ("tỷ USD", 1)),
        "en": (("million USD", 4), ("USD million", 1), ("billion USD", 1)),
    },
    "usd_small": {"vi": (("triệu USD", 1),), "en": (("million USD", 3), ("USD million", 1))},
    "area": {"vi": (("ha", 6), ("m2", 1), ("hecta", 1)), "en": (("ha", 3), ("hectares", 1), ("m2", 1))},
    "enterprises": {
        "vi": (("doanh nghiệp", 4), ("count", 1)),
        "en": (("enterprises", 2), ("businesses", 1)),
    },
    "jobs": {
        "vi": (("lao động", 3), ("người", 1), ("việc làm", 1)),
        "en": (("jobs", 2), ("workers", 1)),
    },
    "percent": {"vi": (("%", 1),), "en": (("%", 1),)},
}
#: The unit series totals are kept in, per dimension.
_CANONICAL: Final = {"vnd": "tỷ đồng", "usd": "triệu USD", "area_ha": "ha", "count": "count", "percent": "%"}
#: Decimals staff write in each unit (none once a figure reaches the thousands, except percentages).
_DECIMALS: Final = {"tỷ đồng": 1, "nghìn tỷ đồng": 2, "triệu USD": 2, "tỷ USD": 2, "ha": 2, "%": 2}

_SHORT: Final = {
    "public_investment_disbursed": "giaingan",
    "state_budget_revenue": "ngansach",
    "industrial_production_value": "sxcn",
    "import_export_value": "xnk",
    "investment_attracted": "fdi",
    "new_enterprises": "dnmoi",
    "registered_capital": "vondk",
    "new_jobs": "vieclam",
    "site_clearance_area": "gpmb",
    "grdp_growth": "grdp",
}
_AGENCY: Final = {
    "public_investment_disbursed": ("Kho bạc Nhà nước", "State Treasury,"),
    "state_budget_revenue": ("Sở Tài chính", "Department of Finance,"),
    "industrial_production_value": ("Cục Thống kê", "Statistics Office,"),
    "grdp_growth": ("Cục Thống kê", "Statistics Office,"),
    "import_export_value": ("Sở Công Thương", "Department of Industry and Trade,"),
    "investment_attracted": ("Sở Kế hoạch và Đầu tư", "Department of Planning and Investment,"),
    "new_enterprises": ("Sở Kế hoạch và Đầu tư", "Department of Planning and Investment,"),
    "registered_capital": ("Sở Kế hoạch và Đầu tư", "Department of Planning and Investment,"),
    "new_jobs": ("Sở Lao động - Thương binh và Xã hội", "Department of Labour, Invalids and Social Affairs,"),
    "site_clearance_area": ("Trung tâm Phát triển quỹ đất", "Land Fund Development Centre,"),
}
_ROMAN: Final = ("I", "II", "III", "IV")
_OFFICE_HOURS: Final = ((15, 0), (15, 30), (16, 0), (16, 30), (17, 0), (17, 30))


def _group(digits: str, separator: str) -> str:
    head = len(digits) % 3 or 3
    return separator.join([digits[:head], *(digits[i : i + 3] for i in range(head, len(digits), 3))])


def _format(display: Decimal, style: str, lang: Literal["vi", "en"] | None) -> int | float | str:
    """Write a number the way ``style`` says, falling back to a JSON number if the text would misread."""
    text = format(display.normalize(), "f")
    if style != "number":
        negative, digits = text.startswith("-"), text.lstrip("-")
        integer, _, fraction = digits.partition(".")
        if style == "grouped" and lang is not None:
            integer = _group(integer, "." if lang == "vi" else ",")
        decimal_separator = "," if lang == "vi" else "."
        written = ("-" if negative else "") + integer + (decimal_separator + fraction if fraction else "")
        try:
            if parse_number(written, lang) == display:
                return written
        except NumberError:
            pass
    return int(display) if display == display.to_integral_value() else float(display)


def _pick(rng: random.Random, weighted: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([item for item, _ in weighted], weights=[weight for _, weight in weighted])[0]


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _day(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, _last_day(year, month)))


def _fraction(curve: Curve, year: int, day: date) -> float:
    """The cumulative fraction of the year total at the end of ``day``: linear between the curve's points."""
    points = [(date(year, 1, 1).toordinal() - 1, 0.0)]
    points += [(_day(year, m, d).toordinal(), f) for m, d, f in curve]
    x = day.toordinal()
    for (x0, f0), (x1, f1) in pairwise(points):
        if x <= x1:
            return f0 + (f1 - f0) * (x - x0) / (x1 - x0)
    return points[-1][1]


@dataclass(frozen=True)
class _Period:
    kind: Literal["month", "quarter", "week", "day"]
    number: int
    day: date

    def code(self) -> str:
        if self.kind == "month":
            return f"t{self.number:02d}"
        if self.kind == "quarter":
            return f"q{self.number}"
        if self.kind == "week":
            return f"w{self.number:02d}"
        return f"d{self.day:%m%d}"

    def label(self, lang: str) -> str:
        year = self.day.year
        if self.kind == "month":
            return f"tháng {self.number}/{year}" if lang == "vi" else f"{calendar.month_name[self.number]} {year}"
        if self.kind == "quarter":
            return f"quý {_ROMAN[self.number - 1]}/{year}" if lang == "vi" else f"Q{self.number} {year}"
        if self.kind == "week":
            return f"tuần {self.number}/{year}" if lang == "vi" else f"week {self.number} of {year}"
        return f"đến ngày {self.day:%d/%m/%Y}" if lang == "vi" else f"to {self.day:%d/%m/%Y}"


# ---------------------------------------------------------------------------------------------------------
# Generation


@dataclass
class _Reading:
    """One original event before encoding; ``amount`` is its figure in the dimension's canonical unit."""

    office: _Office
    series: _Series
    day: date
    sent: datetime
    seq: int
    amount: Decimal
    obj: dict[str, object]
    unit: str
    style: str
    lang: Literal["vi", "en"]
    exact: bool


def generate_year(year: int = SEED_YEAR, seed: int = 2024) -> list[SampleEvent]:
    """Return a year of sample events of all seven offices in send order (by ``as_of``; re-sends later).

    Deterministic for a given year and seed. Exact seed-article figures apply to :data:`SEED_YEAR` only.
    """
    return _Generator(year, seed).run()


def write_feeds(events: Sequence[SampleEvent], directory: Path) -> list[Path]:
    """Write one JSON-lines file per topic (``feed.bac-giang.jsonl``, ...), events in order; return the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    by_topic: dict[str, list[bytes]] = {}
    for event in events:
        by_topic.setdefault(event.topic, []).append(event.value)
    paths = []
    for topic in sorted(by_topic):
        path = directory / f"{topic}.jsonl"
        path.write_bytes(b"".join(value + b"\n" for value in by_topic[topic]))
        paths.append(path)
    return paths


class _Generator:
    def __init__(self, year: int, seed: int) -> None:
        self.year = year
        self.seeded = year == SEED_YEAR
        self.rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
        self.seq = 0
        self.counters: dict[str, int] = {}

    def run(self) -> list[SampleEvent]:
        groups: list[list[_Reading]] = []
        for office in _OFFICES:
            cutoffs = {month: self._cutoff(month) for month in range(1, 13)}
            for series in office.series:
                groups += self._series(office, series, cutoffs)
        originals = sorted((r for group in groups for r in group), key=lambda r: (r.sent, r.seq))
        out = [(r.sent, r.seq, SampleEvent(r.office.topic, _encode(r.office, r.obj), "valid", None)) for r in originals]
        out += self._corrections(groups)
        out += self._duplicates(originals, round(len(originals) * _DUPLICATE_SHARE))
        out += self._bad(originals, max(len(REASONS), round(len(originals) * _BAD_SHARE)))
        out.sort(key=lambda item: (item[0], item[1]))
        return [event for _, _, event in out]

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # -- schedules --------------------------------------------------------------------------------------

    def _cutoff(self, month: int) -> date:
        day = date(self.year, month, self.rng.randint(20, 25))
        return day - timedelta(days=max(0, day.weekday() - 4))  # Saturday/Sunday -> Friday

    def _schedule(self, office: _Office, series: _Series, cutoffs: Mapping[int, date]) -> list[_Period]:
        year = self.year
        quarters = [_Period("quarter", q, _day(year, 3 * q, 31)) for q in range(1, 5)]
        if series.schedule == "quarters":
            return quarters
        if series.schedule == "weekly":
            first = date(year, 1, 1)
            first += timedelta(days=(office.week_day - first.weekday()) % 7)
            weeks = [_Period("week", n + 1, first + timedelta(weeks=n)) for n in range(53)]
            weeks = [p for p in weeks if p.day.year == year]
            if weeks[-1].day != date(year, 12, 31):
                weeks.append(_Period("week", len(weeks) + 1, date(year, 12, 31)))
            return weeks
        if series.schedule == "15th":
            return [_Period("day", m, date(year, m, 15)) for m in range(1, 13)]
        if series.schedule == "15th+end":
            return [_Period("day", m, date(year, m, d)) for m in range(1, 13) for d in (15, _last_day(year, m))]
        months = [_Period("month", m, day) for m, day in cutoffs.items()]
        if series.schedule == "monthly":
            return months
        return sorted(months + quarters, key=lambda p: p.day)

    # -- series -----------------------------------------------------------------------------------------

    def _series(self, office: _Office, series: _Series, cutoffs: Mapping[int, date]) -> list[list[_Reading]]:
        periods = self._schedule(office, series, cutoffs)
        if series.rates:
            return [
                [self._reading(office, series, p, Decimal(series.rates[p.number - 1]), exact=True) for p in periods]
            ]
        if series.mode == "ytd":
            return [self._ytd(office, series, periods)]
        if series.schedule == "weekly":
            return self._weekly(office, series, periods)
        return [self._monthly(office, series, periods)]

    def _ytd(self, office: _Office, series: _Series, periods: Sequence[_Period]) -> list[_Reading]:
        readings: list[_Reading] = []
        floor = Decimal(0)
        for period in periods:
            anchor = series.anchors.get((period.day.month, period.day.day)) if self.seeded else None
            if anchor is not None:
                reading = self._reading(office, series, period, anchor, exact=True)
            else:
                noise = self.rng.uniform(-0.008, 0.008)
                amount = series.total * _fraction(series.curve, self.year, period.day) * (1 + noise)
                reading = self._reading(office, series, period, Decimal(f"{amount:.4f}"), floor=floor)
            floor = reading.amount
            readings.append(reading)
        return readings

    def _monthly(self, office: _Office, series: _Series, periods: Sequence[_Period]) -> list[_Reading]:
        readings = []
        before = date(self.year, 1, 1) - timedelta(days=1)
        for period in periods:
            fixed = series.monthly.get(period.number) if self.seeded else None
            if fixed is not None:
                readings.append(self._reading(office, series, period, fixed, exact=True))
            else:
                share = _fraction(series.curve, self.year, period.day) - _fraction(series.curve, self.year, before)
                amount = series.total * share * self.rng.uniform(0.9, 1.1)
                readings.append(self._reading(office, series, period, Decimal(f"{amount:.4f}")))
            before = period.day
        return readings

    def _weekly(self, office: _Office, series: _Series, periods: Sequence[_Period]) -> list[list[_Reading]]:
        parts: Sequence[Part | None] = series.parts or [None]
        if series.indicator == "public_investment_disbursed":
            weights = [_CAPITAL_WEIGHTS[p[0]] if p else 1.0 for p in parts]
        else:
            weights = [self.rng.uniform(0.5, 1.5) for _ in parts]
        shares = [w / sum(weights) for w in weights]
        skip = 0.12 if series.parts else 0.0
        groups: list[list[_Reading]] = [[] for _ in parts]
        before = date(self.year, 1, 1) - timedelta(days=1)
        for period in periods:
            week = _fraction(series.curve, self.year, period.day) - _fraction(series.curve, self.year, before)
            before = period.day
            for part, share, group in zip(parts, shares, groups, strict=True):
                if self.rng.random() < skip:
                    continue
                noise = self.rng.uniform(0.4, 1.6) if series.parts else self.rng.uniform(0.8, 1.2)
                amount = series.total * week * share * noise / (1 - skip)
                reading = self._reading(office, series, period, Decimal(f"{amount:.4f}"), part=part)
                if reading.amount > 0:
                    group.append(reading)
        return groups

    # -- one reading ------------------------------------------------------------------------------------

    def _reading(
        self,
        office: _Office,
        series: _Series,
        period: _Period,
        amount: Decimal,
        *,
        exact: bool = False,
        floor: Decimal = Decimal(0),
        part: Part | None = None,
    ) -> _Reading:
        rng = self.rng
        lang: Literal["vi", "en"] = "en" if rng.random() < office.en_share else "vi"
        weekly = period.kind == "week"
        as_of, sent = self._stamp(office, period.day, weekly)
        unit, style, value, amount = self._value(office, series, amount, lang, exact=exact, floor=floor)
        fixed = series.fixed.get((period.day.month, period.day.day)) if self.seeded else None
        if fixed is not None:
            obj, unit = dict(fixed), str(fixed["unit"])
        else:
            obj = {
                "event_id": self._event_id(office, series, period, part),
                "province": _pick(rng, office.names),
                "indicator": series.indicator,
                "as_of": as_of,
                "value": value,
                "unit": unit,
                "mode": series.mode,
            }
            roll = rng.random()
            if roll < 0.8:
                obj["source"] = self._source(office, series, period, part, lang)
            elif roll < 0.83:
                obj["source"] = None
            if office.explicit_revision:
                obj["revision"] = 0
            if office.period_field:
                obj[office.period_field] = period.label("vi").capitalize()
            obj.update(office.extras)
            if rng.random() < office.nfd_share:
                obj = {k: unicodedata.normalize("NFD", v) if isinstance(v, str) else v for k, v in obj.items()}
        return _Reading(office, series, period.day, sent, self._next_seq(), amount, obj, unit, style, lang, exact)

    def _stamp(self, office: _Office, day: date, weekly: bool) -> tuple[str, datetime]:
        """The ``as_of`` text in the office's style and the instant it means (the send time)."""
        style = office.time_style
        if style == "date":
            return day.isoformat(), datetime.combine(day, time(23, 59, 59), VN_TZ)
        if style == "utc_ms" and weekly and day.weekday() == office.week_day:
            return f"{day}T18:00:00Z", datetime.combine(day, time(18), UTC)
        hour, minute = (17, 0) if weekly else _pick(self.rng, [(hm, 1) for hm in _OFFICE_HOURS])
        local = datetime.combine(day, time(hour, minute), VN_TZ)
        if style == "offset":
            return f"{day}T{hour:02d}:{minute:02d}:00+07:00", local
        if style == "naive":
            return f"{day}T{hour:02d}:{minute:02d}:00", local
        if style == "space":
            return f"{day} {hour:02d}:{minute:02d}", local
        utc = local.astimezone(UTC)
        if style == "utc":
            return f"{utc:%Y-%m-%dT%H:%M}:00Z", local
        return f"{utc:%Y-%m-%dT%H:%M}:00.000Z", local

    def _value(
        self,
        office: _Office,
        series: _Series,
        amount: Decimal,
        lang: Literal["vi", "en"],
        *,
        exact: bool,
        floor: Decimal,
    ) -> tuple[str, str, int | float | str, Decimal]:
        """Choose a unit and notation; return (unit, style, JSON value, the amount as written)."""
        canonical = lookup_unit(_CANONICAL[CATALOGUE[series.indicator].dimension])
        palette = _PALETTES[series.palette][lang]
        style = _pick(self.rng, office.formats)
        unit_text = _pick(self.rng, palette)
        unit = lookup_unit(unit_text)
        display = _rounded(amount * canonical.factor / unit.factor, unit)
        written = display * unit.factor / canonical.factor
        if exact or written < floor:
            exact_units = [(text, w) for text, w in palette if lookup_unit(text).factor == canonical.factor]
            unit_text = _pick(self.rng, exact_units)
            written = display = amount if exact else floor
        value = _format(display, style, lookup_unit(unit_text).lang)
        return unit_text, style, value, written.normalize()

    def _event_id(self, office: _Office, series: _Series, period: _Period, part: Part | None) -> str:
        count = self.counters[office.topic] = self.counters.get(office.topic, 0) + 1
        template = series.id_template or office.ids
        return template.format(
            year=self.year,
            period=period.code(),
            short=_SHORT[series.indicator],
            part=f"{office.part_separator}{part[0]}" if part else "",
            indicator=series.indicator,
            compact=f"{period.day:%Y%m%d}",
            date=period.day.isoformat(),
            seq=f"{count:05d}",
            uuid=uuid.UUID(int=self.rng.getrandbits(128), version=4),
            hex=f"{self.rng.getrandbits(48):012x}",
        )

    def _source(self, office: _Office, series: _Series, period: _Period, part: Part | None, lang: str) -> str:
        agency_vi, agency_en = _AGENCY[series.indicator]
        if lang == "vi":
            text = f"{agency_vi} {office.place_vi}, {period.label('vi')}"
        else:
            text = f"{agency_en} {office.place_en}, {period.label('en')}"
        if part is not None:
            text += f" - {part[1] if lang == 'vi' else part[2]}"
        return text

    # -- re-sends, corrections, broken events -----------------------------------------------------------

    def _corrections(self, groups: Sequence[list[_Reading]]) -> list[tuple[datetime, int, SampleEvent]]:
        candidates = [
            (group, i)
            for group in groups
            for i, reading in enumerate(group)
            if not reading.exact and reading.series.indicator != "grdp_growth"
        ]
        out = []
        for group, i in self.rng.sample(candidates, len(candidates)):
            if len(out) == _CORRECTIONS:
                break
            original = group[i]
            event = self._corrected(original, group[i + 1] if i + 1 < len(group) else None)
            if event is not None:
                sent = original.sent + timedelta(days=self.rng.randint(3, 20), hours=self.rng.randint(0, 8))
                out.append((sent, self._next_seq(), event))
        return out

    def _corrected(self, original: _Reading, following: _Reading | None) -> SampleEvent | None:
        """Revision 1 with a changed value; a year-to-date figure stays between its neighbours."""
        canonical = lookup_unit(_CANONICAL[CATALOGUE[original.series.indicator].dimension])
        unit = lookup_unit(original.unit)
        if original.series.mode == "ytd":
            ceiling = following.amount if following else original.amount * Decimal("1.02")
            target = original.amount + (ceiling - original.amount) * Decimal(f"{self.rng.uniform(0.2, 0.6):.3f}")
        else:
            change = self.rng.uniform(0.04, 0.15) * self.rng.choice((-1, 1))
            target = original.amount * Decimal(f"{1 + change:.3f}")
        display = _rounded(target * canonical.factor / unit.factor, unit)
        written = display * unit.factor / canonical.factor
        if written == original.amount or written <= 0:
            return None
        if following is not None and original.series.mode == "ytd" and written > following.amount:
            return None
        obj = dict(original.obj)
        obj["value"] = _format(display, original.style, unit.lang)
        obj["revision"] = 1
        if isinstance(obj.get("source"), str):
            obj["source"] = f"{obj['source']} ({'số liệu điều chỉnh' if original.lang == 'vi' else 'revised'})"
        return SampleEvent(original.office.topic, _encode(original.office, obj), "correction", None)

    def _duplicates(self, originals: Sequence[_Reading], count: int) -> list[tuple[datetime, int, SampleEvent]]:
        out = []
        for reading in self.rng.sample(list(originals), count):
            if self.rng.random() < 0.8:
                value = _encode(reading.office, reading.obj)
            else:  # the same event written by another client: other key order and spacing
                keys = list(reading.obj)
                self.rng.shuffle(keys)
                value = json.dumps({k: reading.obj[k] for k in keys}, ensure_ascii=False).encode()
            delay = (
                timedelta(seconds=self.rng.randint(1, 30))
                if self.rng.random() < 0.5
                else timedelta(hours=self.rng.randint(1, 48))
            )
            event = SampleEvent(reading.office.topic, value, "duplicate", None)
            out.append((reading.sent + delay, self._next_seq(), event))
        return out

    def _bad(self, originals: Sequence[_Reading], count: int) -> list[tuple[datetime, int, SampleEvent]]:
        by_topic: dict[str, list[_Reading]] = {}
        for reading in originals:
            if not reading.exact:
                by_topic.setdefault(reading.office.topic, []).append(reading)
        topics = sorted(by_topic)
        out = []
        for n in range(count):
            reason = REASONS[n % len(REASONS)]
            variant = n // len(REASONS)
            pool = [r for r in by_topic[topics[n % len(topics)]] if _fits(reason, r)]
            template = self.rng.choice(pool)
            value = _break(reason, variant, template)
            event = SampleEvent(template.office.topic, value, "bad", reason)
            out.append((template.sent - timedelta(minutes=self.rng.randint(5, 180)), self._next_seq(), event))
        return out


def _rounded(value: Decimal, unit: Unit) -> Decimal:
    decimals = 0 if value >= 1000 and unit.symbol != "%" else _DECIMALS.get(unit.symbol, 0)
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _encode(office: _Office, obj: Mapping[str, object]) -> bytes:
    if office.encoding == "ascii":
        return json.dumps(obj, separators=(",", ":")).encode()
    if office.encoding == "sorted":
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    return orjson.dumps(obj)


# ---------------------------------------------------------------------------------------------------------
# Broken events: each has exactly one fault, so its dead-letter reason is certain.

_BAD_INDICATORS: Final = {
    "public_investment_disbursed": "public_investment_disbursement",
    "state_budget_revenue": "budget_revenue",
    "industrial_production_value": "iip",
    "import_export_value": "import_export",
    "investment_attracted": "fdi_attracted",
    "new_enterprises": "new_enterprise",
    "registered_capital": "registered_capital_vnd",
    "new_jobs": "jobs_created",
    "site_clearance_area": "gpmb_area",
    "grdp_growth": "grdp_growth_rate",
}
#: Unit spellings staff get wrong, by the unit they meant (abbreviations, typos, a unit of another system).
_BAD_UNITS: Final = {
    "tỷ đồng": ("tỷ", "bilion VND", "tỷ đ"),
    "nghìn tỷ đồng": ("nghìn tỷ", "trilion VND"),
    "triệu đồng": ("tr.đồng", "triệu"),
    "triệu USD": ("triệu đô", "mil USD", "tr. USD"),
    "tỷ USD": ("tỷ đô", "bil. USD"),
    "ha": ("mẫu", "ha.", "hec"),
    "m²": ("m^2", "mét2"),
    "%": ("phần trăm (%)", "%/năm"),
}
_BAD_COUNT_UNITS: Final = ("DN", "lượt", "ng.")
#: A unit of another dimension, as staff mix them up (domestic investment in VND, households for area, ...).
_MISMATCHED_UNITS: Final = {
    "vnd": "triệu USD",
    "usd": "tỷ đồng",
    "area_ha": "hộ",
    "count": "tỷ đồng",
    "percent": "tỷ đồng",
}


def _fits(reason: str, reading: _Reading) -> bool:
    """Whether a reading can carry the fault of ``reason`` (and nothing else)."""
    indicator = reading.series.indicator
    if reason == "negative_value":
        return CATALOGUE[indicator].nonnegative
    if reason == "ambiguous_number":
        if indicator == "site_clearance_area":
            return 1_000 <= reading.amount * 10_000 < 1_000_000
        return CATALOGUE[indicator].dimension == "count" and 1_000 <= reading.amount < 1_000_000
    return True


def _break(reason: str, variant: int, reading: _Reading) -> bytes:  # noqa: PLR0915 - one branch per reason
    """The reading's event with the fault of ``reason``; ``variant`` picks one of the ways staff make it."""
    obj = dict(reading.obj)
    raw = _encode(reading.office, obj)
    dimension = CATALOGUE[reading.series.indicator].dimension
    if reason == "not_json":
        broken = (
            raw[: len(raw) // 2],
            raw[:-1] + b",}",
            str(obj).encode(),
            ",".join(str(v) for v in obj.values()).encode(),
            raw.replace(b'"mode"', b"mode", 1),
        )
        return broken[variant % len(broken)]
    if reason == "not_an_object":
        shapes: tuple[object, ...] = ([obj], orjson.dumps(obj).decode(), None, [obj, obj], 4680)
        return orjson.dumps(shapes[variant % len(shapes)])
    if reason == "missing_field":
        del obj[("unit", "as_of", "mode", "value", "event_id")[variant % 5]]
    elif reason == "wrong_type":
        changes: tuple[tuple[str, object], ...] = (
            ("value", True),
            ("province", int(next(name for name, _ in reading.office.names if name.isdigit()))),
            ("revision", "1"),
            ("value", None),
            ("as_of", int(f"{reading.day:%Y%m%d}")),
        )
        key, wrong = changes[variant % len(changes)]
        obj[key] = wrong
    elif reason == "invalid_field":
        changes = (
            ("mode", "lũy kế"),
            ("as_of", f"{reading.day:%d/%m/%Y}"),
            ("revision", -1),
            ("event_id", ""),
            ("mode", "YTD"),
        )
        key, wrong = changes[variant % len(changes)]
        obj[key] = wrong
    elif reason == "unknown_indicator":
        obj["indicator"] = _BAD_INDICATORS[reading.series.indicator]
    elif reason == "unknown_province":
        typos = (*_BAD_PROVINCES[reading.office.topic], "Hà Tây", "99")
        obj["province"] = typos[variant % len(typos)]
    elif reason == "impossible_date":
        day = reading.day
        as_of = str(obj["as_of"])
        if day.day > 12:  # day and month swapped
            wrong = f"{day.year}-{day.day:02d}-{day.month:02d}"
        else:
            wrong = f"{day.year}-{day.month:02d}-{_last_day(day.year, day.month) + 1}"
        obj["as_of"] = wrong + as_of[10:]
    elif reason == "unknown_unit":
        choices = _BAD_UNITS.get(lookup_unit(reading.unit).symbol, _BAD_COUNT_UNITS)
        obj["unit"] = choices[variant % len(choices)]
    elif reason == "unit_mismatch":
        obj["unit"] = _MISMATCHED_UNITS[dimension]
        obj["value"] = _number(obj["value"], reading)
    elif reason == "negative_value":
        value = obj["value"]
        obj["value"] = f"-{value}" if isinstance(value, str) else -value  # type: ignore[operator]
    elif reason == "ambiguous_number":
        separator = "." if variant % 2 == 0 else ","
        if reading.series.indicator == "site_clearance_area":
            amount, obj["unit"] = int(reading.amount * 10_000), "m2"
        else:
            amount, obj["unit"] = int(reading.amount), "count"
        obj["value"] = f"{amount // 1000}{separator}{amount % 1000:03d}"
    elif reason == "invalid_number":
        written = str(obj["value"])
        wrong_numbers = (f"khoảng {written}", f"{written} tỷ", "N/A", "NaN", "1.234.56", f"~{written}")
        obj["value"] = wrong_numbers[variant % len(wrong_numbers)]
    return _encode(reading.office, obj)


def _number(value: object, reading: _Reading) -> int | float:
    """The template's figure as a JSON number, so that only the unit is wrong."""
    if isinstance(value, int | float):
        return value
    unit = lookup_unit(reading.unit)
    number = parse_number(value, unit.lang)
    return int(number) if number == number.to_integral_value() else float(number)
