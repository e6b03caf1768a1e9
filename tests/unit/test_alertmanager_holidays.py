"""deploy/alertmanager/alertmanager.yml's ``vietnam-holidays`` time interval is what scripts/alertmanager-holidays.py
computes from shared.holidays (2025-2027)."""

from __future__ import annotations

import importlib.util
from datetime import date
from types import ModuleType

from shared.holidays import holidays
from tests.workers import ROOT


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "alertmanager_holidays", ROOT / "scripts" / "alertmanager-holidays.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_block_equals_the_file() -> None:
    generator = script()
    text = generator.CONFIG.read_text(encoding="utf-8")
    assert generator.current(text) == generator.block(), (
        "out of date: run python scripts/alertmanager-holidays.py --write"
    )


def test_the_block_lists_every_holiday_of_2025_to_2027_with_tet_and_30_april() -> None:
    block = script().block()
    count = sum(len(holidays(year)) for year in range(2025, 2028))
    assert block.count("location: Asia/Ho_Chi_Minh") == count
    assert date(2025, 1, 29) in holidays(2025) and date(2025, 4, 30) in holidays(2025)
    assert "{years: ['2025'], months: ['january'], days_of_month: ['29'], location: Asia/Ho_Chi_Minh}" in block
    assert "{years: ['2025'], months: ['april'], days_of_month: ['30'], location: Asia/Ho_Chi_Minh}" in block
    assert "{years: ['2026'], months: ['february'], days_of_month: ['17'], location: Asia/Ho_Chi_Minh}" in block
