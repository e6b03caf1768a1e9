"""The weekly digest: the national picture of one ISO week as a self-contained HTML page or Markdown. Pure.

Input is the alert worker's JSON (its ``GET /ranking``, ``GET /forecast`` and ``GET /alerts`` lists, numbers as
decimal strings) and, optionally, reporting timeliness per province and indicator::

    {"province_code": "20", "province": "Lạng Sơn", "indicator": "...", "expected": 9, "on_time": 6, "late": 2,
     "missing": 1, "rate": "0.6667"}

:func:`build_digest` turns them into a :class:`Digest`: per indicator, year and basis (a :class:`Section`) the
progress table of every province with its rank, rank change ("movers"), standing against the national figure,
on-time rate and projected year end; the shortfall forecasts; the firing alerts of the section. Across sections:
every firing alert, and the provinces whose reports are missing or late. :func:`render_html` and
:func:`render_markdown` draw it, with two charts per section (the ranking as bars, and small multiples of each
province's reading against its expected curve with the year-end projection), PNGs drawn by matplotlib (its object
API, no pyplot state: Agg renders them) embedded as ``data:`` URIs.

The digest of week W is sent on W's Friday at 08:00 Vietnam time (:func:`next_digest_at`) and shows what was
known by the end of the day before (:attr:`IsoWeek.judged_on`, the Thursday).
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from matplotlib.figure import Figure

from shared.alerting import NO_REPORT, format_amount
from shared.indicators import UnknownIndicatorError, get_indicator
from shared.plans import CURVES, Milestone, curve_milestones, fraction_at
from shared.vntime import MONTH_NAMES, VN_TZ

__all__ = [
    "Digest",
    "DigestInputError",
    "IsoWeek",
    "ProgressRow",
    "ReportingGap",
    "Section",
    "build_digest",
    "next_digest_at",
    "parse_week",
    "render_html",
    "render_markdown",
]

_WEEK: Final = re.compile(r"(\d{4})-?W(\d{2})", re.ASCII | re.IGNORECASE)
_FRIDAY: Final = 4
_MOVERS: Final = 5
SeriesKey = tuple[str, str, int, str]  # province code, indicator, year, basis


class DigestInputError(ValueError):
    """The sources of a digest are not what the alert worker's API gives: says which field is wrong."""


@dataclass(frozen=True)
class IsoWeek:
    """An ISO 8601 week (Monday to Sunday)."""

    year: int
    week: int

    def __post_init__(self) -> None:
        weeks = date(self.year, 12, 28).isocalendar().week  # 28 December is always in the year's last week
        if not 1 <= self.week <= weeks:
            raise ValueError(f"week {self.label}: {self.year} has weeks W01-W{weeks}")

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    def file_name(self, fmt: str) -> str:
        """The digest's file name in format ``fmt`` (html, md): ``tiendo-digest-2025-W38.html``."""
        return f"tiendo-digest-{self.label}.{fmt}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def friday(self) -> date:
        """The digest's day: it is sent on the week's Friday (08:00 Vietnam time by default)."""
        return self.monday + timedelta(days=_FRIDAY)

    @property
    def judged_on(self) -> date:
        """The day whose end the digest's figures are judged at: the day before it is sent."""
        return self.friday - timedelta(days=1)

    @classmethod
    def of(cls, day: date) -> IsoWeek:
        iso = day.isocalendar()
        return cls(iso.year, iso.week)


def parse_week(text: str) -> IsoWeek:
    """``2025-W38`` (or ``2025W38``) as an :class:`IsoWeek`; ValueError naming the problem otherwise."""
    match = _WEEK.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"week {text[:40]!r} is not an ISO week such as 2025-W38")
    return IsoWeek(int(match[1]), int(match[2]))


def next_digest_at(
    now: datetime, weekday: int = _FRIDAY, hour: int = 8, minute: int = 0, tz: tzinfo = VN_TZ
) -> datetime:
    """The first digest time strictly after ``now`` (aware): ``weekday`` (0 Monday … 4 Friday) at ``hour:minute``
    in ``tz`` (Vietnam time)."""
    if now.utcoffset() is None:
        raise ValueError(f"next_digest_at needs an aware datetime, got {now.isoformat()}")
    if not (0 <= weekday <= 6 and 0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(f"invalid digest time: weekday {weekday} (0-6), {hour:02d}:{minute:02d}")
    local = now.astimezone(tz)
    day = local.date() + timedelta(days=(weekday - local.weekday()) % 7)
    at = datetime.combine(day, time(hour, minute), tz)
    return at if at > local else at + timedelta(days=7)


@dataclass(frozen=True)
class Projection:
    """A province's projected year end: point and range as a share of the target."""

    date: date
    ratio: Decimal
    low: Decimal
    high: Decimal
    point: Decimal
    unit: str
    shortfall: bool


@dataclass(frozen=True)
class ProgressRow:
    """One province in a section's progress table."""

    rank: int
    position: str
    province_code: str
    province: str
    percent: Decimal
    ratio: Decimal | None
    standing: str
    rank_change: int | None
    on_time_rate: Decimal | None
    as_of: datetime | None
    projection: Projection | None
    alerts: tuple[str, ...]


@dataclass(frozen=True)
class AlertLine:
    """A firing alert as the digest lists it."""

    rule: str
    severity: str
    province_code: str
    province: str
    indicator: str
    basis: str
    year: int
    summary: str


@dataclass(frozen=True)
class ReportingGap:
    """A province and indicator whose reports are missing or late, and what is known of it."""

    province_code: str
    province: str
    indicator: str
    what: str


@dataclass(frozen=True)
class Section:
    """One indicator, year and basis: its provinces by rank and the national figures."""

    indicator: str
    indicator_name: str
    year: int
    basis: str
    national_aggregate_percent: Decimal
    national_average_percent: Decimal
    against: str
    rows: tuple[ProgressRow, ...]
    alerts: tuple[AlertLine, ...]
    curves: Mapping[str, tuple[Milestone, ...]]

    @property
    def title(self) -> str:
        return f"{self.indicator_name}, {self.year} {self.basis} plan"

    @property
    def movers(self) -> tuple[ProgressRow, ...]:
        """The largest rank changes since last week, up to five each way, biggest first."""
        moved = [row for row in self.rows if row.rank_change]
        up = sorted((r for r in moved if (r.rank_change or 0) > 0), key=lambda r: (-(r.rank_change or 0), r.rank))
        down = sorted((r for r in moved if (r.rank_change or 0) < 0), key=lambda r: ((r.rank_change or 0), r.rank))
        return (*up[:_MOVERS], *down[:_MOVERS])

    @property
    def shortfalls(self) -> tuple[ProgressRow, ...]:
        """Provinces whose projected year end falls short of the plan, furthest short first."""
        short = [row for row in self.rows if row.projection is not None and row.projection.shortfall]
        return tuple(sorted(short, key=lambda r: (r.projection.ratio if r.projection else 0, r.province_code)))


@dataclass(frozen=True)
class Digest:
    """The weekly digest of ``week``, judged at the end of ``judged_on`` (Vietnam time)."""

    week: IsoWeek
    judged_on: date
    sections: tuple[Section, ...]
    alerts: tuple[AlertLine, ...]
    reporting: tuple[ReportingGap, ...]


# --- building ------------------------------------------------------------------------------------------------


def _field(obj: Mapping[str, Any], name: str, where: str) -> Any:
    if not isinstance(obj, Mapping):
        raise DigestInputError(f"{where}: expected an object, got {type(obj).__name__}")
    if name not in obj:
        raise DigestInputError(f"{where}: the field {name!r} is missing")
    return obj[name]


def _decimal(obj: Mapping[str, Any], name: str, where: str, *, optional: bool = False) -> Decimal | None:
    raw = obj.get(name) if optional and isinstance(obj, Mapping) else _field(obj, name, where)
    if raw is None and optional:
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise DigestInputError(f"{where}.{name}: {str(raw)[:40]!r} is not a decimal number") from None
    if not value.is_finite():
        raise DigestInputError(f"{where}.{name}: {raw!r} is not a finite number")
    return value


def _required(obj: Mapping[str, Any], name: str, where: str) -> Decimal:
    value = _decimal(obj, name, where)
    assert value is not None  # noqa: S101 - _decimal returns None only when optional
    return value


def _int(obj: Mapping[str, Any], name: str, where: str, *, optional: bool = False) -> int | None:
    raw = obj.get(name) if optional and isinstance(obj, Mapping) else _field(obj, name, where)
    if raw is None and optional:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).lstrip("-").isdigit():
        raise DigestInputError(f"{where}.{name}: {str(raw)[:40]!r} is not a whole number")
    return int(raw)


def _text(obj: Mapping[str, Any], name: str, where: str) -> str:
    raw = _field(obj, name, where)
    if not isinstance(raw, str | int):
        raise DigestInputError(f"{where}.{name}: expected text, got {type(raw).__name__}")
    return str(raw)


def _date(raw: object, where: str) -> date:
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError:
        raise DigestInputError(f"{where}: {str(raw)[:40]!r} is not an ISO date") from None


def _instant(raw: object, where: str) -> datetime | None:
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(str(raw))
    except ValueError:
        raise DigestInputError(f"{where}: {str(raw)[:40]!r} is not an ISO date-time") from None
    return at if at.utcoffset() is not None else at.replace(tzinfo=VN_TZ)


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise DigestInputError(f"{where}: expected a list, got {type(value).__name__}")
    return list(value)


def _indicator_name(indicator: str) -> str:
    try:
        return get_indicator(indicator).name_en
    except UnknownIndicatorError:
        return indicator


def _projections(forecasts: Iterable[Mapping[str, Any]]) -> dict[SeriesKey, Projection]:
    out: dict[SeriesKey, Projection] = {}
    for i, item in enumerate(forecasts):
        where = f"forecasts[{i}]"
        key = (
            _text(item, "province_code", where),
            _text(item, "indicator", where),
            _int(item, "year", where) or 0,
            _text(item, "basis", where),
        )
        end = _field(item, "year_end", where)
        at = f"{where}.year_end"
        ratio = _decimal(end, "ratio_to_target", at, optional=True)
        if ratio is None:  # nothing expected by the year end: no projection to show
            continue
        out[key] = Projection(
            date=_date(_field(end, "date", at), f"{at}.date"),
            ratio=ratio,
            low=_decimal(end, "ratio_low", at, optional=True) or ratio,
            high=_decimal(end, "ratio_high", at, optional=True) or ratio,
            point=_required(end, "point", at),
            unit=str(item.get("unit", "")),
            shortfall=bool(item.get("shortfall", False)),
        )
    return out


def _alert_lines(alerts: Iterable[Mapping[str, Any]]) -> list[AlertLine]:
    lines: list[AlertLine] = []
    for i, item in enumerate(alerts):
        where = f"alerts[{i}]"
        if _field(item, "status", where) != "firing":
            continue
        key, labels = _field(item, "key", where), item.get("labels") or {}
        annotations = item.get("annotations") or {}
        lines.append(
            AlertLine(
                rule=_text(key, "rule", f"{where}.key"),
                severity=str(item.get("severity") or "warning"),
                province_code=str(labels.get("province", "")),
                province=str(labels.get("province_name", key.get("province_uid", ""))),
                indicator=_text(key, "indicator", f"{where}.key"),
                basis=str(key.get("basis") or ""),
                year=int(key.get("year") or 0),
                summary=str(annotations.get("summary") or annotations.get("description") or ""),
            )
        )
    return sorted(lines, key=lambda a: (a.severity != "critical", a.province, a.indicator, a.rule))


def _gaps(timeliness: Iterable[Mapping[str, Any]], alerts: Sequence[AlertLine]) -> list[ReportingGap]:
    gaps: dict[tuple[str, str], list[str]] = {}
    names: dict[tuple[str, str], str] = {}
    for i, item in enumerate(timeliness):
        where = f"timeliness[{i}]"
        key = (_text(item, "province_code", where), _text(item, "indicator", where))
        names[key] = str(item.get("province", key[0]))
        late, missing = _int(item, "late", where) or 0, _int(item, "missing", where) or 0
        if not late and not missing:
            continue
        expected = _int(item, "expected", where) or 0
        rate = _decimal(item, "rate", where, optional=True)
        parts = [f"{late} of {expected} reports late"] if late else []
        parts += [f"{missing} of {expected} missing"] if missing else []
        shown = f"; on time {rate * 100:.0f} %" if rate is not None else ""
        gaps.setdefault(key, []).append(", ".join(parts) + shown)
    for alert in alerts:
        if alert.rule in (NO_REPORT, "TiendoFeedStale"):
            key = (alert.province_code, alert.indicator)
            names.setdefault(key, alert.province)
            gaps.setdefault(key, []).append(f"{alert.rule} ({alert.severity}): {alert.summary}")
    return [ReportingGap(code, names[(code, ind)], ind, "; ".join(gaps[(code, ind)])) for code, ind in sorted(gaps)]


def build_digest(
    week: IsoWeek | str,
    rankings: Sequence[Mapping[str, Any]],
    forecasts: Sequence[Mapping[str, Any]],
    alerts: Sequence[Mapping[str, Any]],
    timeliness: Sequence[Mapping[str, Any]] = (),
    *,
    curves: Mapping[SeriesKey, tuple[Milestone, ...]] | None = None,
) -> Digest:
    """The digest of ``week`` from the alert worker's ``rankings``, ``forecasts`` and ``alerts`` lists (and
    timeliness, see the module docstring). ``curves`` gives each series' plan milestones for the charts; without
    one a chart draws the indicator's default curve. DigestInputError names a field that is not as expected."""
    iso_week = parse_week(week) if isinstance(week, str) else week
    projections = _projections(_list(forecasts, "forecasts"))
    firing = _alert_lines(_list(alerts, "alerts"))
    known = curves or {}
    sections: list[Section] = []
    for i, ranking in enumerate(_list(rankings, "rankings")):
        where = f"rankings[{i}]"
        indicator, basis = _text(ranking, "indicator", where), _text(ranking, "basis", where)
        year = _int(ranking, "year", where) or 0
        section_alerts = tuple(a for a in firing if (a.indicator, a.year, a.basis) == (indicator, year, basis))
        rows: list[ProgressRow] = []
        section_curves: dict[str, tuple[Milestone, ...]] = {}
        for j, row in enumerate(_list(_field(ranking, "rows", where), f"{where}.rows")):
            at = f"{where}.rows[{j}]"
            code = _text(row, "province_code", at)
            if (code, indicator, year, basis) in known:
                section_curves[code] = known[(code, indicator, year, basis)]
            rows.append(
                ProgressRow(
                    rank=_int(row, "rank", at) or 0,
                    position=str(row.get("position", "")),
                    province_code=code,
                    province=_text(row, "province", at),
                    percent=_required(row, "percent", at),
                    ratio=_decimal(row, "ratio", at, optional=True),
                    standing=str(row.get("standing", "")),
                    rank_change=_int(row, "rank_change", at, optional=True),
                    on_time_rate=_decimal(row, "on_time_rate", at, optional=True),
                    as_of=_instant(row.get("as_of"), f"{at}.as_of"),
                    projection=projections.get((code, indicator, year, basis)),
                    alerts=tuple(f"{_rule(a.rule)} ({a.severity})" for a in section_alerts if a.province_code == code),
                )
            )
        sections.append(
            Section(
                indicator=indicator,
                indicator_name=_indicator_name(indicator),
                year=year,
                basis=basis,
                national_aggregate_percent=_required(ranking, "national_aggregate_percent", where),
                national_average_percent=_required(ranking, "national_average_percent", where),
                against=str(ranking.get("against", "aggregate")),
                rows=tuple(sorted(rows, key=lambda r: (r.rank, r.province_code))),
                alerts=section_alerts,
                curves=section_curves,
            )
        )
    sections.sort(key=lambda s: (s.indicator, -s.year, s.basis))
    given = _list(timeliness, "timeliness")
    reporting = _gaps(given, firing)
    counted = {(str(t.get("province_code")), str(t.get("indicator"))) for t in given}
    listed = {(g.province_code, g.indicator) for g in reporting}
    for section in sections:  # without timeliness counts: the ranking's on-time rate
        for row in section.rows:
            key = (row.province_code, section.indicator)
            if row.on_time_rate is not None and row.on_time_rate < 1 and not {key} & (counted | listed):
                what = f"on time {row.on_time_rate * 100:.0f} % of the reports due in {section.year}"
                reporting.append(ReportingGap(row.province_code, row.province, section.indicator, what))
                listed.add(key)
    reporting.sort(key=lambda g: (g.province_code, g.indicator))
    return Digest(iso_week, iso_week.judged_on, tuple(sections), tuple(firing), tuple(reporting))


# --- text ----------------------------------------------------------------------------------------------------


def _day(day: date) -> str:
    return f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def _pct(value: Decimal | None, places: int = 1) -> str:
    return "–" if value is None else f"{value:.{places}f} %"


def _move(change: int | None) -> str:
    if change is None:
        return "new"
    return "▲" + str(change) if change > 0 else "▼" + str(-change) if change < 0 else "="


def _projected(p: Projection | None) -> str:
    """``78 % (72–84)``; without the range when it is a point (a final reading, one shape and no history)."""
    if p is None:
        return "–"
    low, high = f"{p.low * 100:.0f}", f"{p.high * 100:.0f}"
    return f"{p.ratio * 100:.0f} %" + ("" if low == high else f" ({low}–{high})")


def _rule(rule: str) -> str:
    """``TiendoBehindPlan`` as ``behind plan``."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", rule.removeprefix("Tiendo")).lower()


def _shortfall_line(row: ProgressRow, section: Section) -> str:
    p = row.projection
    assert p is not None  # noqa: S101 - only rows with a projection are shortfalls
    return (
        f"{row.province}: on current pace {_projected(p)} of its {section.year} {section.basis} plan by "
        f"{_day(p.date)} ({format_amount(p.point, p.unit)})"
    )


def _table_rows(section: Section) -> list[list[str]]:
    return [
        [
            str(row.rank),
            _move(row.rank_change),
            f"{row.province_code} {row.province}",
            _pct(row.percent),
            "–" if row.ratio is None else f"{row.ratio:.2f}",
            row.standing,
            "–" if row.on_time_rate is None else f"{row.on_time_rate * 100:.0f} %",
            _projected(row.projection),
            ", ".join(row.alerts) or "",
            row.as_of.astimezone(VN_TZ).date().isoformat() if row.as_of else "–",
        ]
        for row in section.rows
    ]


_HEADERS: Final = (
    "rank",
    "move",
    "province",
    "% of plan",
    "vs expected",
    "standing",
    "on time",
    "projected year end (range)",
    "alerts",
    "reading of",
)


def _national(section: Section) -> str:
    used = "aggregate" if section.against == "aggregate" else "average"
    return (
        f"National aggregate {_pct(section.national_aggregate_percent)}, average of provinces "
        f"{_pct(section.national_average_percent)}; above/below the national {used}."
    )


# --- charts --------------------------------------------------------------------------------------------------

_COLOURS: Final = {"above": "#2e7d32", "at": "#757575", "below": "#c62828"}


def _short(label: str, limit: int = 28) -> str:
    """A chart label cut to ``limit`` characters (the tables carry the whole name)."""
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def ranking_chart(section: Section) -> str:
    """The section's provinces as horizontal bars (% of plan), coloured by standing, with the national lines."""
    rows = section.rows
    fig = Figure(figsize=(12, 0.3 * len(rows) + 1.4))
    ax = fig.subplots()
    labels = [_short(f"{row.rank}. {row.province}") for row in rows]
    values = [float(row.percent) for row in rows]
    ax.barh(labels, values, color=[_COLOURS.get(row.standing, "#757575") for row in rows])
    ax.invert_yaxis()
    ax.axvline(float(section.national_aggregate_percent), color="#1565c0", linewidth=1.5, label="national aggregate")
    ax.axvline(
        float(section.national_average_percent), color="#1565c0", linestyle="--", linewidth=1, label="national average"
    )
    for y, value in enumerate(values):
        ax.text(value, y, f" {value:.1f} %", va="center", fontsize=8)
    ax.set_xlabel("% of the yearly plan")
    ax.set_xlim(0, max([*values, float(section.national_aggregate_percent), 1.0]) * 1.15)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(section.title, fontsize=11)
    fig.tight_layout()
    return _png(fig)


def _expected_points(section: Section, code: str) -> list[tuple[datetime, float]]:
    milestones = section.curves.get(code)
    if milestones is None:
        try:
            name = get_indicator(section.indicator).default_curve
        except UnknownIndicatorError:
            return []
        if name not in CURVES:
            return []
        milestones = curve_milestones(name, section.year)
    start = datetime(section.year, 1, 1, tzinfo=VN_TZ)
    points = [(start, 0.0)] + [(at, float(f) * 100) for at, f in milestones]
    end = datetime.combine(date(section.year + 1, 1, 31), time.max, VN_TZ)
    if points[-1][0] < end:
        points.append((end, float(fraction_at(milestones, section.year, end)) * 100))
    return points


def progress_chart(section: Section, columns: int = 5) -> str:
    """Small multiples: each province's reading (dot) against its expected curve (grey) and its projected year
    end (dashed, with its range)."""
    rows = section.rows
    lines = (len(rows) + columns - 1) // columns
    fig = Figure(figsize=(12, 2.1 * lines + 0.4))
    axes = fig.subplots(lines, columns, sharex=True, sharey=True, squeeze=False)
    top = 100.0
    for index, ax in enumerate(axes.flat):
        if index >= len(rows):
            ax.set_visible(False)
            continue
        row = rows[index]
        expected = _expected_points(section, row.province_code)
        if expected:
            ax.plot([p[0] for p in expected], [p[1] for p in expected], color="#9e9e9e", linewidth=1.2)
        ax.axhline(100, color="#bdbdbd", linewidth=0.6, linestyle=":")
        colour = _COLOURS.get(row.standing, "#424242")
        if row.as_of is not None:
            ax.plot([row.as_of], [float(row.percent)], "o", color=colour, markersize=5)
            p = row.projection
            if p is not None:
                end = datetime.combine(p.date, time.max, VN_TZ)
                ax.plot([row.as_of, end], [float(row.percent), float(p.ratio) * 100], "--", color=colour, linewidth=1)
                low, high = float(p.low) * 100, float(p.high) * 100
                ax.vlines(end, low, high, color=colour, linewidth=2)
                top = max(top, high)
        top = max(top, float(row.percent))
        ax.set_title(_short(f"{row.province} {row.percent:.0f} %", 34), fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylim(0, top * 1.08)
    ticks = [datetime(section.year + (m > 12), (m - 1) % 12 + 1, 1, tzinfo=VN_TZ) for m in (1, 4, 7, 10, 13)]
    axes[0][0].set_xticks(ticks, [f"{MONTH_NAMES[t.month - 1][:3]}" for t in ticks])
    fig.suptitle(f"{section.title}: % of plan, reading against the expected curve", fontsize=10)
    fig.tight_layout()
    return _png(fig)


# --- rendering -----------------------------------------------------------------------------------------------

_CSS: Final = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 0; color: #212121; background: #fafafa; }
main { box-sizing: border-box; max-width: 1240px; margin: 0 auto; padding: 16px 20px; }
h1 { font-size: 1.5em; margin: 0.2em 0; } h2 { font-size: 1.25em; margin-top: 1.6em;
  border-bottom: 2px solid #1565c0; } h3 { font-size: 1.05em; }
p, li { overflow-wrap: anywhere; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; font-size: 0.86em; background: #fff; }
th, td { border: 1px solid #e0e0e0; padding: 3px 6px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; word-break: break-word; }
th { background: #e3f2fd; }
td.num { text-align: right; white-space: nowrap; }
tr.below td:nth-child(6) { color: #c62828; } tr.above td:nth-child(6) { color: #2e7d32; }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; }
tr.critical td:first-child { color: #b71c1c; font-weight: bold; } tr.warning td:first-child { color: #e65100; }
.note { color: #616161; font-size: 0.9em; }
"""
_NUMERIC: Final = frozenset({0, 3, 4, 6})  # rank, % of plan, vs expected, on time
_WIDTHS: Final = (5, 5, 16, 8, 8, 8, 7, 13, 19, 11)


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    row_classes: Sequence[str] = (),
    numeric: frozenset[int] = frozenset(),
    widths: Sequence[int] = (),
) -> str:
    """A table; ``row_classes`` gives each row a class (standing, severity), ``numeric`` the right-aligned columns,
    ``widths`` each column's share of the width (percent)."""
    cols = "<colgroup>" + "".join(f'<col style="width:{w}%">' for w in widths) + "</colgroup>" if widths else ""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{_esc(row_classes[i])}"' if i < len(row_classes) else ""
        cells = "".join(
            f'<td class="num">{_esc(c)}</td>' if j in numeric else f"<td>{_esc(c)}</td>" for j, c in enumerate(row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table>{cols}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _title(digest: Digest) -> str:
    week = digest.week
    return f"tiendo weekly digest {week.label} ({_day(week.monday)} – {_day(week.sunday)})"


def _alert_rows(alerts: Sequence[AlertLine]) -> list[list[str]]:
    return [[a.severity, _rule(a.rule), f"{a.province_code} {a.province}".strip(), a.summary] for a in alerts]


def render_html(digest: Digest) -> str:
    """The digest as one self-contained HTML page (inline CSS, charts as data URIs), readable at 1280 px."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(_title(digest))}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_esc(_title(digest))}</h1>",
        f'<p class="note">Figures known by the end of {_esc(_day(digest.judged_on))} (Vietnam time); '
        f"{len(digest.sections)} indicator plan(s), {len(digest.alerts)} firing alert(s).</p>",
    ]
    if not digest.sections:
        out.append("<p>No plan has a reading yet: nothing to rank.</p>")
    for section in digest.sections:
        out.append(f'<section id="{_esc(section.indicator)}-{section.year}-{_esc(section.basis)}">')
        out.append(f"<h2>{_esc(section.title)}</h2><p>{_esc(_national(section))}</p>")
        movers = section.movers
        if movers:
            moved = "; ".join(f"{r.province} {_move(r.rank_change)} to {r.position or r.rank}" for r in movers)
            out.append(f"<p><b>Movers since last week:</b> {_esc(moved)}</p>")
        if section.shortfalls:
            items = "".join(f"<li>{_esc(_shortfall_line(r, section))}</li>" for r in section.shortfalls)
            out.append(f"<h3>Shortfall forecasts</h3><ul>{items}</ul>")
        out.append("<h3>Progress of every province</h3>")
        out.append(_html_table(_HEADERS, _table_rows(section), [r.standing for r in section.rows], _NUMERIC, _WIDTHS))
        out.append(f'<img class="chart ranking" alt="{_esc(section.title)}: ranking" src="{ranking_chart(section)}">')
        out.append(
            f'<img class="chart progress" alt="{_esc(section.title)}: reading against the expected curve" '
            f'src="{progress_chart(section)}">'
        )
        out.append("</section>")
    out.append("<h2>Firing alerts</h2>")
    if digest.alerts:
        severities = [a.severity for a in digest.alerts]
        rows = _alert_rows(digest.alerts)
        out.append(_html_table(("severity", "alert", "province", "summary"), rows, severities, widths=(9, 17, 18, 56)))
    else:
        out.append("<p>None.</p>")
    out.append("<h2>Reports missing or late</h2>")
    if digest.reporting:
        rows = [[f"{g.province_code} {g.province}", _indicator_name(g.indicator), g.what] for g in digest.reporting]
        out.append(_html_table(("province", "indicator", "what"), rows, widths=(18, 27, 55)))
    else:
        out.append("<p>None: every expected report arrived on time.</p>")
    out.append("</main></body></html>")
    return "\n".join(out)


def _md_cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(digest: Digest, *, charts: bool = True) -> str:
    """The digest as Markdown: the same tables, the charts as embedded ``data:`` images (unless ``charts`` is
    False)."""
    out = [f"# {_title(digest)}", "", f"Figures known by the end of {_day(digest.judged_on)} (Vietnam time).", ""]
    for section in digest.sections:
        out += [f"## {section.title}", "", _national(section), ""]
        if section.movers:
            moved = "; ".join(f"{r.province} {_move(r.rank_change)} to {r.position or r.rank}" for r in section.movers)
            out += [f"**Movers since last week:** {moved}", ""]
        if section.shortfalls:
            out += ["### Shortfall forecasts", ""]
            out += [f"- {_shortfall_line(r, section)}" for r in section.shortfalls] + [""]
        out += ["### Progress of every province", "", *_md_table(_HEADERS, _table_rows(section)), ""]
        if charts:
            out += [f"![{section.title}: ranking]({ranking_chart(section)})", ""]
            out += [f"![{section.title}: reading against the expected curve]({progress_chart(section)})", ""]
    out += ["## Firing alerts", ""]
    if digest.alerts:
        out += [*_md_table(("severity", "alert", "province", "summary"), _alert_rows(digest.alerts)), ""]
    else:
        out += ["None.", ""]
    out += ["## Reports missing or late", ""]
    if digest.reporting:
        rows = [[f"{g.province_code} {g.province}", _indicator_name(g.indicator), g.what] for g in digest.reporting]
        out += _md_table(("province", "indicator", "what"), rows)
    else:
        out.append("None: every expected report arrived on time.")
    return "\n".join(out) + "\n"
