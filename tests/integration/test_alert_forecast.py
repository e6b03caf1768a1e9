"""The alert worker's national picture, end to end: totals and plans on the real broker, ``tiendo alert`` with the
event clock, a real Alertmanager. A slow province is named by TiendoForecastShortfall before the behind-plan
warning and resolved when it recovers; ``GET /forecast`` and ``GET /ranking`` answer for every province.

Lạng Sơn's 2023 year was front-loaded (55 % of its close by 30 June, 75 % by 30 September), so its 2024 pace of
0.95 of the disbursement curve on 30 June projects well short of plan, although 0.95 is no behind-plan warning.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from urllib.parse import quote

import orjson

from shared.plans import load_plan_file
from shared.vntime import parse_as_of
from tests.integration.test_alert import (  # noqa: F401 (pipeline is the fixture)
    BAC_GIANG,
    BN,
    LANG_SON,
    Pipeline,
    alerts_of,
    eventually,
    history,
    load_plans,
    pipeline,
    publish_totals,
    total,
    wait_for_notifications,
)

HAI_PHONG = "31"
INDICATOR = "public_investment_disbursed"
PLANS = "plans:\n" + "".join(
    f"  - {{province: {name}, indicator: {INDICATOR}, year: 2024, basis: central, target: {target}, unit: tỷ đồng}}\n"
    for name, target in (("Lạng Sơn", 4500), ("Bắc Giang", 6000), ("Hải Phòng", 20000))
)
#: Lạng Sơn's 2023 (no plan): year-to-date bn VND by date, closing at 4,000 bn on 31 January 2024 (Q4+).
LANG_SON_2023 = (("2023-03-31", 1, "1200"), ("2023-06-30", 2, "2200"), ("2023-09-30", 3, "3000"),
                 ("2023-12-31", 4, "3800"), ("2024-01-31", 5, "4000"))  # fmt: skip


async def get_json(p: Pipeline, path: str) -> tuple[int, dict]:
    assert p.worker is not None
    status, body = await asyncio.to_thread(p.worker.get, path)
    return status, orjson.loads(body)


async def test_shortfall_before_behind_plan_forecast_and_ranking_through_the_worker(pipeline: Pipeline) -> None:  # noqa: F811
    p = pipeline
    plan_file = p.write("plans.yaml", PLANS)
    await load_plans(p.env, plan_file)
    plans = {plan.province_code: plan for plan in load_plan_file(plan_file)}
    await publish_totals(
        p.ns, *(total(LANG_SON, INDICATOR, q, ytd, as_of, year=2023) for as_of, q, ytd in LANG_SON_2023)
    )
    worker = p.start_worker()
    await asyncio.to_thread(worker.wait_ready)

    def report(code: str, as_of: str, pace: str) -> tuple[bytes, bytes]:
        plan, at = plans[code], parse_as_of(as_of)
        ytd = plan.target * plan.expected_fraction(at) * Decimal(pace) / BN
        return total(code, INDICATOR, (at.month - 1) // 3 + 1, format(ytd, "f"), as_of)

    def shortfall_pages() -> list[tuple[str, dict]]:
        return alerts_of(p.webhook.notifications(), province=LANG_SON, alertname="TiendoForecastShortfall")

    # 30 June: Lạng Sơn at 0.95 of the curve (on plan for the behind-plan rule), the others ahead and on plan.
    await publish_totals(
        p.ns, report(BAC_GIANG, "2024-06-28", "1.2"), report(HAI_PHONG, "2024-06-30", "1.0"),
        report(LANG_SON, "2024-06-30", "0.95"),
    )  # fmt: skip
    await wait_for_notifications(p, 1, province=LANG_SON, alertname="TiendoForecastShortfall")
    [(status, alert)] = shortfall_pages()
    assert status == "firing" and alert["labels"] == {
        "alertname": "TiendoForecastShortfall",
        "severity": "warning",
        "province": LANG_SON,
        "province_name": "Lạng Sơn",
        "indicator": INDICATOR,
        "plan_basis": "central",
        "plan_year": "2024",
    }
    notes = alert["annotations"]
    assert notes["summary"].startswith("Lạng Sơn: on current pace Lạng Sơn reaches ")
    assert notes["summary"].endswith(" of its 2024 central plan by 31 January 2025")
    assert Decimal(notes["projected_ratio"]) < Decimal("0.9")
    assert notes["rank"].startswith("3rd of 3; national average ")
    assert alerts_of(p.webhook.notifications(), province=LANG_SON, alertname="TiendoBehindPlan") == []

    # /forecast as of 1 July: every province's, Lạng Sơn's short of plan, from its 30 June reading.
    status, body = await get_json(p, "/forecast?at=2024-07-01")
    assert status == 200 and body["at"] == "2024-07-01"
    by_code = {f["province_code"]: f for f in body["forecasts"]}
    assert set(by_code) == {LANG_SON, BAC_GIANG, HAI_PHONG}
    lang_son = by_code[LANG_SON]
    assert lang_son["as_of"].startswith("2024-06-30T23:59:59") and lang_son["pace"] == "0.95"
    assert lang_son["shortfall"] is True and "previous year" in lang_son["method"]
    assert lang_son["year_end"]["date"] == "2025-01-31" and lang_son["next_milestone"]["date"] == "2024-09-30"
    assert by_code[BAC_GIANG]["shortfall"] is False
    status, body = await get_json(p, f"/forecast?province={quote('Lạng Sơn')}&at=2024-07-01")
    assert [f["province_code"] for f in body["forecasts"]] == [LANG_SON]
    status, body = await get_json(p, "/forecast?at=2024-02-30")
    assert status == 400 and "at=" in body["error"]

    # 31 August: Lạng Sơn falls to 0.85, the behind-plan warning follows; the shortfall is still firing.
    await publish_totals(
        p.ns, report(BAC_GIANG, "2024-08-30", "1.2"), report(HAI_PHONG, "2024-08-31", "1.0"),
        report(LANG_SON, "2024-08-31", "0.85"),
    )  # fmt: skip
    await wait_for_notifications(p, 1, province=LANG_SON, alertname="TiendoBehindPlan")
    [(_, behind)] = alerts_of(p.webhook.notifications(), province=LANG_SON, alertname="TiendoBehindPlan")
    assert behind["labels"]["severity"] == "warning" and behind["annotations"]["rank"].startswith("3rd of 3;")

    # /ranking on 1 September: each province at its reading's date, ranked; Lạng Sơn below the national figure.
    status, body = await get_json(p, f"/ranking?indicator={INDICATOR}&year=2024&at=2024-09-01")
    assert status == 200
    [ranking] = body["rankings"]
    assert (ranking["indicator"], ranking["year"], ranking["basis"]) == (INDICATOR, 2024, "central")
    rows = {r["province_code"]: r for r in ranking["rows"]}
    assert [r["province_code"] for r in ranking["rows"]] == [BAC_GIANG, HAI_PHONG, LANG_SON]
    assert rows[LANG_SON]["position"] == "3rd of 3" and rows[LANG_SON]["standing"] == "below"
    assert rows[LANG_SON]["as_of"].startswith("2024-08-31") and rows[BAC_GIANG]["as_of"].startswith("2024-08-30")
    assert rows[LANG_SON]["rank_change"] == 0 and rows[BAC_GIANG]["rank"] == 1
    expected = plans[LANG_SON].expected_fraction(parse_as_of("2024-08-31")) * Decimal("0.85") * 100
    assert rows[LANG_SON]["percent"] == f"{expected:.1f}"
    assert rows[LANG_SON]["ratio"] == "0.85"

    # 30 September: Lạng Sơn catches up well ahead: both alerts resolve, the shortfall once.
    await publish_totals(p.ns, report(LANG_SON, "2024-09-30", "1.3"))
    await eventually(
        lambda: asyncio.to_thread(lambda: [s for s, _ in shortfall_pages()] == ["firing", "resolved"]),
        describe=p.describe,
    )
    records = await history(p, lambda rs: sum(r["event"] == "resolved" for r in rs) >= 2)
    lang_son_events = [
        (r["alert"]["key"]["rule"], r["event"]) for r in records if r["alert"]["key"]["province_uid"] == LANG_SON
    ]
    assert lang_son_events == [  # the behind-plan rule is judged first on a reading
        ("TiendoForecastShortfall", "fired"),
        ("TiendoBehindPlan", "fired"),
        ("TiendoBehindPlan", "resolved"),
        ("TiendoForecastShortfall", "resolved"),
    ]
    labels = {"province": LANG_SON, "indicator": INDICATOR, "plan_basis": "central"}
    assert worker.metric("tiendo_alert_projected_year_end_ratio", {**labels, "bound": "point"}) > 1
    assert worker.metric("tiendo_alert_progress_rank", {"province": BAC_GIANG}) >= 1
    assert worker.metric("tiendo_alert_on_time_report_ratio", {"province": LANG_SON}) > 0

    # The weekly digest of the week of 30 September (judged on the Thursday before its Friday), from the same view.
    status, body_md = await asyncio.to_thread(worker.get, "/digest?week=2024-W40&format=md", 60)
    assert status == 200 and "Lạng Sơn" in body_md.decode()
    status, error = await get_json(p, "/digest?week=2024-W99")
    assert status == 400 and "week" in error["error"]
