"""Catalogue of the units provincial reports use, with exact factors to each dimension's base unit.

Lookup ignores case, whitespace, hyphens, Unicode normalisation form and Vietnamese diacritics
(``Tỷ  Đồng``, ``ty dong`` and ``TỶ ĐỒNG`` are the same unit). A unit also tells which language its
spelling belongs to (``vi``, ``en`` or ``None`` for neutral symbols such as ``VND`` or ``ha``), which
decides how an ambiguous number like ``4.680`` in the same event is read.
"""

import difflib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Final, Literal

__all__ = ["BASE_SYMBOLS", "UNITS", "Unit", "UnknownUnitError", "lookup_unit", "unit_key"]

Lang = Literal["vi", "en"]

BASE_SYMBOLS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "vnd": "VND",
        "usd": "USD",
        "area_ha": "ha",
        "count": "count",
        "households": "households",
        "percent": "%",
    }
)
"""Dimension → display symbol of its base unit (the unit a factor of 1 converts to)."""


@dataclass(frozen=True)
class Unit:
    """A unit: canonical display symbol, dimension, exact factor to the base unit, spelling language.

    ``counts`` says what a count unit counts (``enterprises``, ``people``, ``jobs``, ``households``); ``None``
    for a plain count (``count``, ``cái``), which suits any count indicator, and for non-count units.
    """

    symbol: str
    dimension: str
    factor: Decimal
    lang: Lang | None
    counts: str | None = None


class UnknownUnitError(ValueError):
    """The text names no known unit; ``suggestions`` holds close known spellings."""

    def __init__(self, text: object, suggestions: tuple[str, ...]) -> None:
        if suggestions:
            hint = f"did you mean {', '.join(repr(s) for s in suggestions)}?"
        else:
            hint = f"known units include {', '.join(spec[0] for spec in _SPEC)}"
        super().__init__(f"unknown unit {text!r}; {hint}")
        self.text = text
        self.suggestions = suggestions


# (symbol, dimension, factor, {lang: spellings}); lang None = neutral symbol.
_SPEC: Final[tuple[tuple[str, str, Decimal, dict[Lang | None, tuple[str, ...]]], ...]] = (
    ("đồng", "vnd", Decimal(1), {None: ("VND", "VNĐ"), "vi": ("đồng",), "en": ("Vietnamese dong",)}),
    ("nghìn đồng", "vnd", Decimal(10**3), {"vi": ("nghìn đồng", "ngàn đồng"), "en": ("thousand VND",)}),
    (
        "triệu đồng",
        "vnd",
        Decimal(10**6),
        {"vi": ("triệu đồng", "triệu VND"), "en": ("million VND", "mn VND", "million dong")},
    ),
    (
        "tỷ đồng",
        "vnd",
        Decimal(10**9),
        {
            "vi": ("tỷ đồng", "tỉ đồng", "tỷ VND", "tỉ VND"),
            "en": ("billion VND", "bn VND", "bln VND", "billion dong"),
        },
    ),
    (
        "nghìn tỷ đồng",
        "vnd",
        Decimal(10**12),
        {
            "vi": ("nghìn tỷ đồng", "ngàn tỷ đồng", "nghìn tỉ đồng", "ngàn tỉ đồng", "nghìn tỷ VND"),
            "en": ("trillion VND", "tn VND", "trillion dong"),
        },
    ),
    ("USD", "usd", Decimal(1), {None: ("USD", "US$"), "vi": ("đô la Mỹ",), "en": ("US dollars",)}),
    ("nghìn USD", "usd", Decimal(10**3), {"vi": ("nghìn USD", "ngàn USD"), "en": ("thousand USD",)}),
    (
        "triệu USD",
        "usd",
        Decimal(10**6),
        {"vi": ("triệu USD", "triệu đô la Mỹ"), "en": ("million USD", "mn USD", "USD million")},
    ),
    (
        "tỷ USD",
        "usd",
        Decimal(10**9),
        {"vi": ("tỷ USD", "tỉ USD"), "en": ("billion USD", "bn USD", "USD billion")},
    ),
    ("ha", "area_ha", Decimal(1), {None: ("ha",), "vi": ("hecta", "héc-ta"), "en": ("hectare", "hectares")}),
    (
        "m²",
        "area_ha",
        Decimal("0.0001"),
        {
            None: ("m2", "m²"),
            "vi": ("mét vuông",),
            "en": ("square metres", "square meters", "square metre", "square meter", "sq m"),
        },
    ),
    (
        "km²",
        "area_ha",
        Decimal(100),
        {
            None: ("km2", "km²"),
            "vi": ("ki-lô-mét vuông", "kilômét vuông"),
            "en": ("square kilometres", "square kilometers"),
        },
    ),
    ("count", "count", Decimal(1), {None: ("count",), "vi": ("cái",)}),
    ("doanh nghiệp", "count", Decimal(1), {"vi": ("doanh nghiệp",), "en": ("enterprises", "businesses")}),
    ("người", "count", Decimal(1), {"vi": ("người",), "en": ("people", "persons")}),
    ("lao động", "count", Decimal(1), {"vi": ("lao động",), "en": ("workers",)}),
    ("việc làm", "count", Decimal(1), {"vi": ("việc làm",), "en": ("jobs",)}),
    ("hộ", "households", Decimal(1), {"vi": ("hộ", "hộ dân", "hộ gia đình"), "en": ("households",)}),
    ("%", "percent", Decimal(1), {None: ("%",), "vi": ("phần trăm",), "en": ("percent",)}),
)


#: Symbol of a count unit → what it counts (a count unit not listed is a plain count).
_COUNTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "doanh nghiệp": "enterprises",
        "người": "people",
        "lao động": "people",
        "việc làm": "jobs",
        "hộ": "households",
    }
)


def unit_key(text: str) -> str:
    """Matching key of a unit spelling: no diacritics (đ→d), casefolded, no whitespace or hyphens."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    bare = bare.replace("đ", "d").replace("Đ", "D").casefold()
    return "".join(ch for ch in bare if not ch.isspace() and ch != "-")


def _build() -> tuple[dict[str, Unit], dict[str, str]]:
    units: dict[str, Unit] = {}
    spellings: dict[str, str] = {}
    for symbol, dimension, factor, by_lang in _SPEC:
        for lang, names in by_lang.items():
            unit = Unit(symbol, dimension, factor, lang, _COUNTS.get(symbol))
            for name in names:
                key = unit_key(name)
                if units.setdefault(key, unit) != unit:
                    raise ValueError(f"unit spelling {name!r} collides with {spellings[key]!r}")
                spellings.setdefault(key, name)
    return units, spellings


_BY_KEY, _SPELLING = _build()

UNITS: Final[Mapping[str, Unit]] = MappingProxyType(_BY_KEY)
"""Matching key (see ``unit_key``) → unit, for every accepted spelling."""


def lookup_unit(text: str) -> Unit:
    """Return the unit ``text`` names; raise UnknownUnitError (with close spellings) otherwise."""
    if not isinstance(text, str):
        raise UnknownUnitError(text, ())
    key = unit_key(text)
    unit = _BY_KEY.get(key)
    if unit is None:
        close = difflib.get_close_matches(key, _BY_KEY, n=3, cutoff=0.6)
        raise UnknownUnitError(text, tuple(_SPELLING[k] for k in close))
    return unit
