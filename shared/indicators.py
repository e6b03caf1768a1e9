"""The indicator catalogue: what each feed figure measures and how its values add up.

The ids are a published contract (feed publishers put them in ``FeedEvent.indicator``); never rename one.
"""

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from shared.units import BASE_SYMBOLS, Unit

__all__ = [
    "CATALOGUE",
    "FractionalCountError",
    "Indicator",
    "Kind",
    "UnitMismatchError",
    "UnknownIndicatorError",
    "get_indicator",
]


class Kind(StrEnum):
    """How values of an indicator combine over time."""

    FLOW = "flow"
    """Additive within a period; events are ``delta`` increments or ``ytd`` cumulative readings."""
    YTD = "ytd"
    """Reported only as cumulative year-to-date totals; a period's value is a difference of two readings."""
    RATE = "rate"
    """A ratio or growth rate: never summed, the latest reading wins."""
    LEVEL = "level"
    """A stock at a point in time: the latest reading wins."""


class UnitMismatchError(ValueError):
    """A value's unit measures a different dimension than the indicator."""


class FractionalCountError(ValueError):
    """A count indicator (enterprises, jobs, households) was given a value that is not a whole number."""


class UnknownIndicatorError(ValueError):
    """No indicator has this id; ``suggestions`` holds close ids."""

    def __init__(self, indicator_id: object, suggestions: tuple[str, ...]) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown indicator {indicator_id!r}{hint}")
        self.indicator_id = indicator_id
        self.suggestions = suggestions


@dataclass(frozen=True)
class Indicator:
    """One catalogue entry. ``cadence_days`` is the longest normal gap between reports."""

    id: str
    name_vi: str
    name_en: str
    kind: Kind
    dimension: str
    base_unit: str
    higher_is_better: bool
    nonnegative: bool
    cadence_days: int
    default_curve: str

    @property
    def whole_numbers(self) -> bool:
        """True when values count things (enterprises, jobs, households): whole numbers only."""
        return self.dimension in _WHOLE_DIMENSIONS

    def check_whole(self, value: Decimal) -> None:
        """Raise FractionalCountError when this is a count indicator and ``value`` is not a whole number."""
        if not self.whole_numbers:
            return
        if not isinstance(value, Decimal) or not value.is_finite() or value != value.to_integral_value():
            raise FractionalCountError(f"{self.name_en} ({self.id!r}) is a count: whole numbers only, got {value}")

    def plan_year_end(self, year: int) -> date:
        """Last day a figure of plan year ``year`` may be dated: 31 January of ``year + 1`` for disbursement
        (capital of plan year N may be disbursed until then), 31 December of ``year`` otherwise."""
        if self.default_curve == "disbursement":
            return date(year + 1, 1, 31)
        return date(year, 12, 31)

    @property
    def counts(self) -> frozenset[str]:
        """What a count indicator counts: the ``Unit.counts`` meanings it accepts (a plain count always fits)."""
        return _COUNTS.get(self.id, frozenset())

    def convert(self, value: Decimal, unit: Unit) -> Decimal:
        """Return ``value`` expressed in ``unit`` converted exactly to this indicator's base unit.

        The unit must measure this indicator's dimension and, for a count, count the same things (new jobs are
        not counted in enterprises); a plain count (``count``, ``cái``) suits any count indicator.
        """
        plain_count = unit.dimension == "count" and unit.counts is None and self.whole_numbers
        if unit.dimension != self.dimension and not plain_count:
            raise UnitMismatchError(
                f"indicator {self.id!r} is measured in {self.base_unit} ({self.dimension}), "
                f"but unit {unit.symbol!r} measures {unit.dimension}"
            )
        if unit.counts is not None and unit.counts not in self.counts:
            raise UnitMismatchError(
                f"indicator {self.id!r} counts {' or '.join(sorted(self.counts))}, "
                f"but unit {unit.symbol!r} counts {unit.counts}"
            )
        digits = len(value.as_tuple().digits) + len(unit.factor.as_tuple().digits)
        converted = Context(prec=max(28, digits)).multiply(value, unit.factor)
        return converted.copy_abs() if converted.is_zero() else converted  # no negative zero


_WHOLE_DIMENSIONS: Final = frozenset({"count", "households"})
#: Indicator id → the things it counts (``Unit.counts`` values it accepts).
_COUNTS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "new_enterprises": frozenset({"enterprises"}),
        "new_jobs": frozenset({"jobs", "people"}),
        "site_clearance_households": frozenset({"households"}),
    }
)


def _indicator(
    id_: str,
    name_vi: str,
    name_en: str,
    kind: Kind,
    dimension: str,
    *,
    cadence_days: int = 35,
    default_curve: str = "linear",
    nonnegative: bool = True,
) -> Indicator:
    return Indicator(
        id=id_,
        name_vi=name_vi,
        name_en=name_en,
        kind=kind,
        dimension=dimension,
        base_unit=BASE_SYMBOLS[dimension],
        higher_is_better=True,
        nonnegative=nonnegative,
        cadence_days=cadence_days,
        default_curve=default_curve,
    )


_ENTRIES: Final = (
    _indicator(
        "public_investment_disbursed",
        "Giải ngân vốn đầu tư công",
        "Public investment capital disbursed",
        Kind.FLOW,
        "vnd",
        default_curve="disbursement",
    ),
    _indicator(
        "site_clearance_area",
        "Diện tích giải phóng mặt bằng",
        "Site clearance area handed over",
        Kind.FLOW,
        "area_ha",
    ),
    _indicator(
        "site_clearance_households",
        "Số hộ đã bồi thường, giải phóng mặt bằng",
        "Households compensated for site clearance",
        Kind.FLOW,
        "households",
    ),
    _indicator("state_budget_revenue", "Thu ngân sách nhà nước", "State budget revenue", Kind.FLOW, "vnd"),
    _indicator(
        "industrial_production_value",
        "Giá trị sản xuất công nghiệp",
        "Industrial production value",
        Kind.FLOW,
        "vnd",
    ),
    _indicator(
        "import_export_value",
        "Kim ngạch xuất nhập khẩu",
        "Import-export turnover",
        Kind.FLOW,
        "usd",
    ),
    _indicator(
        "new_enterprises",
        "Số doanh nghiệp thành lập mới",
        "Newly established enterprises",
        Kind.FLOW,
        "count",
    ),
    _indicator(
        "registered_capital",
        "Vốn đăng ký của doanh nghiệp thành lập mới",
        "Registered capital of new enterprises",
        Kind.FLOW,
        "vnd",
    ),
    _indicator(
        "investment_attracted",
        "Vốn đầu tư thu hút",
        "Investment capital attracted",
        Kind.FLOW,
        "usd",
    ),
    _indicator("new_jobs", "Số lao động được tạo việc làm mới", "New jobs created", Kind.FLOW, "count"),
    _indicator(
        "grdp_growth",
        "Tốc độ tăng trưởng GRDP",
        "GRDP growth rate",
        Kind.RATE,
        "percent",
        cadence_days=100,
        default_curve="none",
        nonnegative=False,
    ),
    _indicator(
        "grdp",
        "Tổng sản phẩm trên địa bàn (GRDP, giá so sánh)",
        "Gross regional domestic product (GRDP, constant prices)",
        Kind.LEVEL,
        "vnd",
        cadence_days=100,
        default_curve="none",
    ),
)


def _catalogue(entries: tuple[Indicator, ...]) -> Mapping[str, Indicator]:
    by_id: dict[str, Indicator] = {}
    for entry in entries:
        if entry.id in by_id:
            raise ValueError(f"indicator id {entry.id!r} is catalogued twice")
        by_id[entry.id] = entry
    return MappingProxyType(by_id)


CATALOGUE: Final[Mapping[str, Indicator]] = _catalogue(_ENTRIES)


def get_indicator(id: str) -> Indicator:
    """Return the catalogue entry for ``id``; raise UnknownIndicatorError with close ids otherwise."""
    if not isinstance(id, str):
        raise UnknownIndicatorError(id, ())
    indicator = CATALOGUE.get(id)
    if indicator is None:
        raise UnknownIndicatorError(id, tuple(difflib.get_close_matches(id, CATALOGUE, n=3, cutoff=0.6)))
    return indicator
