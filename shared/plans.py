"""Yearly plans per province and indicator, with the cumulative progress curve they are judged against.

A plan is a yearly target (exact, in the indicator's base unit) plus milestones: the fraction of the target
expected to be reached by the end of given days (Vietnam time). Expected progress between milestones is
interpolated linearly in time, from 0 at 1 January 00:00 in Vietnam; after the last milestone it stays at the
last fraction. Plans come from files (``deploy/plans/*.yaml|csv``, see ``deploy/plans/README.md``) validated
as a whole: one bad row and nothing is loaded.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final, Literal, cast, get_args

import yaml

from shared.indicators import Indicator, Kind, UnitMismatchError, UnknownIndicatorError, get_indicator
from shared.numbers import NumberError, parse_number
from shared.provinces import UnknownProvinceError, registry
from shared.units import UnknownUnitError, lookup_unit
from shared.vntime import MAX_YEAR, MIN_YEAR, VN_TZ, year_bounds

__all__ = [
    "BASES",
    "CURVES",
    "Basis",
    "Milestone",
    "Plan",
    "PlanBook",
    "PlanFileError",
    "PlanRowError",
    "curve_milestones",
    "load_plan_file",
]

Basis = Literal["central", "provincial"]
Milestone = tuple[datetime, Decimal]

BASES: Final[tuple[str, ...]] = get_args(Basis)

#: Named cumulative curves: (month, day, in the next year?, fraction of the target by the end of that day).
CURVES: Final[Mapping[str, tuple[tuple[int, int, bool, Decimal], ...]]] = {
    # Government quarterly disbursement targets; the plan year's capital may be disbursed until 31 January.
    "disbursement": (
        (3, 31, False, Decimal("0.15")),
        (6, 30, False, Decimal("0.35")),
        (9, 30, False, Decimal("0.60")),
        (12, 31, False, Decimal("0.95")),
        (1, 31, True, Decimal(1)),
    ),
    "linear": ((12, 31, False, Decimal(1)),),
    "quarterly-even": (
        (3, 31, False, Decimal("0.25")),
        (6, 30, False, Decimal("0.50")),
        (9, 30, False, Decimal("0.75")),
        (12, 31, False, Decimal(1)),
    ),
}

_REQUIRED: Final = ("province", "indicator", "year", "target", "unit", "basis")
_OPTIONAL: Final = ("curve", "milestones", "lang", "source")
_FIELDS: Final = _REQUIRED + _OPTIONAL
_NO_CURVE: Final = "none"
_YAML_NULL: Final = "tag:yaml.org,2002:null"


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day, time.max, VN_TZ)


def curve_milestones(name: str, year: int) -> tuple[Milestone, ...]:
    """The milestones of a named curve (see :data:`CURVES`) for one plan year; KeyError if unknown."""
    return tuple(
        (_end_of_day(date(year + next_year, month, day)), fraction) for month, day, next_year, fraction in CURVES[name]
    )


def _milestone_problems(year: int, milestones: Iterable[tuple[date, Decimal]]) -> list[str]:
    """What is wrong with milestones given as (calendar day, fraction) for a plan year; empty if nothing."""
    problems = []
    first, last = date(year, 1, 1), date(year + 1, 1, 31)
    previous: tuple[date, Decimal] | None = None
    for day, fraction in milestones:
        if not first <= day <= last:
            problems.append(f"milestone {day.isoformat()} is outside {first.isoformat()}..{last.isoformat()}")
        if not Decimal(0) <= fraction <= Decimal(1):
            problems.append(f"milestone {day.isoformat()}: fraction {fraction} is not between 0 and 1")
        if previous is not None:
            if day <= previous[0]:
                problems.append(
                    f"milestone {day.isoformat()} does not come after {previous[0].isoformat()}"
                    " (dates must be strictly increasing)"
                )
            elif fraction <= previous[1]:
                problems.append(
                    f"milestone {day.isoformat()}: fraction {fraction} is not above {previous[1]}"
                    f" of {previous[0].isoformat()} (fractions must increase)"
                )
        previous = (day, fraction)
    return problems


@dataclass(frozen=True)
class Plan:
    """One province's yearly plan for one indicator on one basis (central or provincial)."""

    province_code: str
    province_uid: str
    province_name: str
    indicator: str
    year: int
    target: Decimal
    base_unit: str
    basis: Basis
    milestones: tuple[Milestone, ...]
    curve: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.basis not in BASES:
            problems.append(f"unknown basis {self.basis!r}")
        if not isinstance(self.target, Decimal) or not self.target.is_finite() or self.target <= 0:
            problems.append(f"target must be a positive Decimal, got {self.target!r}")
        if not self.milestones:
            problems.append("a plan needs at least one milestone")
        if any(not isinstance(at, datetime) or at.utcoffset() is None for at, _ in self.milestones):
            problems.append("milestones must be aware datetimes")
        else:
            days = [(at.astimezone(VN_TZ).date(), fraction) for at, fraction in self.milestones]
            problems += _milestone_problems(self.year, days)
        if problems:
            raise ValueError(f"invalid plan {self.key}: " + "; ".join(problems))

    @property
    def key(self) -> str:
        """Identity on the compacted ``plans`` topic and in :class:`PlanBook`."""
        return f"{self.province_uid}|{self.indicator}|{self.year}|{self.basis}"

    def expected_fraction(self, at: datetime) -> Decimal:
        """The fraction of the target expected by ``at`` (aware), interpolated linearly between milestones."""
        if at.utcoffset() is None:
            raise ValueError(f"expected_fraction needs an aware datetime, got {at.isoformat()}")
        start, _ = year_bounds(self.year)
        before: Milestone = (start, Decimal(0))
        for after in self.milestones:
            if at <= after[0]:
                if at <= before[0]:
                    return before[1]
                elapsed = _microseconds(at - before[0]) / _microseconds(after[0] - before[0])
                return before[1] + (after[1] - before[1]) * elapsed
            before = after
        return before[1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (exact decimals as strings), as published on the ``plans`` topic."""
        return {
            "province_code": self.province_code,
            "province_uid": self.province_uid,
            "province_name": self.province_name,
            "indicator": self.indicator,
            "year": self.year,
            "target": str(self.target),
            "base_unit": self.base_unit,
            "basis": self.basis,
            "milestones": [[at.isoformat(), str(fraction)] for at, fraction in self.milestones],
            "curve": self.curve,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """Inverse of :meth:`to_dict`; raises ValueError (or KeyError for a missing field) on bad input."""
        try:
            return cls(
                province_code=str(data["province_code"]),
                province_uid=str(data["province_uid"]),
                province_name=str(data["province_name"]),
                indicator=str(data["indicator"]),
                year=int(data["year"]),
                target=Decimal(str(data["target"])),
                base_unit=str(data["base_unit"]),
                basis=data["basis"],
                milestones=tuple(
                    (datetime.fromisoformat(at), Decimal(str(fraction))) for at, fraction in data["milestones"]
                ),
                curve=data.get("curve"),
                source=data.get("source"),
            )
        except InvalidOperation as exc:
            raise ValueError(f"invalid plan record: {exc!r}") from exc


def _microseconds(delta: timedelta) -> Decimal:
    return Decimal((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


@dataclass(frozen=True)
class PlanRowError:
    """One problem in a plan file: 1-based line (0 for the file as a whole) and a message."""

    line: int
    message: str


class PlanFileError(ValueError):
    """A plan file with errors; ``errors`` lists every one, each with its line."""

    def __init__(self, path: Path, errors: list[PlanRowError]) -> None:
        self.path = path
        self.errors = errors
        super().__init__("\n".join(f"{path}:{error.line}: {error.message}" for error in errors))


@dataclass
class _Row:
    line: int
    fields: dict[str, Any]
    problems: list[str] = field(default_factory=list)


def load_plan_file(path: Path) -> list[Plan]:
    """Load and check every row of a ``.yaml``/``.yml`` or ``.csv`` plan file; PlanFileError if any is bad."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        rows, errors = _yaml_rows(path.read_text(encoding="utf-8"))
    elif suffix == ".csv":
        rows, errors = _csv_rows(path.read_text(encoding="utf-8-sig"))
    else:
        raise PlanFileError(path, [PlanRowError(0, f"unsupported plan file type {suffix!r} (.yaml, .yml, .csv)")])
    plans: list[Plan] = []
    first_line: dict[str, int] = {}
    for row in rows:
        plan = None if row.problems else _build(row)
        if plan is not None:
            if plan.key in first_line:
                row.problems.append(
                    f"duplicate plan {plan.province_name} ({plan.province_code}) {plan.indicator} "
                    f"{plan.year} {plan.basis}: already on line {first_line[plan.key]}"
                )
            else:
                first_line[plan.key] = row.line
                plans.append(plan)
        errors += [PlanRowError(row.line, problem) for problem in row.problems]
    if errors:
        raise PlanFileError(path, sorted(errors, key=lambda error: error.line))
    return plans


def _yaml_rows(text: str) -> tuple[list[_Row], list[PlanRowError]]:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return [], []
        items = root
        if isinstance(root, yaml.MappingNode):
            found = [value for key, value in root.value if key.value == "plans"]
            if len(root.value) != 1 or not found:
                return [], [PlanRowError(root.start_mark.line + 1, "expected a list of plans or {plans: [...]}")]
            items = found[0]
        if not isinstance(items, yaml.SequenceNode):
            return [], [PlanRowError(items.start_mark.line + 1, "expected a list of plans")]
        rows: list[_Row] = []
        errors: list[PlanRowError] = []
        for node in items.value:
            line = node.start_mark.line + 1
            if not isinstance(node, yaml.MappingNode):
                errors.append(PlanRowError(line, "a plan row must be a mapping of field: value"))
                continue
            fields = cast(dict[Any, Any], loader.construct_object(node, deep=True))
            # The target's own text, so "14.356" with a Vietnamese unit reads as 14356 as it does in CSV.
            fields.update(
                (key.value, value.value)
                for key, value in node.value
                if key.value == "target" and isinstance(value, yaml.ScalarNode) and value.tag != _YAML_NULL
            )
            rows.append(_Row(line, _fields(fields)))
        return rows, errors
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [], [PlanRowError(mark.line + 1 if mark else 0, f"not valid YAML: {exc}")]
    finally:
        loader.dispose()


def _csv_rows(text: str) -> tuple[list[_Row], list[PlanRowError]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[_Row] = []
    header: list[str] | None = None
    start = 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record) or record[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [_text(cell).lower() for cell in record]
                missing = [name for name in _REQUIRED if name not in header]
                if missing:
                    return [], [PlanRowError(line, f"header lacks column(s): {', '.join(missing)}")]
                continue
            if len(record) > len(header):
                rows.append(_Row(line, {}, [f"{len(record)} cells but the header has {len(header)} columns"]))
                continue
            rows.append(_Row(line, _fields(dict(zip(header, record, strict=False)))))
    except csv.Error as exc:
        return [], [PlanRowError(start, f"not valid CSV: {exc}")]
    return rows, []


def _text(value: object) -> str:
    return unicodedata.normalize("NFC", str(value)).strip()


def _fields(raw: Mapping[Any, Any]) -> dict[str, Any]:
    """Row fields by lower-case name; empty cells and nulls count as absent."""
    out: dict[Any, Any] = {}
    for key, value in raw.items():
        name = _text(key).lower()
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        out[name] = _text(value) if isinstance(value, str) else value
    return out


def _build(row: _Row) -> Plan | None:
    """The plan a row describes, or None with the reasons appended to ``row.problems``."""
    fields, problems = row.fields, row.problems
    known = ", ".join(_FIELDS)
    problems += [f"unknown field {name!r} (known: {known})" for name in fields if name not in _FIELDS]
    missing = [name for name in _REQUIRED if name not in fields]
    if missing:
        problems.append(f"missing field(s): {', '.join(missing)}")

    year = _year(fields.get("year"), problems)
    province = None
    if "province" in fields and year is not None:
        try:
            province = registry().resolve(_text(fields["province"]), on=date(year, 12, 31))
        except UnknownProvinceError as exc:
            problems.append(str(exc))
    indicator = _indicator(fields.get("indicator"), problems)
    target = _target(fields, indicator, problems)
    basis = _basis(fields.get("basis"), problems)
    milestones, curve = _milestones(fields, indicator, year, problems)
    if (
        problems
        or year is None
        or province is None
        or indicator is None
        or target is None
        or basis is None
        or milestones is None
    ):
        return None
    return Plan(
        province_code=province.code,
        province_uid=province.uid,
        province_name=province.name,
        indicator=indicator.id,
        year=year,
        target=target,
        base_unit=indicator.base_unit,
        basis=basis,
        milestones=milestones,
        curve=curve,
        source=_text(fields["source"]) if "source" in fields else None,
    )


def _year(raw: object, problems: list[str]) -> int | None:
    if raw is None:
        return None
    text = _text(raw)
    if isinstance(raw, bool) or not (text.isascii() and text.isdigit() and MIN_YEAR <= int(text) <= MAX_YEAR):
        problems.append(f"year {text!r} is not a year between {MIN_YEAR} and {MAX_YEAR}")
        return None
    return int(text)


def _indicator(raw: object, problems: list[str]) -> Indicator | None:
    if raw is None:
        return None
    try:
        indicator = get_indicator(_text(raw))
    except UnknownIndicatorError as exc:
        problems.append(str(exc))
        return None
    if indicator.kind is Kind.RATE:
        problems.append(f"indicator {indicator.id!r} is a rate: rate indicators have no cumulative plan")
        return None
    return indicator


def _target(fields: Mapping[str, Any], indicator: Indicator | None, problems: list[str]) -> Decimal | None:
    if "target" not in fields or "unit" not in fields:
        return None
    try:
        unit = lookup_unit(_text(fields["unit"]))
    except UnknownUnitError as exc:
        problems.append(str(exc))
        return None
    lang = fields.get("lang", unit.lang)
    if lang not in ("vi", "en", None):
        problems.append(f"lang {lang!r} must be vi or en")
        return None
    try:
        value = parse_number(fields["target"], lang)
    except NumberError as exc:
        problems.append(f"target: {exc}")
        return None
    if value <= 0:
        problems.append(f"target must be a positive number, got {value}")
        return None
    if indicator is None:
        return None
    try:
        return indicator.convert(value, unit)
    except UnitMismatchError as exc:
        problems.append(str(exc))
        return None


def _basis(raw: object, problems: list[str]) -> Basis | None:
    if raw is None:
        return None
    basis = _text(raw).lower()
    if basis not in BASES:
        problems.append(f"unknown basis {_text(raw)!r} (expected central or provincial)")
        return None
    return cast(Basis, basis)


def _milestones(
    fields: Mapping[str, Any], indicator: Indicator | None, year: int | None, problems: list[str]
) -> tuple[tuple[Milestone, ...] | None, str | None]:
    """Milestones from the row's ``milestones`` or ``curve``, else the indicator's default curve."""
    if "milestones" in fields and "curve" in fields:
        problems.append("give either curve or milestones, not both")
        return None, None
    if "milestones" in fields:
        given = _parse_milestones(fields["milestones"], problems)
        if given is None or year is None:
            return None, None
        found = _milestone_problems(year, given)
        problems += found
        return (None if found else tuple((_end_of_day(day), fraction) for day, fraction in given)), None
    if "curve" in fields:
        curve = _text(fields["curve"]).lower()
        if curve not in CURVES:
            problems.append(f"unknown curve {_text(fields['curve'])!r} (known: {', '.join(CURVES)})")
            return None, None
    elif indicator is None:
        return None, None
    elif indicator.default_curve == _NO_CURVE:
        problems.append(f"indicator {indicator.id!r} has no default curve: give a curve or milestones")
        return None, None
    else:
        curve = indicator.default_curve
    return (None if year is None else curve_milestones(curve, year)), curve


def _parse_milestones(raw: object, problems: list[str]) -> list[tuple[date, Decimal]] | None:
    """``{date: fraction}``, ``[[date, fraction], ...]`` or ``"date:fraction;date:fraction"`` as pairs."""
    pairs: Iterable[Any]
    if isinstance(raw, Mapping):
        pairs = raw.items()
    elif isinstance(raw, str):
        pairs = (item.partition(":")[::2] for item in raw.split(";") if item.strip())
    elif isinstance(raw, list):
        pairs = raw
    else:
        problems.append("milestones must be 'YYYY-MM-DD:fraction;...', a mapping or a list of pairs")
        return None
    parsed: list[tuple[date, Decimal]] = []
    for pair in _pairs(pairs, problems):
        day, fraction = _milestone_day(pair[0]), _fraction(pair[1])
        if day is None or fraction is None:
            problems.append(f"milestone {_text(pair[0])}:{_text(pair[1])} is not 'YYYY-MM-DD:fraction'")
            return None
        parsed.append((day, fraction))
    if not parsed:
        problems.append("milestones are empty")
        return None
    return parsed


def _pairs(pairs: Iterable[Any], problems: list[str]) -> Iterator[tuple[object, object]]:
    for pair in pairs:
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            yield pair[0], pair[1]
        else:
            problems.append(f"milestone {pair!r} is not a (date, fraction) pair")


def _milestone_day(raw: object) -> date | None:
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    try:
        return date.fromisoformat(_text(raw))
    except ValueError:
        return None


def _fraction(raw: object) -> Decimal | None:
    text = _text(raw)
    percent = text.endswith("%")
    try:
        value = parse_number(text.removesuffix("%").strip() if percent else raw, "en")
    except NumberError:
        return None
    return value / 100 if percent else value


class PlanBook:
    """The plans in force, by :attr:`Plan.key`."""

    def __init__(self, plans: Iterable[Plan] = ()) -> None:
        self._plans: dict[str, Plan] = {}
        for plan in plans:
            self.upsert(plan)

    def upsert(self, plan: Plan) -> None:
        """Add a plan or replace the one with the same key."""
        self._plans[plan.key] = plan

    def remove(self, key: str) -> Plan | None:
        """Drop a plan (a tombstone on the ``plans`` topic); return it, or None if there was none."""
        return self._plans.pop(key, None)

    def for_series(self, province_uid: str, indicator: str, year: int) -> list[Plan]:
        """Every plan (central and/or provincial) for one province unit, indicator and year, by basis."""
        found = (self._plans.get(f"{province_uid}|{indicator}|{year}|{basis}") for basis in BASES)
        return [plan for plan in found if plan is not None]

    def all(self) -> list[Plan]:
        """Every plan, by key."""
        return [self._plans[key] for key in sorted(self._plans)]

    def __len__(self) -> int:
        return len(self._plans)
