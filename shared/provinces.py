"""Vietnam's provincial-level units across the 2025 merger: codes, names, validity periods and name matching.

A unit is keyed by its code AND its validity period: on 2025-07-01 sixty-three units became thirty-four and
seven codes (15, 24, 44, 52, 80, 82, 91) started naming a different province. Names match on a folded key
(no case, diacritics, đ, punctuation, spacing or prefixes such as "Tỉnh"/"TP."/"province") or on an explicit
alias; fuzzy matching only ever feeds the suggestions of :class:`UnknownProvinceError`.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from importlib import resources

__all__ = [
    "MERGER_DATE",
    "Province",
    "ProvinceRegistry",
    "UnknownProvinceError",
    "normalise_name",
    "registry",
]

#: Resolution 202/2025/QH15 takes effect: 63 provincial-level units become 34.
MERGER_DATE = date(2025, 7, 1)
#: Inputs longer than this are rejected outright (no normalisation, no fuzzy suggestions).
MAX_INPUT_CHARS = 100

_TABLE_HEADER = ["old_code", "old_name", "new_code", "new_name"]
_OFFICIAL_PREFIXES = ("Tỉnh ", "Thành phố ")
_CODE = re.compile(r"\d{2}")
#: A code as province text: one or two ASCII digits and nothing else ("1" is "01").
_LONE_CODE = re.compile(r"[0-9]{1,2}", re.ASCII)
#: Text with these cannot name a province: the string form of a list or mapping ("['Bắc Giang']").
_STRUCTURE_CHARS = frozenset('[]{}<>"')
#: Renames that kept the code, before the merger: (code, official name until then, first day of the new name).
_RENAMES: tuple[tuple[str, str, date], ...] = (("46", "Tỉnh Thừa Thiên Huế", date(2025, 1, 1)),)

#: Spellings the folded key does not cover -> the official short name they stand for. Folding already handles
#: case, diacritics, spacing, hyphens and prefixes/suffixes, so "Saigon", "TP HCM", "HCM City", "TT-Huế",
#: "Thua Thien Hue", "Hanoi", "Danang", "Daklak", "Cantho" and "Haiphong" need no entry of their own.
_ALIASES: Mapping[str, str] = {
    "TP.HCM": "Hồ Chí Minh",
    "TPHCM": "Hồ Chí Minh",
    "HCMC": "Hồ Chí Minh",
    "Sài Gòn": "Hồ Chí Minh",
    "TT Huế": "Thừa Thiên Huế",
    "BR-VT": "Bà Rịa - Vũng Tàu",
    "Đắc Lắc": "Đắk Lắk",
    "Đắc Nông": "Đắk Nông",
    "Bắc Cạn": "Bắc Kạn",
}

# Word sequences dropped from the start / end of a name ("T." is "t" once punctuation is gone).
_NAME_PREFIXES = (("tinh",), ("thanh", "pho"), ("tp",), ("t",), ("province", "of"), ("city", "of"))
_NAME_SUFFIXES = (("province",), ("city",))
_SEPARATORS = re.compile(r"[\W_]+")
_D_LETTERS = str.maketrans({"đ": "d", "ð": "d"})  # đ, and the look-alike eth
_TEXT_CONTROLS = frozenset("\t\n\r")
# Controls, surrogates, private-use and unassigned code points: such text cannot name a province.
_REJECTED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn"})


@dataclass(frozen=True, slots=True)
class Province:
    """One provincial-level unit during one validity period ``[valid_from, valid_to)``."""

    code: str
    name: str
    official_name: str
    valid_from: date | None
    valid_to: date | None
    successor: str | None

    @property
    def slug(self) -> str:
        """ASCII, lower case, hyphen-separated short name: ``ba-ria-vung-tau``."""
        return _slugify(self.name)

    @property
    def uid(self) -> str:
        """Unique unit id: the code, suffixed with the start date for units that reuse a code (``24@2025-07-01``).

        Totals are keyed by it, so old Bắc Giang (24) and the merged Bắc Ninh (24) never share a series.
        """
        return self.code if self.valid_from is None else f"{self.code}@{self.valid_from.isoformat()}"

    def valid_on(self, on: date) -> bool:
        """Whether the unit exists on that day."""
        started = self.valid_from is None or self.valid_from <= on
        return started and (self.valid_to is None or on < self.valid_to)


class UnknownProvinceError(ValueError):
    """A name or code that matches no unit; ``suggestions`` holds up to 3 close official short names."""

    def __init__(self, name: str, suggestions: tuple[str, ...] = (), reason: str | None = None) -> None:
        self.name = name
        self.suggestions = suggestions
        self.reason = reason
        shown = name if len(name) <= 60 else name[:60] + "…"
        message = f"unknown province {shown!r}"
        if reason:
            message += f" ({reason})"
        if suggestions:
            message += f": did you mean {', '.join(suggestions)}?"
        super().__init__(message)

    def __reduce__(self) -> tuple[type[UnknownProvinceError], tuple[str, tuple[str, ...], str | None]]:
        return type(self), (self.name, self.suggestions, self.reason)


def _fold(text: str) -> list[str] | None:
    """Lower-case words of text without diacritics (đ -> d); None if it holds control or unassigned chars."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    kept = []
    for char in decomposed:
        category = unicodedata.category(char)
        if category[0] == "M":
            continue
        if category in _REJECTED_CATEGORIES and char not in _TEXT_CONTROLS:
            return None
        kept.append(char)
    return [word for word in _SEPARATORS.split("".join(kept).translate(_D_LETTERS)) if word]


@functools.lru_cache(maxsize=4096)
def normalise_name(text: str) -> str:
    """The matching key of a name or code: folded words, prefixes/suffixes dropped, joined without spaces.

    ``"TP. Hồ Chí Minh"``, ``"Ho Chi Minh City"`` and ``"ho-chi-minh"`` all give ``"hochiminh"``. Returns
    ``""`` for text that cannot name a province (nothing left, control or unassigned characters). Does not cap
    length: callers facing untrusted input should (``ProvinceRegistry.resolve`` does).
    """
    words = _fold(text)
    if words is None:
        return ""
    stripped = True
    while stripped:
        stripped = False
        for affix in _NAME_PREFIXES:
            if len(words) > len(affix) and tuple(words[: len(affix)]) == affix:
                words, stripped = words[len(affix) :], True
        for affix in _NAME_SUFFIXES:
            if len(words) > len(affix) and tuple(words[-len(affix) :]) == affix:
                words, stripped = words[: -len(affix)], True
    return "".join(words)


@functools.lru_cache(maxsize=256)
def _slugify(name: str) -> str:
    return "-".join(_fold(name) or ())


def _short_name(official_name: str) -> str:
    for prefix in _OFFICIAL_PREFIXES:
        if official_name.startswith(prefix):
            return official_name[len(prefix) :]
    raise ValueError(f"official name without a 'Tỉnh'/'Thành phố' prefix: {official_name!r}")


def _unit(
    code: str, official_name: str, valid_from: date | None, valid_to: date | None, successor: str | None
) -> Province:
    return Province(code, _short_name(official_name), official_name, valid_from, valid_to, successor)


def _check_date(on: object) -> None:
    # A datetime is a date but does not compare with one; the caller must pick the calendar day in Vietnam.
    if not isinstance(on, date) or isinstance(on, datetime):
        raise TypeError(f"expected a datetime.date (calendar day in Vietnam), got {type(on).__name__}")


def _start(unit: Province) -> date:
    return unit.valid_from or date.min


def _check_disjoint(units: Sequence[Province], what: str) -> None:
    for before, after in itertools.pairwise(units):
        if before.valid_to is None or before.valid_to > _start(after):
            raise ValueError(f"{what}: overlapping validity of {before} and {after}")


class ProvinceRegistry:
    """Units by code and validity period, with name/alias lookup; immutable once built."""

    def __init__(self, units: Iterable[Province], aliases: Mapping[str, str] = _ALIASES) -> None:
        grouped: dict[str, list[Province]] = defaultdict(list)
        for unit in units:
            if not _CODE.fullmatch(unit.code):
                raise ValueError(f"province code must be two digits: {unit}")
            if unit.valid_from and unit.valid_to and unit.valid_from >= unit.valid_to:
                raise ValueError(f"empty validity period: {unit}")
            if unit.successor is not None and unit.valid_to is None:
                raise ValueError(f"a unit with a successor must end: {unit}")
            grouped[unit.code].append(unit)
        self._by_code = {code: tuple(sorted(grouped[code], key=_start)) for code in sorted(grouped)}
        for code, same_code in self._by_code.items():
            _check_disjoint(same_code, f"code {code}")
        self._all = tuple(unit for same_code in self._by_code.values() for unit in same_code)

        self._next: dict[Province, Province] = {}
        predecessors: dict[Province, list[Province]] = defaultdict(list)
        for unit in self._all:
            if unit.successor is not None and unit.valid_to is not None:
                successor = self._unit_on(unit.successor, unit.valid_to)
                if successor is None:
                    raise ValueError(f"no successor {unit.successor} on {unit.valid_to} for {unit}")
                self._next[unit] = successor
                predecessors[successor].append(unit)
        self._predecessors = {unit: tuple(units) for unit, units in predecessors.items()}

        index: dict[str, list[Province]] = defaultdict(list)
        self._display: dict[str, str] = {}  # key -> official short name, for suggestions
        for unit in self._all:
            key = normalise_name(unit.name)
            index[key].append(unit)
            self._display.setdefault(key, unit.name)
        # A rename (one predecessor, same code) keeps both names valid for both periods: "Huế" in 2024 is 46.
        for unit, successor in self._next.items():
            if unit.code == successor.code and predecessors[successor] == [unit]:
                index[normalise_name(unit.name)].append(successor)
                index[normalise_name(successor.name)].append(unit)
        names = {key: tuple(sorted(set(found), key=_start)) for key, found in index.items()}
        for alias, target in aliases.items():
            key, target_key = normalise_name(alias), normalise_name(target)
            if target_key not in names:
                raise ValueError(f"alias {alias!r} names unknown province {target!r}")
            if names.setdefault(key, names[target_key]) != names[target_key]:
                raise ValueError(f"alias {alias!r} clashes with another name")
            self._display.setdefault(key, self._display[target_key])
        for key, found in names.items():
            _check_disjoint(found, f"name key {key!r}")
        codes = {code.lstrip("0") or "0": found for code, found in self._by_code.items()}
        if clash := sorted(names.keys() & (self._by_code.keys() | codes.keys())):
            raise ValueError(f"name keys {clash} clash with province codes")
        self._index: dict[str, tuple[Province, ...]] = {**names, **self._by_code, **codes}

        self._current = tuple(unit for unit in self._all if unit.valid_on(MERGER_DATE))
        self._pre_merger = tuple(unit for unit in self._all if unit.valid_on(MERGER_DATE - timedelta(days=1)))
        constituents: dict[str, list[Province]] = defaultdict(list)
        for unit in self._pre_merger:
            constituents[self._forward(unit).code].append(unit)
        self._constituents = {unit.code: tuple(constituents[unit.code]) for unit in self._current}
        self._suggest = functools.lru_cache(maxsize=1024)(self._suggestions)

    @classmethod
    def from_tsv(
        cls,
        text: str,
        aliases: Mapping[str, str] = _ALIASES,
        renames: Iterable[tuple[str, str, date]] = _RENAMES,
    ) -> ProvinceRegistry:
        """Build from the merger table (old_code, old_name, new_code, new_name; ``#`` comments) and renames.

        A unit whose row maps it onto itself alone is one unit across the merger; every other old unit ends on
        :data:`MERGER_DATE` with the new code as successor, and each new unit starts on that date.
        """
        rows = [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]
        if not rows or rows[0] != _TABLE_HEADER:
            raise ValueError(f"province table must start with the header {_TABLE_HEADER}")
        members: dict[str, list[tuple[str, str]]] = defaultdict(list)
        new_names: dict[str, str] = {}
        for number, row in enumerate(rows[1:], start=1):
            if len(row) != len(_TABLE_HEADER):
                raise ValueError(f"province table data row {number}: expected 4 tab-separated fields: {row}")
            old_code, old_name, new_code, new_name = (unicodedata.normalize("NFC", f.strip()) for f in row)
            if new_names.setdefault(new_code, new_name) != new_name:
                raise ValueError(f"province table data row {number}: new code {new_code} has two names")
            members[new_code].append((old_code, old_name))
        units = []
        for new_code, olds in members.items():
            if olds == [(new_code, new_names[new_code])]:
                units.append(_unit(new_code, new_names[new_code], None, None, None))
            else:
                units.append(_unit(new_code, new_names[new_code], MERGER_DATE, None, None))
                units += [_unit(code, name, None, MERGER_DATE, new_code) for code, name in olds]
        for code, earlier_name, since in renames:
            found = [u for u in units if u.code == code and u.valid_from is None and u.valid_on(since)]
            if len(found) != 1:
                raise ValueError(f"rename of {code} on {since}: no open-started unit with that code")
            units.remove(found[0])
            units += [replace(found[0], valid_from=since), _unit(code, earlier_name, None, since, code)]
        return cls(units, aliases)

    def resolve(self, name_or_code: str, on: date) -> Province:
        """The unit a name, alias, slug or code means on that day; an ended unit resolves to its successor.

        Raises UnknownProvinceError for anything else (non-strings, over-long or control-laden text included).
        """
        _check_date(on)
        candidates = self._candidates(name_or_code)
        for unit in candidates:
            if unit.valid_on(on):
                return unit
        successor = self._successor_on(candidates, on)
        if successor is None:
            raise UnknownProvinceError(name_or_code, reason=f"no such unit on {on.isoformat()}")
        return successor

    def former_part(self, name_or_code: str, on: date) -> Province | None:
        """The ended unit the text names if, on that day, its territory is only part of a merged unit.

        That is when resolution has to follow successors through a merger of two or more units: "Bắc Giang" or
        code "27" (old Bắc Ninh) on 2025-09-30 give the old unit; "Bắc Ninh" then names the merged unit itself,
        a rename with the same territory (Thừa Thiên Huế → Huế) and an unchanged unit give None. Raises
        UnknownProvinceError like :meth:`resolve`.
        """
        _check_date(on)
        candidates = self._candidates(name_or_code)
        if any(unit.valid_on(on) for unit in candidates):
            return None
        ended = [unit for unit in candidates if unit.valid_to is not None and unit.valid_to <= on]
        if not ended:
            return None
        unit: Province | None = ended[-1]
        while unit is not None and not unit.valid_on(on):
            unit = self._next.get(unit)
            if unit is not None and len(self._predecessors.get(unit, ())) > 1:
                return ended[-1]
        return None

    def _candidates(self, name_or_code: object) -> tuple[Province, ...]:
        """The units a name, alias, slug or code may mean (of any period); UnknownProvinceError otherwise."""
        if not isinstance(name_or_code, str):
            shown = repr(name_or_code)[:MAX_INPUT_CHARS]
            raise UnknownProvinceError(shown, reason=f"not a string but {type(name_or_code).__name__}")
        if len(name_or_code) > MAX_INPUT_CHARS:
            raise UnknownProvinceError(name_or_code, reason=f"longer than {MAX_INPUT_CHARS} characters")
        if any(char.isdigit() for char in name_or_code) and not _LONE_CODE.fullmatch(name_or_code.strip()):
            raise UnknownProvinceError(name_or_code, reason="a province code is two digits and nothing else")
        if not _STRUCTURE_CHARS.isdisjoint(name_or_code):
            raise UnknownProvinceError(name_or_code, reason="brackets or quotes cannot be part of a name")
        key = normalise_name(name_or_code)
        candidates = self._index.get(key)
        if candidates is None:
            raise UnknownProvinceError(name_or_code, self._suggest(key))
        return candidates

    def get(self, code: str, on: date) -> Province:
        """The unit holding that code on that day (``"1"`` is ``"01"``); no successor is followed."""
        _check_date(on)
        unit = self._unit_on(self._code(code), on)
        if unit is None:
            raise UnknownProvinceError(code, reason=f"no unit has this code on {on.isoformat()}")
        return unit

    def rollup(self, code: str, on: date) -> Province:
        """The current (post-merger) unit that the unit with that code on that day belongs to.

        Like :meth:`resolve`, a code that had ended by then counts as its successor.
        """
        _check_date(on)
        candidates = self._by_code.get(self._code(code), ())
        unit = next((u for u in candidates if u.valid_on(on)), None) or self._successor_on(candidates, on)
        if unit is None:
            raise UnknownProvinceError(code, reason=f"no unit has this code on {on.isoformat()}")
        return self._forward(unit)

    def current(self) -> tuple[Province, ...]:
        """The 34 units valid from :data:`MERGER_DATE`, by code."""
        return self._current

    def pre_merger(self) -> tuple[Province, ...]:
        """The 63 units valid on the eve of the merger (Huế as Thành phố Huế), by code."""
        return self._pre_merger

    def all_units(self) -> tuple[Province, ...]:
        """Every unit of every period, by code then start."""
        return self._all

    def constituents(self, current_code: str) -> tuple[Province, ...]:
        """The pre-merger units that roll up into the current unit with that code, by code."""
        found = self._constituents.get(self._code(current_code))
        if found is None:
            raise UnknownProvinceError(current_code, reason="not the code of a current unit")
        return found

    @staticmethod
    def _code(code: object) -> str:
        text = code.strip() if isinstance(code, str) else ""
        if text.isascii() and text.isdigit() and len(text) <= 2:
            return text.zfill(2)
        shown = code if isinstance(code, str) else repr(code)
        raise UnknownProvinceError(shown, reason="not a province code")

    def _unit_on(self, code: str, on: date) -> Province | None:
        return next((unit for unit in self._by_code.get(code, ()) if unit.valid_on(on)), None)

    def _successor_on(self, candidates: Sequence[Province], on: date) -> Province | None:
        """Follow the latest of the candidates that ended by ``on`` through its successors to ``on``."""
        ended = [unit for unit in candidates if unit.valid_to is not None and unit.valid_to <= on]
        if not ended:
            return None
        unit: Province | None = ended[-1]
        while unit is not None and not unit.valid_on(on):
            unit = self._next.get(unit)
        return unit

    def _forward(self, unit: Province) -> Province:
        while unit in self._next:
            unit = self._next[unit]
        return unit

    def _suggestions(self, key: str) -> tuple[str, ...]:
        names: list[str] = []
        for match in difflib.get_close_matches(key, self._display, n=8, cutoff=0.6):
            if self._display[match] not in names:
                names.append(self._display[match])
        return tuple(names[:3])


@functools.cache
def registry() -> ProvinceRegistry:
    """The registry built from the packaged merger table (``shared/data/provinces-2025.tsv``)."""
    table = resources.files("shared").joinpath("data/provinces-2025.tsv").read_text(encoding="utf-8")
    return ProvinceRegistry.from_tsv(table)
