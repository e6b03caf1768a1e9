"""Plans: expected progress curves, plan files (YAML/CSV) with whole-file validation, and the plan book."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.indicators import CATALOGUE, Kind
from shared.plans import (
    CURVES,
    MAX_PLAN_FILE_BYTES,
    Plan,
    PlanFileError,
    PlanRowError,
    curve_milestones,
    load_plan_file,
)
from shared.provinces import registry
from shared.vntime import VN_TZ, parse_as_of

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "plans"
BN = Decimal(10**9)
HEADER = "province,indicator,year,basis,target,unit,curve,milestones,source\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_csv(tmp_path: Path, *rows: str) -> list[Plan]:
    return load_plan_file(write(tmp_path, "plans.csv", HEADER + "".join(row + "\n" for row in rows)))


def errors_of(path: Path) -> list[tuple[int, str]]:
    with pytest.raises(PlanFileError) as caught:
        load_plan_file(path)
    assert caught.value.path == path
    return [(error.line, error.message) for error in caught.value.errors]


def uid(name: str, year: int) -> str:
    return registry().resolve(name, on=date(year, 12, 31)).uid


def test_example_yaml_loads() -> None:
    plans = load_plan_file(EXAMPLES / "example-2024.yaml")
    assert len(plans) == 12
    by_key = {plan.key: plan for plan in plans}
    assert len(by_key) == 12
    central = by_key[f"{uid('Bắc Giang', 2024)}|state_budget_revenue|2024|central"]
    provincial = by_key[f"{uid('Bắc Giang', 2024)}|state_budget_revenue|2024|provincial"]
    assert (central.target, provincial.target) == (11600 * BN, 14356 * BN)  # "14.356" with tỷ đồng
    assert provincial.source == "Dự toán HĐND tỉnh giao (illustrative)"
    disbursement = by_key[f"{uid('Lạng Sơn', 2024)}|public_investment_disbursed|2024|central"]
    assert (disbursement.curve, disbursement.target) == ("disbursement", 4500 * BN)  # the default curve
    assert disbursement.milestones == curve_milestones("disbursement", 2024)
    industrial = by_key[f"{uid('Bắc Giang', 2024)}|industrial_production_value|2024|provincial"]
    assert industrial.target == Decimal(664) * 10**12
    households = by_key[f"{uid('Bắc Ninh', 2024)}|site_clearance_households|2024|provincial"]
    assert [fraction for _, fraction in households.milestones] == [
        Decimal("0.2"),
        Decimal("0.45"),
        Decimal("0.75"),
        Decimal(1),
    ]


def test_example_csv_loads() -> None:
    plans = load_plan_file(EXAMPLES / "example-2024.csv")
    assert [(plan.province_name, plan.indicator, plan.basis, plan.target) for plan in plans] == [
        ("Lạng Sơn", "public_investment_disbursed", "provincial", 5200 * BN),
        ("Lạng Sơn", "import_export_value", "provincial", 6 * BN),
        ("Lạng Sơn", "new_enterprises", "provincial", Decimal(800)),
        ("Hải Phòng", "public_investment_disbursed", "central", 14500 * BN),
    ]
    assert plans[0].milestones[-1] == (datetime(2025, 1, 31, 23, 59, 59, 999999, tzinfo=VN_TZ), Decimal(1))
    assert plans[0].source == "Kế hoạch của UBND tỉnh (illustrative)"


def test_examples_cover_every_plannable_indicator() -> None:
    plans = load_plan_file(EXAMPLES / "example-2024.yaml") + load_plan_file(EXAMPLES / "example-2024.csv")
    plannable = {indicator.id for indicator in CATALOGUE.values() if indicator.kind is not Kind.RATE}
    assert len(plannable) == 11
    assert {plan.indicator for plan in plans} == plannable


@pytest.mark.parametrize(
    ("name", "year", "code", "province_name"),
    [
        ("Bắc Giang", 2024, "24", "Bắc Giang"),
        ("Bac Giang", 2025, "24", "Bắc Ninh"),  # merged on 2025-07-01: a 2025 plan is the merged unit's
        ("Hải Dương", 2024, "30", "Hải Dương"),
        ("hai duong", 2025, "31", "Hải Phòng"),
        ("20", 2024, "20", "Lạng Sơn"),
        ("Thừa Thiên Huế", 2025, "46", "Huế"),
    ],
)
def test_province_resolved_on_31_december_of_the_plan_year(
    tmp_path: Path, name: str, year: int, code: str, province_name: str
) -> None:
    (plan,) = load_csv(tmp_path, f"{name},new_jobs,{year},provincial,1000,jobs,,,")
    assert (plan.province_code, plan.province_name) == (code, province_name)
    assert plan.province_uid == uid(name, year)
    assert plan.key == f"{plan.province_uid}|new_jobs|{year}|provincial"


def test_a_province_before_and_after_the_merger_has_distinct_plans(tmp_path: Path) -> None:
    before, after = load_csv(
        tmp_path,
        "Bắc Giang,new_jobs,2024,provincial,30000,jobs,,,",
        "Bắc Giang,new_jobs,2025,provincial,60000,jobs,,,",
    )
    assert (before.province_uid, after.province_uid) == ("24", "24@2025-07-01")
    assert (before.province_name, after.province_name) == ("Bắc Giang", "Bắc Ninh")


@pytest.mark.parametrize(
    ("target", "unit", "lang", "expected"),
    [
        ('"14.356,0"', "tỷ đồng", "", 14356 * BN),  # unambiguous Vietnamese notation
        ('"14,356.0"', "billion VND", "", 14356 * BN),  # unambiguous English notation
        ("14356", "tỷ đồng", "", 14356 * BN),
        ('"4.500,5"', "tỷ đồng", "", Decimal("4500.5") * BN),
        ("1.5", "billion VND", "", Decimal("1.5") * BN),
        ('"4,680"', "VND", "en", Decimal(4680)),  # an explicit lang decides an ambiguous number
        ("14.356", "tỷ đồng", "vi", 14356 * BN),
        ("14.356", "billion VND", "en", Decimal("14.356") * BN),
        ("664", "nghìn tỷ đồng", "", Decimal(664) * 10**12),
        ("1200", "m2", "", Decimal("0.12")),
    ],
)
def test_targets_are_exact_in_the_base_unit(
    tmp_path: Path, target: str, unit: str, lang: str, expected: Decimal
) -> None:
    indicator = "site_clearance_area" if unit == "m2" else "state_budget_revenue"
    path = write(
        tmp_path,
        "plans.csv",
        f"province,indicator,year,basis,target,unit,lang\nBắc Giang,{indicator},2024,central,{target},{unit},{lang}\n",
    )
    (plan,) = load_plan_file(path)
    assert plan.target == expected


def test_yaml_target_is_read_from_its_text(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "plans.yaml",
        "- province: Bắc Giang\n  indicator: state_budget_revenue\n  year: 2024\n  basis: central\n"
        "  target: 14.356,0\n  unit: tỷ đồng\n"
        "- {province: Bắc Giang, indicator: state_budget_revenue, year: 2024, basis: provincial,\n"
        "   target: 14.3560, unit: billion VND}\n",
    )
    assert [plan.target for plan in load_plan_file(path)] == [14356 * BN, Decimal("14.356") * BN]


AMBIGUOUS_14356 = (
    "target '14,356' is ambiguous: 14356 in English notation but 14.356 in Vietnamese notation; "
    "write 14356 (or 14,356.0 / 14.356,0) for 14356, or 14.3560 / 14,3560 for 14.356"
)


@pytest.mark.parametrize("unit", ["tỷ đồng", "billion VND", "VND"])
def test_an_ambiguous_target_is_refused_with_both_readings(tmp_path: Path, unit: str) -> None:
    # Read as the unit's language, "14,356" tỷ đồng was 14.356 bn VND: 1000 times too small, silently.
    path = write(tmp_path, "plans.csv", HEADER + f'Bắc Giang,state_budget_revenue,2024,central,"14,356",{unit},,,\n')
    assert errors_of(path) == [(2, AMBIGUOUS_14356)]
    text = "- {province: Bắc Giang, indicator: grdp, year: 2024, basis: central, target: 4.680, unit: tỷ đồng,\n"
    text += "   curve: linear}\n"
    assert errors_of(write(tmp_path, "plans.yaml", text)) == [
        (
            1,
            "target '4.680' is ambiguous: 4.680 in English notation but 4680 in Vietnamese notation; "
            "write 4680 (or 4,680.0 / 4.680,0) for 4680, or 4.6800 / 4,6800 for 4.680",
        )
    ]


@pytest.mark.parametrize(
    ("target", "unit", "message"),
    [
        ("1.5", "jobs", "target 1.5 jobs: New jobs created ('new_jobs') is a count: whole numbers only, got 1.5"),
        ("0,5", "người", "target 0,5 người: New jobs created ('new_jobs') is a count: whole numbers only, got 0.5"),
    ],
)
def test_a_count_target_must_be_whole(tmp_path: Path, target: str, unit: str, message: str) -> None:
    path = write(tmp_path, "plans.csv", HEADER + f'Bắc Giang,new_jobs,2024,central,"{target}",{unit},,,\n')
    assert errors_of(path) == [(2, message)]
    (plan,) = load_csv(tmp_path, "Bắc Giang,new_jobs,2024,central,30000,jobs,,,")
    assert plan.target == 30000


def test_duplicate_keys_in_a_yaml_row_are_errors_on_their_line(tmp_path: Path) -> None:
    text = """\
- province: Lạng Sơn
  indicator: site_clearance_area
  year: 2024
  basis: provincial
  target: 1200
  unit: ha
  Target: 12000
  milestones: {2024-06-30: 0.3, 2024-06-30: 0.35, 2024-12-31: 1}
- {province: Lạng Sơn, indicator: new_jobs, year: 2024, basis: central, target: 10, unit: jobs, year: 2025}
- province: Bắc Giang
  indicator: new_jobs
  year: 2024
  basis: central
  target: 10
  unit: jobs
  milestones:
    2024-06-30: 0.5
    2024-12-31: 1
    2024-06-30: 0.6
"""
    assert errors_of(write(tmp_path, "plans.yaml", text)) == [
        (7, "duplicate field 'Target': already given as 'target' on line 5"),
        (8, "duplicate milestone 2024-06-30: already given on line 8"),
        (9, "duplicate field 'year': already given on line 9"),
        (19, "duplicate milestone 2024-06-30: already given on line 17"),
    ]


def test_duplicate_milestones_in_the_other_forms(tmp_path: Path) -> None:
    (line, message), *_ = errors_of(
        write(
            tmp_path,
            "plans.csv",
            HEADER + "Hải Phòng,site_clearance_area,2024,provincial,1200,ha,,"
            "2024-06-30:0.3;2024-06-30:0.35;2024-12-31:1,\n",
        )
    )
    assert (line, message) == (2, "milestone 2024-06-30 is given twice")
    text = "- {province: Hải Phòng, indicator: site_clearance_area, year: 2024, basis: provincial, target: 1200,\n"
    text += "   unit: ha, milestones: [[2024-06-30, 0.3], [2024-06-30, 0.35]]}\n"
    assert errors_of(write(tmp_path, "plans.yaml", text)) == [(1, "milestone 2024-06-30 is given twice")]


@pytest.mark.parametrize(
    "header",
    [
        "province,indicator,year,basis,target,unit,target\n",
        "province,indicator,year,basis,Target,unit,target\n",
    ],
)
def test_a_duplicated_csv_column_is_an_error(tmp_path: Path, header: str) -> None:
    path = write(tmp_path, "plans.csv", header + "Bắc Giang,new_jobs,2024,central,1,jobs,30000\n")
    assert errors_of(path) == [(1, "the CSV header names column 'target' twice")]
    path = write(tmp_path, "plans.csv", "province,,indicator,year,basis,target,unit\n")
    assert errors_of(path) == [(1, "the CSV header has an empty column name")]


def test_yaml_values_are_read_as_written_never_as_python_values(tmp_path: Path) -> None:
    text = """\
- province: Lạng Sơn
  indicator: new_jobs
  year: 2024-02-30
  basis: provincial
  target: 1000
  unit: jobs
  milestones: {2024-06-31: 0.35, 2024-12-31: 1}
- {province: Lạng Sơn, indicator: new_jobs, year: yes, basis: central, target: 1000, unit: jobs,
   milestones: {2024-06-30: 0.350, 2024-09-30: 0.350, 2024-12-31: 1}}
- {province: [Lạng Sơn], indicator: new_jobs, year: 2024, basis: central, target: 1000, unit: jobs,
   milestones: [[2024-06-30], [2024-13-01, 1], [2024-12-31, 1.20]]}
- {province: 01, indicator: new_jobs, year: 2024, basis: central, target: 1000, unit: jobs, milestones: 2024-12-31:1}
- {province: '01', indicator: new_jobs, year: 2024, basis: central, target: 1000, unit: jobs, source: !!binary aGk=}
"""
    assert errors_of(write(tmp_path, "plans.yaml", text)) == [
        (1, "year '2024-02-30' is not a year between 1900 and 2999"),
        (1, "milestone 2024-06-31: no such day (day is out of range for month)"),
        (8, "year 'yes' is not a year between 1900 and 2999"),
        (10, "province: expected one value, got [Lạng Sơn]"),
        (10, "milestone [2024-06-30] is not a [date, fraction] pair"),
        (10, "milestone 2024-13-01: no such day (month must be in 1..12)"),
        (13, "YAML tag tag:yaml.org,2002:binary is not allowed in plan files"),
    ]
    # Without the broken rows: 0.350 stays as written, and "01" (no octal 1) is Hà Nội.
    rows = text.splitlines()
    ok_text = "\n".join(rows[7:9] + rows[11:12]).replace("yes", "2024")
    assert errors_of(write(tmp_path, "ok.yaml", ok_text)) == [
        (1, "milestone 2024-09-30: fraction 0.350 is not above 0.350 of 2024-06-30 (fractions must increase)")
    ]
    (plan,) = load_plan_file(write(tmp_path, "one.yaml", rows[11] + "\n"))
    assert (plan.province_code, plan.province_name) == ("01", "Hà Nội")


def test_an_impossible_milestone_date_is_an_error(tmp_path: Path) -> None:
    text = "- {province: Lạng Sơn, indicator: new_jobs, year: 2024, basis: central, target: 10, unit: jobs,\n"
    text += "   milestones: {2024-06-31: 0.35}}\n"
    assert errors_of(write(tmp_path, "plans.yaml", text)) == [
        (1, "milestone 2024-06-31: no such day (day is out of range for month)")
    ]


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    # "Billion laughs" in plan rows: the last row's province is 9^9 strings once expanded.
    lines = ["- {year: 2024, province: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]}"]
    lines += [
        f"- {{year: 2024, province: &{b} [{','.join([f'*{a}'] * 9)}]}}"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    bomb = write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    assert bomb.stat().st_size < 600
    started = time.monotonic()
    assert errors_of(bomb) == [(1, "YAML anchors and aliases (&, *) are not allowed in plan files")]
    assert time.monotonic() - started < 1
    text = "- &row {province: Lạng Sơn, indicator: new_jobs, year: 2024, basis: central, target: 1, unit: jobs}\n"
    assert errors_of(write(tmp_path, "alias.yaml", text + "- *row\n")) == [
        (1, "YAML anchors and aliases (&, *) are not allowed in plan files")
    ]


def test_yaml_nesting_and_size_are_bounded(tmp_path: Path) -> None:
    started = time.monotonic()
    assert errors_of(write(tmp_path, "deep.yaml", "[" * 100_000)) == [(1, "nested too deeply: not a plan file")]
    big = write(tmp_path, "big.csv", HEADER + "#" * (MAX_PLAN_FILE_BYTES + 1))
    assert errors_of(big) == [(0, "larger than 2 MiB: not a plan file (split it)")]
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "gone.yaml", (0, "no such plan file")),
        (lambda d: (d / "plans.yaml").mkdir() or d / "plans.yaml", (0, "is a folder, not a plan file")),
        (lambda d: write(d, "x.csv", "").with_suffix(".csv"), (0, "no plans in the file")),
        (lambda d: (d / "l.yaml").write_bytes(b"- {province: B\xe1c}\n") and d / "l.yaml", (1, "not UTF-8 text")),
        (
            lambda d: write(d, "nul.yaml", "- {province: a\x00}\n"),
            (1, "not valid YAML: character U+0000: special characters are not allowed"),
        ),
        (
            lambda d: write(d, "q.csv", HEADER + 'Bắc Giang,new_jobs,2024,central,"30000,jobs,,,\nx,y\n'),
            (2, 'a quoted cell is never closed: its opening " has no closing "'),
        ),
        (lambda d: write(d, "s.csv", HEADER + 'Bắc Giang,"new"_jobs,2024\n'), (2, "not valid CSV: ")),
        (lambda d: write(d, "noext", ""), (0, "unsupported plan file type (no suffix) (.yaml, .yml, .csv)")),
    ],
)
def test_unreadable_files_are_one_error(
    tmp_path: Path, make: Callable[[Path], Path], expected: tuple[int, str]
) -> None:
    ((line, message),) = errors_of(make(tmp_path))
    assert (line, message[: len(expected[1])]) == expected


def test_milestone_forms_agree(tmp_path: Path) -> None:
    text = """\
- {province: Lạng Sơn, indicator: new_jobs, year: 2024, basis: central, target: 1000, unit: people,
   milestones: {2024-06-30: 0.4, 2024-12-31: 1}}
- {province: Lạng Sơn, indicator: new_jobs, year: 2024, basis: provincial, target: 1000, unit: people,
   milestones: [[2024-06-30, 40%], ['2024-12-31', '1']]}
"""
    central, provincial = load_plan_file(write(tmp_path, "plans.yml", text))
    (string_form,) = load_csv(tmp_path, "Lạng Sơn,new_jobs,2024,central,1000,people,,2024-06-30:40%;2024-12-31:1,")
    assert central.milestones == provincial.milestones == string_form.milestones
    assert central.milestones[0] == (parse_as_of("2024-06-30"), Decimal("0.4"))
    assert central.curve is None


def test_yaml_plans_mapping_and_empty_files(tmp_path: Path) -> None:
    row = "{province: Lạng Sơn, indicator: new_jobs, year: 2024, basis: central, target: 1000, unit: people}"
    assert len(load_plan_file(write(tmp_path, "a.yaml", f"plans:\n  - {row}\n"))) == 1
    for name, text in [("b.yaml", "# nothing planned yet\n"), ("c.csv", HEADER), ("d.yaml", "plans: []\n")]:
        assert errors_of(write(tmp_path, name, text)) == [(0, "no plans in the file")]
    assert errors_of(write(tmp_path, "e.yaml", f"plans: [{row}]\nplans: []\n")) == [
        (2, "duplicate key 'plans': already given on line 1")
    ]


LS = "Lạng Sơn,public_investment_disbursed,2024,central,4500,tỷ đồng"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [LS + ",,,", "Bắc Giangg,state_budget_revenue,2024,central,14356,tỷ đồng,,,"],
            [(3, "unknown province 'Bắc Giangg': did you mean Bắc Giang, Hà Giang, An Giang?")],
            id="unknown-province",
        ),
        pytest.param(
            ["Bắc Giang,budget_revenue,2024,central,14356,tỷ đồng,,,"],
            [(2, "unknown indicator 'budget_revenue'; did you mean state_budget_revenue?")],
            id="unknown-indicator",
        ),
        pytest.param(
            ["Hải Phòng,site_clearance_area,2024,provincial,1200,tỷ đồng,,,"],
            [
                (
                    2,
                    "indicator 'site_clearance_area' is measured in ha (area_ha), but unit 'tỷ đồng' measures vnd",
                )
            ],
            id="wrong-unit",
        ),
        pytest.param(
            ["Hải Phòng,site_clearance_area,2024,provincial,1200,hecta,,2024-09-30:0.6;2024-06-30:0.35,"],
            [(2, "milestone 2024-06-30 does not come after 2024-09-30 (dates must be strictly increasing)")],
            id="dates-not-increasing",
        ),
        pytest.param(
            ["Hải Phòng,site_clearance_area,2024,provincial,1200,ha,,2024-06-30:0.6;2024-09-30:0.6,"],
            [
                (
                    2,
                    "milestone 2024-09-30: fraction 0.6 is not above 0.6 of 2024-06-30 (fractions must increase)",
                )
            ],
            id="fractions-not-increasing",
        ),
        pytest.param(
            ["Hải Phòng,site_clearance_area,2024,provincial,1200,ha,,2024-09-30:0.6;2024-12-31:1.2,"],
            [(2, "milestone 2024-12-31: fraction 1.2 is not between 0 and 1")],
            id="fraction-above-1",
        ),
        pytest.param(
            ["Hải Phòng,site_clearance_area,2024,provincial,1200,ha,,2024-09-30:-0.1;2024-12-31:1,"],
            [(2, "milestone 2024-09-30: fraction -0.1 is not between 0 and 1")],
            id="fraction-negative",
        ),
        pytest.param(
            ["Hải Phòng,site_clearance_area,2024,provincial,1200,ha,,2023-12-31:0.1;2025-02-01:1,"],
            [
                (2, "milestone 2023-12-31 is outside 2024-01-01..2025-01-31"),
                (2, "milestone 2025-02-01 is outside 2024-01-01..2025-01-31"),
            ],
            id="milestones-outside-period",
        ),
        pytest.param(
            ["Hải Phòng,site_clearance_area,2024,provincial,1200,ha,,2024-13-31:0.1,"],
            [(2, "milestone 2024-13-31: no such day (month must be in 1..12)")],
            id="milestone-not-a-date",
        ),
        pytest.param(
            ["Hải Phòng,site_clearance_area,2024,provincial,1200,ha,,2024-06-30;2024/12/31:1;2024-12-31:x,"],
            [
                (2, "milestone '2024-06-30' is not 'YYYY-MM-DD:fraction'"),
                (2, "milestone 2024/12/31: not a date (YYYY-MM-DD)"),
                (2, "milestone 2024-12-31: fraction 'x' is not a number (0.35 or 35%)"),
            ],
            id="milestone-forms",
        ),
        pytest.param(
            [
                LS + ",,,",
                "Bắc Giang,new_jobs,2024,central,30000,jobs,,,",
                "Lang Son,public_investment_disbursed,2024,central,4600,tỷ đồng,,,",
            ],
            [(4, "duplicate plan Lạng Sơn (20) public_investment_disbursed 2024 central: already on line 2")],
            id="duplicate",
        ),
        pytest.param(
            ["Bắc Giang,new_jobs,2024,,,jobs,,,"],
            [(2, "missing field(s): target, basis")],
            id="missing-fields",
        ),
        pytest.param(
            ["Bắc Giang,new_jobs,2024,central,-5,jobs,,,", "Bắc Giang,new_jobs,2024,provincial,many,jobs,,,"],
            [
                (2, "target must be a positive number, got -5"),
                (
                    3,
                    "target: 'many' is not a number (expected digits with '.', ',' or space separators)",
                ),
            ],
            id="bad-target",
        ),
        pytest.param(
            ["Bắc Giang,new_jobs,2024,national,30000,jobs,,,"],
            [(2, "unknown basis 'national' (expected central or provincial)")],
            id="unknown-basis",
        ),
        pytest.param(
            ["Bắc Giang,new_jobs,2024,central,30000,jobs,s-curve,,"],
            [(2, "unknown curve 's-curve' (known: disbursement, linear, quarterly-even, history:2025)")],
            id="unknown-curve",
        ),
        pytest.param(
            ["Bắc Giang,new_jobs,2024,central,30000,jobs,linear,2024-12-31:1,"],
            [(2, "give either curve or milestones, not both")],
            id="curve-and-milestones",
        ),
        pytest.param(
            ["Bắc Giang,grdp_growth,2024,central,6.5,%,,,"],
            [(2, "indicator 'grdp_growth' is a rate: rate indicators have no cumulative plan")],
            id="rate-indicator",
        ),
        pytest.param(
            ["Bắc Ninh,grdp,2024,central,165000,tỷ đồng,,,"],
            [(2, "indicator 'grdp' has no default curve: give a curve or milestones")],
            id="no-default-curve",
        ),
        pytest.param(
            ["Bắc Giang,new_jobs,20x4,central,30000,jobs,,,"],
            [(2, "year '20x4' is not a year between 1900 and 2999")],
            id="bad-year",
        ),
        pytest.param(
            ["Bắc Giang,new_jobs,2024,central,30000,jobz,,,"],
            [(2, "unknown unit 'jobz'; did you mean 'jobs'?")],
            id="unknown-unit",
        ),
        pytest.param(
            ["Bắc Giang,new_jobs,2024,central,30000,jobs,,,,extra"],
            [(2, "10 cells but the header has 9 columns")],
            id="too-many-cells",
        ),
        pytest.param(
            ["# a comment", "", "Bắc Giangg,new_jobz,2024,central,30000,jobs,,,"],
            [
                (4, "unknown province 'Bắc Giangg': did you mean Bắc Giang, Hà Giang, An Giang?"),
                (4, "unknown indicator 'new_jobz'; did you mean new_jobs?"),
            ],
            id="several-errors-physical-line",
        ),
    ],
)
def test_bad_csv_rows(tmp_path: Path, rows: list[str], expected: list[tuple[int, str]]) -> None:
    path = write(tmp_path, "plans.csv", HEADER + "".join(row + "\n" for row in rows))
    assert errors_of(path) == expected


def test_csv_line_numbers_count_multiline_cells(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "plans.csv",
        HEADER + f'{LS},,,"Kế hoạch\nnhiều dòng"\n' + "Bắc Giang,new_jobs,2024,central,0,jobs,,,\n",
    )
    assert errors_of(path) == [(4, "target must be a positive number, got 0")]


def test_csv_header_must_name_required_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "plans.csv", "province,indicator,year\nBắc Giang,new_jobs,2024\n")
    assert errors_of(path) == [(1, "header lacks column(s): target, unit, basis")]


def test_bad_yaml_rows_report_the_line_where_the_row_starts(tmp_path: Path) -> None:
    text = """\
plans:
  - province: Lạng Sơn
    indicator: public_investment_disbursed
    year: 2024
    basis: central
    target: 4500
    unit: tỷ đồng

  - province: Lang Son       # line 9: same plan again
    indicator: public_investment_disbursed
    year: 2024
    basis: central
    target: 4600
    unit: tỷ đồng
  - province: Hải Phòng      # line 15
    indicator: site_clearance_area
    year: 2024
    basis: provincial
    target: 1200
    unit: ha
    milestones:
      2024-06-30: 0.35
      2024-03-31: 0.15
  - just a string           # line 24
  - {province: Bắc Giang, indicator: new_jobs, year: 2024, basis: central, target: 30000, unit: jobs, note: x}
"""
    assert errors_of(write(tmp_path, "plans.yaml", text)) == [
        (9, "duplicate plan Lạng Sơn (20) public_investment_disbursed 2024 central: already on line 2"),
        (15, "milestone 2024-03-31 does not come after 2024-06-30 (dates must be strictly increasing)"),
        (24, "a plan row must be a mapping of field: value"),
        (
            25,
            "unknown field 'note' (known: province, indicator, year, target, unit, basis, curve, milestones, "
            "lang, source)",
        ),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plans: [\n", (2, "not valid YAML")),
        ("province: Lạng Sơn\n", (1, "expected a list of plans or {plans: [...]}")),
        ("plans: 3\n", (1, "expected a list of plans")),
    ],
)
def test_malformed_yaml(tmp_path: Path, text: str, expected: tuple[int, str]) -> None:
    ((line, message),) = errors_of(write(tmp_path, "plans.yaml", text))
    assert (line, message[: len(expected[1])]) == expected


def test_error_text_lists_every_error_with_file_and_line(tmp_path: Path) -> None:
    rows = "Bắc Giang,new_jobs,2024,x,1,jobs,,,\nBắc Giangg,new_jobs,2024,central,1,jobs,,,\n"
    path = write(tmp_path, "plans.csv", HEADER + rows)
    with pytest.raises(PlanFileError) as caught:
        load_plan_file(path)
    assert str(caught.value) == (
        f"{path}:2: unknown basis 'x' (expected central or provincial)\n"
        f"{path}:3: unknown province 'Bắc Giangg': did you mean Bắc Giang, Hà Giang, An Giang?"
    )


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = write(tmp_path, "plans.json", "[]")
    assert errors_of(path) == [(0, "unsupported plan file type '.json' (.yaml, .yml, .csv)")]
    assert str(PlanFileError(path, [PlanRowError(0, "x"), PlanRowError(3, "y")])) == f"{path}: x\n{path}:3: y"


def _plan(curve: str = "disbursement", year: int = 2024) -> Plan:
    return Plan(
        province_code="20",
        province_uid="20@test",
        province_name="Lạng Sơn",
        indicator="public_investment_disbursed",
        year=year,
        target=4500 * BN,
        base_unit="VND",
        basis="central",
        milestones=curve_milestones(curve, year),
        curve=curve,
    )


@pytest.mark.parametrize(
    ("curve", "at", "fraction"),
    [
        ("disbursement", datetime(2023, 12, 31, tzinfo=VN_TZ), Decimal(0)),
        ("disbursement", datetime(2024, 1, 1, tzinfo=VN_TZ), Decimal(0)),
        ("disbursement", parse_as_of("2024-03-31"), Decimal("0.15")),
        ("disbursement", parse_as_of("2024-06-30"), Decimal("0.35")),
        ("disbursement", parse_as_of("2024-09-15"), Decimal("0.35") + Decimal("0.25") * 77 / Decimal(92)),
        ("disbursement", parse_as_of("2024-12-31"), Decimal("0.95")),
        ("disbursement", parse_as_of("2025-01-15"), Decimal("0.95") + Decimal("0.05") * 15 / Decimal(31)),
        ("disbursement", parse_as_of("2025-01-31"), Decimal(1)),
        ("disbursement", datetime(2025, 6, 1, tzinfo=VN_TZ), Decimal(1)),
        ("quarterly-even", parse_as_of("2024-03-31"), Decimal("0.25")),
        # Vietnam time decides: 17:00 UTC on 31 March is 1 April 00:00 there, a second past the milestone
        ("quarterly-even", datetime(2024, 3, 31, 16, 59, 59, 999999, tzinfo=UTC), Decimal("0.25")),
        ("linear", datetime(2024, 7, 2, tzinfo=VN_TZ), Decimal(183) / Decimal(366)),  # 183 of 366 days
        ("linear", datetime(2025, 1, 1, tzinfo=VN_TZ), Decimal(1)),
    ],
)
def test_expected_fraction(curve: str, at: datetime, fraction: Decimal) -> None:
    # milestones fall at 23:59:59.999999: a microsecond off a whole day, hence the tolerance
    assert abs(_plan(curve).expected_fraction(at) - fraction) < Decimal("1e-12")


def test_expected_fraction_needs_an_aware_instant() -> None:
    with pytest.raises(ValueError, match="aware"):
        _plan().expected_fraction(datetime(2024, 6, 1))


def test_curves_are_valid_for_any_year() -> None:
    for name in CURVES:
        for year in (2024, 2025):  # leap and common year
            assert _plan(name, year).milestones[-1][1] == Decimal(1)


def test_plan_round_trips_through_json() -> None:
    plan = replace(_plan(), source="Quyết định giao kế hoạch (illustrative)")
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["target"] == "4500000000000"
    assert data["milestones"][0] == ["2024-03-31T23:59:59.999999+07:00", "0.15"]
    assert Plan.from_dict(data) == plan


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"target": Decimal(0)}, "target must be a positive Decimal"),
        ({"basis": "national"}, "unknown basis 'national'"),
        ({"milestones": ()}, "at least one milestone"),
        ({"milestones": ((datetime(2024, 6, 30), Decimal(1)),)}, "aware datetimes"),
        ({"milestones": ((parse_as_of("2025-03-31"), Decimal(1)),)}, "outside 2024-01-01..2025-01-31"),
    ],
)
def test_plan_checks_itself(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(_plan(), **changes)


def test_plan_from_dict_rejects_bad_numbers() -> None:
    data = _plan().to_dict() | {"target": "lots"}
    with pytest.raises(ValueError, match="invalid plan record"):
        Plan.from_dict(data)


def test_plan_row_error_is_a_value() -> None:
    assert PlanRowError(3, "x") == PlanRowError(3, "x")


fractions = st.lists(st.decimals(min_value=0, max_value=1, places=3), min_size=1, max_size=12, unique=True).map(sorted)


@given(
    fractions=fractions,
    days=st.lists(st.integers(min_value=0, max_value=395), min_size=12, max_size=12, unique=True).map(sorted),
    probes=st.lists(st.integers(min_value=-10 * 86_400, max_value=420 * 86_400), min_size=2, max_size=8),
)
def test_expected_fraction_never_decreases_and_stays_in_range(
    fractions: list[Decimal], days: list[int], probes: list[int]
) -> None:
    start = date(2024, 1, 1)
    milestones = tuple(
        (parse_as_of((start + timedelta(days=day)).isoformat()), fraction)
        for day, fraction in zip(days, fractions, strict=False)
    )
    plan = replace(_plan(), milestones=milestones, curve=None)
    instants = sorted(datetime(2024, 1, 1, tzinfo=VN_TZ) + timedelta(seconds=probe) for probe in probes)
    values = [plan.expected_fraction(at) for at in instants]
    assert all(Decimal(0) <= value <= Decimal(1) for value in values)
    assert values == sorted(values)
    for at, fraction in milestones:
        assert plan.expected_fraction(at) == fraction
