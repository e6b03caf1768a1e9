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
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar, Final, Literal, NoReturn, cast, get_args

import yaml

from shared.indicators import (
    FractionalCountError,
    Indicator,
    Kind,
    UnitMismatchError,
    UnknownIndicatorError,
    get_indicator,
)
from shared.numbers import NumberError, parse_number
from shared.provinces import UnknownProvinceError, registry
from shared.units import UnknownUnitError, lookup_unit
from shared.vntime import MAX_YEAR, MIN_YEAR, VN_TZ, year_bounds

__all__ = [
    "BASES",
    "CURVES",
    "HISTORY_PREFIX",
    "MAX_PLAN_FILE_BYTES",
    "Basis",
    "Milestone",
    "Plan",
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
#: A plan file's curve name for a history curve: ``history:2025`` (the year whose shape it is, ``shared.curves``).
HISTORY_PREFIX: Final = "history:"
_YAML_NULL: Final = "tag:yaml.org,2002:null"
_YAML_STR: Final = "tag:yaml.org,2002:str"
_YAML_SEQ: Final = "tag:yaml.org,2002:seq"
_YAML_MAP: Final = "tag:yaml.org,2002:map"
_MAX_YAML_DEPTH: Final = 16
_MAX_YAML_NODES: Final = 200_000
_MAX_TEXT: Final = 500
_DAY: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})")

#: Plan files are a few hundred rows (every province, indicator and basis of a year is ~300 KB): larger is refused.
MAX_PLAN_FILE_BYTES: Final = 2 * 1024 * 1024


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
            if day == previous[0]:
                problems.append(f"milestone {day.isoformat()} is given twice")
            elif day < previous[0]:
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
        """Identity on the compacted ``plans`` topic."""
        return f"{self.province_uid}|{self.indicator}|{self.year}|{self.basis}"

    def expected_fraction(self, at: datetime) -> Decimal:
        """The fraction of the target expected by ``at`` (aware), interpolated linearly between milestones."""
        return fraction_at(self.milestones, self.year, at)

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


def fraction_at(milestones: Iterable[Milestone], year: int, at: datetime) -> Decimal:
    """The cumulative fraction of a milestone curve at ``at`` (aware) in plan year ``year``: 0 on 1 January, linear
    between milestones, the last one's after it."""
    if at.utcoffset() is None:
        raise ValueError(f"fraction_at needs an aware datetime, got {at.isoformat()}")
    before: Milestone = (year_bounds(year)[0], Decimal(0))
    for after in milestones:
        if at <= after[0]:
            if at <= before[0]:
                return before[1]
            elapsed = _microseconds(at - before[0]) / _microseconds(after[0] - before[0])
            return before[1] + (after[1] - before[1]) * elapsed
        before = after
    return before[1]


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
        super().__init__("\n".join(f"{path}{f':{e.line}' if e.line else ''}: {e.message}" for e in errors))


@dataclass
class _Row:
    line: int
    fields: dict[str, Any]
    problems: list[str] = field(default_factory=list)


def load_plan_file(path: Path) -> list[Plan]:
    """Load and check every row of a ``.yaml``/``.yml`` or ``.csv`` plan file; PlanFileError if any is bad.

    Raises only PlanFileError, also for a file that cannot be read (missing, a folder, not UTF-8, too large).
    """
    text = _read_text(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".csv"):
        shown = repr(suffix) if suffix else "(no suffix)"
        raise PlanFileError(path, [PlanRowError(0, f"unsupported plan file type {shown} (.yaml, .yml, .csv)")])
    rows, errors = _yaml_rows(text) if suffix in (".yaml", ".yml") else _csv_rows(text)
    if not rows and not errors:
        errors = [PlanRowError(0, "no plans in the file")]
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


def _read_text(path: Path) -> str:
    """The file's UTF-8 text (a BOM removed), at most MAX_PLAN_FILE_BYTES; PlanFileError if it cannot be read."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PLAN_FILE_BYTES + 1)
    except FileNotFoundError:
        problem = "no such plan file"
    except IsADirectoryError:
        problem = "is a folder, not a plan file"
    except OSError as exc:
        problem = f"cannot read the plan file: {exc.strerror or exc}"
    else:
        if len(data) > MAX_PLAN_FILE_BYTES:
            problem = f"larger than {MAX_PLAN_FILE_BYTES // 1024 // 1024} MiB: not a plan file (split it)"
        else:
            try:
                return data.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                line = data.count(b"\n", 0, exc.start) + 1
                raise PlanFileError(path, [PlanRowError(line, f"not UTF-8 text ({exc.reason})")]) from None
    raise PlanFileError(path, [PlanRowError(0, problem)])


class _RefusedYAML(yaml.MarkedYAMLError):
    """Valid YAML that a plan file must not use (anchors, aliases, tags, duplicate keys...)."""


class _PlanLoader(yaml.SafeLoader):
    """YAML for plan files: every scalar is its text (only ``null``/``~``/empty are typed), so each field is read
    by the plan rules and never guessed by YAML (``2024-06-31`` is not a crash, ``08`` is no octal); anchors and
    aliases are refused (a 500-byte "billion laughs" file cannot expand), nesting and size are bounded, and a
    mapping may not give a key twice (``target`` and ``Target`` in a row, a milestone date)."""

    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {}
    yaml_constructors: ClassVar[dict[Any, Any]] = {}

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0
        self._nodes = 0
        self._row: yaml.Node | None = None
        self._milestones: set[int] = set()
        self.duplicates: list[PlanRowError] = []

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _RefusedYAML(
                None, None, "YAML anchors and aliases (&, *) are not allowed in plan files", event.start_mark
            )
        self._nodes += 1
        if self._nodes > _MAX_YAML_NODES or self._depth >= _MAX_YAML_DEPTH:
            limit = f"more than {_MAX_YAML_NODES} values" if self._depth < _MAX_YAML_DEPTH else "nested too deeply"
            raise _RefusedYAML(None, None, f"{limit}: not a plan file", event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_row(self, node: yaml.MappingNode) -> dict[str, Any]:
        """A plan row's fields; ``duplicates`` lists every key given twice in it (or in its milestones)."""
        self._row, self.duplicates = node, []
        self._milestones = {
            id(value)
            for key, value in node.value
            if isinstance(key, yaml.ScalarNode) and _folded(key.value) == "milestones"
        }
        return cast(dict[str, Any], self.construct_object(node, deep=True))

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise _RefusedYAML(None, None, f"expected a mapping, found a {node.id}", node.start_mark)
        what = "field" if node is self._row else "milestone" if id(node) in self._milestones else "key"
        mapping: dict[str, Any] = {}
        seen: dict[str, tuple[str, int]] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise _RefusedYAML(None, None, f"a {what} must be a plain value", key_node.start_mark)
            line = key_node.start_mark.line + 1
            folded = _folded(key) if what == "field" else key
            if folded in seen:
                first, first_line = seen[folded]
                spelled = "" if first == key else f" as {first!r}"
                shown = _shown(key) if what == "milestone" else repr(_shown(key))
                self.duplicates.append(
                    PlanRowError(line, f"duplicate {what} {shown}: already given{spelled} on line {first_line}")
                )
                continue
            seen[folded] = (key, line)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _refuse_tag(loader: _PlanLoader, node: yaml.Node) -> NoReturn:
    raise _RefusedYAML(None, None, f"YAML tag {node.tag} is not allowed in plan files", node.start_mark)


_PlanLoader.add_implicit_resolver(_YAML_NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
_PlanLoader.add_constructor(_YAML_NULL, lambda loader, node: None)
_PlanLoader.add_constructor(_YAML_STR, lambda loader, node: loader.construct_scalar(node))
_PlanLoader.add_constructor(_YAML_SEQ, lambda loader, node: loader.construct_sequence(node, deep=True))
_PlanLoader.add_constructor(_YAML_MAP, lambda loader, node: loader.construct_mapping(node, deep=True))
_PlanLoader.add_constructor(None, _refuse_tag)


def _yaml_rows(text: str) -> tuple[list[_Row], list[PlanRowError]]:
    try:
        loader = _PlanLoader(text)
    except yaml.YAMLError as exc:
        return [], [_yaml_error(exc, text)]
    try:
        root = loader.get_single_node()
        if root is None:
            return [], []
        items = root
        if isinstance(root, yaml.MappingNode):
            found = [(key, value) for key, value in root.value if key.value == "plans"]
            if len(found) > 1:
                line, first = found[1][0].start_mark.line + 1, found[0][0].start_mark.line + 1
                return [], [PlanRowError(line, f"duplicate key 'plans': already given on line {first}")]
            if len(root.value) != 1 or not found:
                return [], [PlanRowError(root.start_mark.line + 1, "expected a list of plans or {plans: [...]}")]
            items = found[0][1]
        if not isinstance(items, yaml.SequenceNode):
            return [], [PlanRowError(items.start_mark.line + 1, "expected a list of plans")]
        rows: list[_Row] = []
        errors: list[PlanRowError] = []
        for node in items.value:
            line = node.start_mark.line + 1
            if not isinstance(node, yaml.MappingNode):
                errors.append(PlanRowError(line, "a plan row must be a mapping of field: value"))
                continue
            try:
                fields = loader.construct_row(node)
            except yaml.MarkedYAMLError as exc:
                errors.append(_yaml_error(exc, text))
                continue
            if loader.duplicates:
                errors += loader.duplicates
                continue
            rows.append(_Row(line, _fields(fields)))
        return rows, errors
    except yaml.YAMLError as exc:
        return [], [_yaml_error(exc, text)]
    finally:
        loader.dispose()


def _yaml_error(exc: yaml.YAMLError, text: str) -> PlanRowError:
    """A YAML error as one line with the line it is on."""
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        return PlanRowError(line, f"not valid YAML: character U+{exc.character:04X}: {exc.reason}")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        message = "; ".join(part for part in (exc.context, exc.problem) if part)
        return PlanRowError(
            mark.line + 1 if mark else 0, message if isinstance(exc, _RefusedYAML) else f"not valid YAML: {message}"
        )
    return PlanRowError(0, f"not valid YAML: {exc}")


def _csv_rows(text: str) -> tuple[list[_Row], list[PlanRowError]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[_Row] = []
    header: list[str] | None = None
    start = 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record) or record[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [_folded(cell) for cell in record]
                if problem := _header_problem(header):
                    return [], [PlanRowError(line, problem)]
                continue
            if len(record) > len(header):
                rows.append(_Row(line, {}, [f"{len(record)} cells but the header has {len(header)} columns"]))
                continue
            rows.append(_Row(line, _fields(dict(zip(header, record, strict=False)))))
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            return [], [PlanRowError(start, 'a quoted cell is never closed: its opening " has no closing "')]
        return [], [PlanRowError(start, f"not valid CSV: {exc}")]
    return rows, []


def _header_problem(header: list[str]) -> str | None:
    """What is wrong with a CSV header (in the feed file reader's words), or None."""
    seen: set[str] = set()
    for name in header:
        if not name:
            return "the CSV header has an empty column name"
        if name in seen:
            return f"the CSV header names column {_shown(name)!r} twice"
        seen.add(name)
    missing = [name for name in _REQUIRED if name not in header]
    return f"header lacks column(s): {', '.join(missing)}" if missing else None


def _folded(name: str) -> str:
    """A field or column name as compared: NFC, trimmed, lower case."""
    return _text(name).lower()


def _shown(value: object, limit: int = 60) -> str:
    """A value as written in the file (text, ``[a, b]``, ``{k: v}``, ``null``), cut to ``limit`` characters."""
    if value is None:
        text = "null"
    elif isinstance(value, Mapping):
        text = "{" + ", ".join(f"{_shown(k, limit)}: {_shown(v, limit)}" for k, v in value.items()) + "}"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(_shown(item, limit) for item in value) + "]"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(value: object) -> str:
    return unicodedata.normalize("NFC", str(value)).strip()


def _fields(raw: Mapping[Any, Any]) -> dict[str, Any]:
    """Row fields by lower-case name; empty cells and nulls count as absent."""
    out: dict[Any, Any] = {}
    for key, value in raw.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        out[_folded(key)] = _text(value) if isinstance(value, str) else value
    return out


def _build(row: _Row) -> Plan | None:
    """The plan a row describes, or None with the reasons appended to ``row.problems``."""
    problems = row.problems
    known = ", ".join(_FIELDS)
    problems += [f"unknown field {_shown(name)!r} (known: {known})" for name in row.fields if name not in _FIELDS]
    missing = [name for name in _REQUIRED if name not in row.fields]
    if missing:
        problems.append(f"missing field(s): {', '.join(missing)}")
    fields = _single_values(row.fields, problems)

    year = _year(fields.get("year"), problems)
    province = None
    if "province" in fields and year is not None:
        try:
            province = registry().resolve(fields["province"], on=date(year, 12, 31))
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
        source=fields.get("source"),
    )


def _single_values(fields: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    """The known fields that hold one value of sensible length (milestones may be a list or mapping)."""
    out: dict[str, Any] = {}
    for name in _FIELDS:
        value = fields.get(name)
        if value is None:
            continue
        if name != "milestones" and not isinstance(value, str):
            problems.append(f"{name}: expected one value, got {_shown(value)}")
        elif isinstance(value, str) and len(value) > _MAX_TEXT:
            problems.append(f"{name}: {len(value)} characters is too long (at most {_MAX_TEXT})")
        else:
            out[name] = value
    return out


def _year(raw: str | None, problems: list[str]) -> int | None:
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and MIN_YEAR <= int(raw) <= MAX_YEAR):
        problems.append(f"year {raw!r} is not a year between {MIN_YEAR} and {MAX_YEAR}")
        return None
    return int(raw)


def _indicator(raw: str | None, problems: list[str]) -> Indicator | None:
    if raw is None:
        return None
    try:
        indicator = get_indicator(raw)
    except UnknownIndicatorError as exc:
        problems.append(str(exc))
        return None
    if indicator.kind is Kind.RATE:
        problems.append(f"indicator {indicator.id!r} is a rate: rate indicators have no cumulative plan")
        return None
    return indicator


def _target(fields: Mapping[str, Any], indicator: Indicator | None, problems: list[str]) -> Decimal | None:
    """The target in the indicator's base unit, read exactly as written: an ambiguous number is refused."""
    if "target" not in fields or "unit" not in fields:
        return None
    raw: str = fields["target"]
    try:
        unit = lookup_unit(fields["unit"])
    except UnknownUnitError as exc:
        problems.append(str(exc))
        return None
    lang = fields["lang"].lower() if "lang" in fields else None
    if lang not in ("vi", "en", None):
        problems.append(f"lang {fields['lang']!r} must be vi or en")
        return None
    try:
        value = parse_number(raw, cast(Literal["vi", "en"] | None, lang))
    except NumberError as exc:
        problems.append(_ambiguous_target(raw) if exc.code == "ambiguous_number" else f"target: {exc}")
        return None
    if value <= 0:
        problems.append(f"target must be a positive number, got {raw}")
        return None
    if indicator is None:
        return None
    try:
        target = indicator.convert(value, unit)
        indicator.check_whole(target)
    except UnitMismatchError as exc:
        problems.append(str(exc))
        return None
    except FractionalCountError as exc:
        problems.append(f"target {raw} {fields['unit']}: {exc}")
        return None
    return target


def _ambiguous_target(raw: str) -> str:
    """Why ``4,680``-like text is refused in a plan file, both readings, and how to write each unambiguously."""
    en, vi = parse_number(raw, "en"), parse_number(raw, "vi")
    whole, part = (en, vi) if "," in raw else (vi, en)
    swap = str.maketrans(",.", ".,")
    english = f"{whole:,.1f}"
    return (
        f"target {raw!r} is ambiguous: {en:f} in English notation but {vi:f} in Vietnamese notation; "
        f"write {whole:f} (or {english} / {english.translate(swap)}) for {whole:f}, "
        f"or {part:f}0 / {f'{part:f}0'.translate(swap)} for {part:f}"
    )


def _basis(raw: str | None, problems: list[str]) -> Basis | None:
    if raw is None:
        return None
    basis = raw.lower()
    if basis not in BASES:
        problems.append(f"unknown basis {raw!r} (expected central or provincial)")
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
        curve = fields["curve"].lower()
        if curve.startswith(HISTORY_PREFIX):
            return (None if year is None else _history_milestones(fields["curve"], year, problems)), curve
        if curve not in CURVES:
            problems.append(f"unknown curve {fields['curve']!r} (known: {', '.join(_known_curves())})")
            return None, None
    elif indicator is None:
        return None, None
    elif indicator.default_curve == _NO_CURVE:
        problems.append(f"indicator {indicator.id!r} has no default curve: give a curve or milestones")
        return None, None
    else:
        curve = indicator.default_curve
    return (None if year is None else curve_milestones(curve, year)), curve


def _known_curves() -> list[str]:
    from shared.curves import HISTORY_CURVES  # noqa: PLC0415 - shared.curves builds on this module

    return [*CURVES, *HISTORY_CURVES]


def _history_milestones(raw: str, year: int, problems: list[str]) -> tuple[Milestone, ...] | None:
    """A ``history:YYYY`` curve's milestones for plan year ``year`` (a past year's shape, re-dated day for day);
    None with the reason in ``problems`` for a malformed name or a year whose history does not ship."""
    from shared.curves import HISTORY_CURVES, named_history_curve  # noqa: PLC0415 - it builds on this module

    name = raw.lower()
    history = name.removeprefix(HISTORY_PREFIX)
    if not (history.isascii() and history.isdigit() and len(history) == 4):
        problems.append(f"curve {raw!r} is not history:YYYY (a past year, e.g. {HISTORY_CURVES[0]})")
        return None
    try:
        return named_history_curve(name, year)
    except KeyError:
        shipped = ", ".join(HISTORY_CURVES)
        problems.append(f"no history curve for {history}: the history curves that ship are {shipped}")
        return None


def _parse_milestones(
    raw: str | list[Any] | Mapping[Any, Any], problems: list[str]
) -> list[tuple[date, Decimal]] | None:
    """``{date: fraction}``, ``[[date, fraction], ...]`` or ``"date:fraction;date:fraction"`` as pairs."""
    before = len(problems)
    pairs: list[tuple[object, object]] = []
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, str):
        for item in (item.strip() for item in raw.split(";")):
            if ":" in item:
                day_text, _, fraction_text = item.partition(":")
                pairs.append((day_text.strip(), fraction_text.strip()))
            elif item:
                problems.append(f"milestone {_shown(item)!r} is not 'YYYY-MM-DD:fraction'")
    else:
        for pair in raw:
            if isinstance(pair, list) and len(pair) == 2:
                pairs.append((pair[0], pair[1]))
            else:
                problems.append(f"milestone {_shown(pair)} is not a [date, fraction] pair")
    parsed: list[tuple[date, Decimal]] = []
    for day_raw, fraction_raw in pairs:
        day = _milestone_day(day_raw, problems)
        fraction = _fraction(day_raw, fraction_raw, problems)
        if day is not None and fraction is not None:
            parsed.append((day, fraction))
    if len(problems) > before:
        return None
    if not parsed:
        problems.append("milestones are empty")
        return None
    return parsed


def _milestone_day(raw: object, problems: list[str]) -> date | None:
    """A milestone's ``YYYY-MM-DD`` day; None with the reason in ``problems`` if it is none."""
    match = _DAY.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        problems.append(f"milestone {_shown(raw)}: not a date (YYYY-MM-DD)")
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError as exc:
        problems.append(f"milestone {raw}: no such day ({exc})")
        return None


def _fraction(day: object, raw: object, problems: list[str]) -> Decimal | None:
    """A milestone's fraction, ``0.35`` or ``35%``; None with the reason in ``problems`` if it is none."""
    text = raw if isinstance(raw, str) else ""
    number = text.removesuffix("%").strip()
    try:
        value = parse_number(number, "en") if number else None
    except NumberError:
        value = None
    if value is None:
        problems.append(f"milestone {_shown(day)}: fraction {_shown(raw)!r} is not a number (0.35 or 35%)")
        return None
    return value / 100 if text.endswith("%") else value
