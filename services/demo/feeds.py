"""Deterministic sample provincial feeds for a year: the demo's input and a fixture for tests.

Seven province offices publish what their staff really send: monthly reports on cut-off days (20th-25th,
moved off weekends) with year-to-date readings, quarter-end reviews, weekly increments of disbursed capital
and of site clearance per project, in every spelling of the province, Vietnamese or English units and number
notation, composed or decomposed Unicode. About 3% of events are re-sent (duplicates), a few are corrected
(revision 1) and about 2% are broken, each with the dead-letter reason the ingest worker must give. For 2024
the figures follow the seed articles (Bắc Giang's first quarter, Lạng Sơn's lagging disbursement, Hải Phòng's
site clearance); see ``deploy/samples/README.md``.
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


_MONTH_WEIGHTS: Final = (7.2, 6.0, 8.4, 8.3, 8.5, 8.6, 8.6, 8.7, 8.6, 8.8, 8.9, 9.4)
_SEASONAL: Final[Curve] = tuple(
    (month, 31, sum(_MONTH_WEIGHTS[:month]) / sum(_MONTH_WEIGHTS)) for month in range(1, 13)
)
#: Disbursement on track: slow early, fast late, a little under the plan curve (15/35/60/95% at quarter ends).
_DISBURSEMENT: Final[Curve] = (
    (1, 31, 0.025),
    (3, 31, 0.145),
    (6, 30, 0.345),
    (8, 31, 0.49),
    (9, 30, 0.59),
    (11, 30, 0.78),
    (12, 31, 0.955),
)
_CLEARANCE: Final[Curve] = ((3, 31, 0.10), (6, 30, 0.30), (9, 30, 0.60), (12, 31, 1.0))

_CAPITAL_SOURCES: Final[tuple[Part, ...]] = (
    ("nsdp", "vốn ngân sách địa phương", "local budget capital"),
    ("nstw", "vốn ngân sách trung ương", "central budget capital"),
    ("oda", "vốn ODA", "ODA capital"),
    ("ctmtqg", "vốn chương trình mục tiêu quốc gia", "national target programmes"),
)
_CAPITAL_WEIGHTS: Final = {"nsdp": 0.5, "nstw": 0.3, "oda": 0.1, "ctmtqg": 0.1}


def _scaled(curve: Curve, factor: float) -> Curve:
    return tuple((month, day, fraction * factor) for month, day, fraction in curve)


def _projects(*names: tuple[str, str]) -> tuple[Part, ...]:
    return tuple((slug, name, name) for slug, name in names)


def _standard(  # noqa: PLR0917 - one figure per indicator, named at the call by position like a table row
    budget: float,
    ipv: float,
    trade: float,
    invest: float,
    enterprises: float,
    capital: float,
    jobs: float,
    growth: tuple[str, str, str, str],
    disbursement: _Series,
    clearance: _Series,
) -> tuple[_Series, ...]:
    """The series every office sends; totals in bn VND, mn USD, ha or counts for the year."""
    return (
        _Series("state_budget_revenue", "ytd", "monthly+quarters", "vnd", budget, _SEASONAL),
        _Series("industrial_production_value", "ytd", "monthly+quarters", "vnd_large", ipv, _SEASONAL),
        _Series("import_export_value", "ytd", "monthly+quarters", "usd", trade, _SEASONAL),
        _Series("investment_attracted", "ytd", "monthly", "usd_small", invest, _SEASONAL),
        _Series("new_enterprises", "delta", "monthly", "enterprises", enterprises, _SEASONAL),
        _Series("registered_capital", "delta", "monthly", "vnd", capital, _SEASONAL),
        _Series("new_jobs", "delta", "monthly", "jobs", jobs, _SEASONAL),
        _Series("grdp_growth", "ytd", "quarters", "percent", rates=growth),
        disbursement,
        clearance,
    )


def _weekly_disbursement(plan: float, performance: float, parts: tuple[Part, ...] = ()) -> _Series:
    curve = _scaled(_DISBURSEMENT, performance)
    return _Series("public_investment_disbursed", "delta", "weekly", "vnd_small", plan, curve, parts)


def _clearance(plan: float, curve: Curve, projects: tuple[Part, ...]) -> _Series:
    return _Series("site_clearance_area", "delta", "weekly", "area", plan, curve, projects)


_BAC_GIANG_FIXED: Final[Mapping[tuple[int, int], Mapping[str, Mapping[str, object]]]] = {
    (3, 31): {
        "state_budget_revenue": {
            "event_id": "bg-2024-q1-ngansach",
            "province": "Bắc Giang",
            "indicator": "state_budget_revenue",
            "as_of": "2024-03-31",
            "value": "4.680",
            "unit": "tỷ đồng",
            "mode": "ytd",
            "source": "UBND tỉnh Bắc Giang, báo cáo quý I/2024",
        },
        "industrial_production_value": {
            "event_id": "bg-2024-q1-sxcn",
            "province": "Bắc Giang",
            "indicator": "industrial_production_value",
            "as_of": "2024-03-31",
            "value": "150,06",
            "unit": "nghìn tỷ đồng",
            "mode": "ytd",
            "source": "Cục Thống kê tỉnh Bắc Giang, quý I/2024 (đạt 22,6% kế hoạch)",
        },
        "import_export_value": {
            "event_id": "bg-2024-q1-xnk",
            "province": "Tỉnh Bắc Giang",
            "indicator": "import_export_value",
            "as_of": "2024-03-31",
            "value": "10.310",
            "unit": "triệu USD",
            "mode": "ytd",
            "source": "Sở Công Thương tỉnh Bắc Giang, quý I/2024",
        },
        "grdp_growth": {
            "event_id": "bg-2024-q1-grdp",
            "province": "Bắc Giang",
            "indicator": "grdp_growth",
            "as_of": "2024-03-31",
            "value": 14.18,
            "unit": "%",
            "mode": "ytd",
            "source": "Cục Thống kê tỉnh Bắc Giang, ước tính quý I/2024",
        },
    },
    (3, 15): {
        "investment_attracted": {
            "event_id": "bacgiang-fdi-2024-03-15",
            "province": "Bac Giang province",
            "indicator": "investment_attracted",
            "as_of": "2024-03-15",
            "value": "624.26",
            "unit": "million USD",
            "mode": "ytd",
            "source": "Bac Giang People's Committee, Q1 2024 review",
        },
    },
}


def _fixed(indicator: str) -> dict[tuple[int, int], Mapping[str, object]]:
    return {day: events[indicator] for day, events in _BAC_GIANG_FIXED.items() if indicator in events}


_BAC_GIANG: Final = _Office(
    topic="feed.bac-giang",
    place_vi="tỉnh Bắc Giang",
    place_en="Bac Giang province",
    names=(
        ("Bắc Giang", 10),
        ("Bac Giang", 3),
        ("BẮC GIANG", 1),
        ("Tỉnh Bắc Giang", 2),
        ("24", 1),
        ("Bac Giang province", 1),
    ),
    ids="bg-{year}-{period}-{short}{part}",
    time_style="date",
    en_share=0.15,
    formats=(("grouped", 5), ("number", 3), ("plain", 2)),
    nfd_share=0.08,
    encoding="compact",
    series=(
        # Q1 2024 (seed 001): budget 4,680 bn = 32.6% of the 14,356 bn estimate; industry 150.06 trillion =
        # 22.6% of a 664 trillion plan; trade 10.31 bn USD; 624.26 mn USD attracted by 15 March.
        _Series(
            "state_budget_revenue",
            "ytd",
            "monthly+quarters",
            "vnd",
            15_200,
            ((1, 31, 0.112), (2, 29, 0.205), (3, 31, 4_680 / 15_200), (6, 30, 0.54), (9, 30, 0.765), (12, 31, 1)),
            anchors={(3, 31): Decimal("4680")},
            fixed=_fixed("state_budget_revenue"),
        ),
        _Series(
            "industrial_production_value",
            "ytd",
            "monthly+quarters",
            "vnd_large",
            672_000,
            ((1, 31, 0.078), (2, 29, 0.139), (3, 31, 150_060 / 672_000), (6, 30, 0.47), (9, 30, 0.73), (12, 31, 1)),
            anchors={(3, 31): Decimal("150060")},
            fixed=_fixed("industrial_production_value"),
        ),
        _Series(
            "import_export_value",
            "ytd",
            "monthly+quarters",
            "usd",
            45_600,
            ((1, 31, 0.08), (2, 29, 0.142), (3, 31, 10_310 / 45_600), (6, 30, 0.47), (9, 30, 0.735), (12, 31, 1)),
            anchors={(3, 31): Decimal("10310")},
            fixed=_fixed("import_export_value"),
        ),
        _Series(
            "investment_attracted",
            "ytd",
            "15th",
            "usd_small",
            2_150,
            ((1, 31, 0.13), (2, 29, 0.235), (3, 15, 624.26 / 2_150), (6, 30, 0.52), (9, 30, 0.75), (12, 31, 1)),
            id_template="bacgiang-fdi-{date}",
            anchors={(3, 15): Decimal("624.26")},
            fixed=_fixed("investment_attracted"),
        ),
        # 310 new enterprises with 2,535 bn VND registered capital and 8,930 new jobs in Q1 2024 (seed 001).
        _Series(
            "new_enterprises",
            "delta",
            "monthly",
            "enterprises",
            1_650,
            _SEASONAL,
            monthly={1: Decimal("98"), 2: Decimal("72"), 3: Decimal("140")},
        ),
        _Series(
            "registered_capital",
            "delta",
            "monthly",
            "vnd",
            12_800,
            _SEASONAL,
            monthly={1: Decimal("812.5"), 2: Decimal("604"), 3: Decimal("1118.5")},
        ),
        _Series(
            "new_jobs",
            "delta",
            "monthly",
            "jobs",
            31_500,
            _SEASONAL,
            monthly={1: Decimal("2860"), 2: Decimal("2315"), 3: Decimal("3755")},
        ),
        _Series(
            "grdp_growth",
            "ytd",
            "quarters",
            "percent",
            rates=("14.18", "13.76", "13.62", "13.85"),
            fixed=_fixed("grdp_growth"),
        ),
        _Series(
            "public_investment_disbursed",
            "ytd",
            "monthly+quarters",
            "vnd",
            6_500,
            _scaled(_DISBURSEMENT, 1.02),
        ),
        _clearance(
            650,
            _scaled(_CLEARANCE, 0.98),
            _projects(
                ("hoaphu", "KCN Hòa Phú mở rộng"),
                ("yenlu", "KCN Yên Lư"),
                ("tanhung", "KCN Tân Hưng"),
                ("vd4", "Đường vành đai 4 - Vùng Thủ đô (đoạn Bắc Giang)"),
                ("huonglam", "CCN Hương Lâm"),
                ("songkhe", "KCN Song Khê - Nội Hoàng"),
            ),
        ),
    ),
)

_BAC_NINH: Final = _Office(
    topic="feed.bac-ninh",
    place_vi="tỉnh Bắc Ninh",
    place_en="Bac Ninh province",
    names=(("Bắc Ninh", 8), ("Bac Ninh", 3), ("BẮC NINH", 1), ("Tỉnh Bắc Ninh", 2), ("27", 1)),
    ids="BN/{indicator}/{compact}{part}",
    part_separator="/",
    time_style="naive",
    en_share=0.2,
    formats=(("number", 5), ("grouped", 3), ("plain", 1)),
    nfd_share=0.03,
    encoding="ascii",
    series=_standard(
        33_500,
        1_080_000,
        61_000,
        4_700,
        2_750,
        29_000,
        33_000,
        ("3.15", "4.84", "5.36", "6.03"),
        _weekly_disbursement(7_200, 0.97, _CAPITAL_SOURCES),
        _clearance(
            900,
            _CLEARANCE,
            _projects(
                ("yp2a", "KCN Yên Phong II-A"),
                ("qv3", "KCN Quế Võ III"),
                ("tt1", "KCN Thuận Thành I"),
                ("gb2", "KCN Gia Bình II"),
                ("vd4", "Đường vành đai 4 - Vùng Thủ đô (đoạn Bắc Ninh)"),
                ("hotiendu", "Khu đô thị hồ Tiên Du"),
            ),
        ),
    ),
)

_HAI_PHONG: Final = _Office(
    topic="feed.hai-phong",
    place_vi="thành phố Hải Phòng",
    place_en="Hai Phong city",
    names=(
        ("Hải Phòng", 6),
        ("TP. Hải Phòng", 4),
        ("Thành phố Hải Phòng", 2),
        ("Hai Phong", 2),
        ("Haiphong", 1),
        ("31", 1),
        ("Hai Phong city", 1),
    ),
    ids="hp-{short}-{year}-{period}{part}",
    time_style="offset",
    en_share=0.35,
    formats=(("grouped", 4), ("number", 4), ("plain", 1)),
    nfd_share=0.02,
    encoding="compact",
    explicit_revision=True,
    series=_standard(
        104_000,
        540_000,
        32_500,
        2_300,
        3_650,
        45_000,
        56_000,
        ("10.03", "10.27", "10.08", "10.34"),
        _weekly_disbursement(14_500, 1.0),
        # Site clearance for the new industrial parks (seed 002) lags: 45% of a 1,200 ha plan by year end.
        _clearance(
            1_200,
            ((3, 31, 0.06), (6, 30, 0.15), (9, 30, 0.27), (12, 31, 0.45)),
            _projects(
                ("namtrangcat", "KCN Nam Tràng Cát"),
                ("thuynguyen", "KCN Thủy Nguyên"),
                ("trangdue3", "KCN Tràng Duệ giai đoạn 3"),
                ("giangbien2", "KCN Giang Biên 2"),
                ("chienthang", "CCN Chiến Thắng"),
                ("tantrao", "CCN Tân Trào"),
            ),
        ),
    ),
)

_LANG_SON: Final = _Office(
    topic="feed.lang-son",
    place_vi="tỉnh Lạng Sơn",
    place_en="Lang Son province",
    names=(("Lạng Sơn", 8), ("Lang Son", 3), ("LẠNG SƠN", 1), ("Tỉnh Lạng Sơn", 3), ("20", 1)),
    ids="LS-{compact}-{seq}",
    time_style="date",
    en_share=0.05,
    formats=(("grouped", 6), ("number", 1), ("plain", 2)),
    nfd_share=0.15,
    encoding="compact",
    period_field="ky_bao_cao",
    series=_standard(
        7_400,
        12_600,
        5_450,  # over 5 bn USD a year through the border gates (seed 004)
        310,
        810,
        5_200,
        14_500,
        ("4.85", "5.12", "5.46", "6.02"),
        # Disbursement lags all year: 31% of the 4,500 bn plan by 15 September, where the curve expects ~56%.
        _Series(
            "public_investment_disbursed",
            "ytd",
            "15th+end",
            "vnd",
            4_500,
            (
                (1, 31, 0.012),
                (3, 31, 0.06),
                (6, 30, 0.18),
                (9, 15, 0.31),
                (9, 30, 0.335),
                (11, 30, 0.52),
                (12, 31, 0.71),
            ),
            anchors={(9, 15): Decimal("1395")},
        ),
        _clearance(
            420,
            _scaled(_CLEARANCE, 0.9),
            _projects(
                ("vsip", "KCN VSIP Lạng Sơn"),
                ("dongbanh", "KCN Đồng Bành mở rộng"),
                ("ddtl", "Cao tốc Đồng Đăng - Trà Lĩnh"),
                ("hopthanh", "CCN Hợp Thành"),
                ("namhoangdong", "Khu đô thị Nam Hoàng Đồng"),
            ),
        ),
    ),
)

_HAI_DUONG: Final = _Office(
    topic="feed.hai-duong",
    place_vi="tỉnh Hải Dương",
    place_en="Hai Duong province",
    names=(("Hải Dương", 8), ("Hai Duong", 3), ("Tỉnh Hải Dương", 2), ("30", 2)),
    ids="{uuid}",
    time_style="space",
    en_share=0.1,
    formats=(("grouped", 3), ("number", 3), ("plain", 3)),
    nfd_share=0.05,
    encoding="compact",
    extras=(("he_thong", "Phần mềm báo cáo KT-XH v2.3"),),
    series=_standard(
        21_000,
        310_000,
        16_800,
        820,
        1_520,
        15_200,
        35_000,
        ("9.45", "9.72", "10.01", "10.20"),
        _Series(
            "public_investment_disbursed",
            "ytd",
            "monthly+quarters",
            "vnd",
            5_600,
            _DISBURSEMENT,
        ),
        _clearance(
            500,
            _scaled(_CLEARANCE, 1.02),
            _projects(
                ("phuthai", "KCN Phú Thái"),
                ("kimthanh2", "KCN Kim Thành II"),
                ("vd1", "Đường vành đai I"),
                ("tandan", "CCN Tân Dân"),
                ("tantruong", "KCN Tân Trường mở rộng"),
            ),
        ),
    ),
)

_THAI_NGUYEN: Final = _Office(
    topic="feed.thai-nguyen",
    place_vi="tỉnh Thái Nguyên",
    place_en="Thai Nguyen province",
    names=(("Thái Nguyên", 8), ("Thai Nguyen", 4), ("THÁI NGUYÊN", 1), ("19", 1)),
    ids="tn:{date}:{indicator}{part}",
    part_separator=":",
    time_style="utc",
    en_share=0.3,
    formats=(("number", 8), ("plain", 1), ("grouped", 1)),
    nfd_share=0.0,
    encoding="compact",
    series=_standard(
        20_200,
        930_000,
        58_000,
        640,
        920,
        9_100,
        25_000,
        ("6.27", "6.41", "6.58", "6.60"),
        _weekly_disbursement(4_900, 0.99, _CAPITAL_SOURCES[:3]),
        _clearance(
            380,
            _scaled(_CLEARANCE, 0.97),
            _projects(
                ("yenbinh", "KCN Yên Bình"),
                ("diemthuy", "KCN Điềm Thụy"),
                ("vd5", "Đường vành đai 5 - Vùng Thủ đô (đoạn Thái Nguyên)"),
                ("khason", "CCN Kha Sơn"),
                ("songcong2", "KCN Sông Công II"),
            ),
        ),
    ),
)

_DA_NANG: Final = _Office(
    topic="feed.da-nang",
    place_vi="thành phố Đà Nẵng",
    place_en="Da Nang city",
    names=(("Đà Nẵng", 6), ("Da Nang", 3), ("Danang", 1), ("TP. Đà Nẵng", 2), ("48", 1), ("Đà Nẵng city", 1)),
    ids="dn-{hex}",
    time_style="utc_ms",
    en_share=0.45,
    formats=(("number", 6), ("grouped", 2), ("plain", 1)),
    nfd_share=0.0,
    encoding="sorted",
    week_day=6,  # weekly reports close on Sunday, sent 01:00 Monday (Vietnam) = 18:00Z Sunday
    extras=(("schema_version", 1),),
    series=_standard(
        21_500,
        41_000,
        3_050,
        1_050,
        2_850,
        28_500,
        36_000,
        ("7.01", "7.15", "7.34", "7.51"),
        _weekly_disbursement(10_200, 0.96, _CAPITAL_SOURCES),
        _clearance(
            260,
            _CLEARANCE,
            _projects(
                ("lienchieu", "Cảng Liên Chiểu"),
                ("cnc", "Khu công nghệ cao Đà Nẵng"),
                ("vdtay2", "Đường vành đai phía Tây 2"),
                ("hoaninh", "KCN Hòa Ninh"),
                ("hoacam2", "KCN Hòa Cầm giai đoạn 2"),
            ),
        ),
    ),
)

_OFFICES: Final = (_BAC_GIANG, _BAC_NINH, _HAI_PHONG, _LANG_SON, _HAI_DUONG, _THAI_NGUYEN, _DA_NANG)

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

_BAD_PROVINCES: Final = {
    "feed.bac-giang": ("Bắc Giag", "Bac Gaing"),
    "feed.bac-ninh": ("Bắc Ninhh", "Bac Nihn"),
    "feed.hai-phong": ("Hải Phònng", "Hai Phonh"),
    "feed.lang-son": ("Lạng Sonn", "Lang Sơm"),
    "feed.hai-duong": ("Hai Duongg", "Hải Duơg"),
    "feed.thai-nguyen": ("Thai Ngyen", "Thái Nguyênn"),
    "feed.da-nang": ("Da Nangg", "Đà Nẳg"),
}
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
