"""``tiendo forecast``, ``ranking``, ``digest`` and ``whatif`` through the real workers: updates on the real broker,
``tiendo aggregate`` folding them into totals (its /totals API), ``tiendo alert`` (event clock) judging the plans
loaded with ``tiendo plans load``; the commands run as subprocesses against the workers' HTTP addresses. The digest
they write is opened in headless Chromium at 1280 px (tests/integration/test_digest_browser.py).

Three 2024 central disbursement plans: Lạng Sơn at 0.70 of the disbursement curve on 31 August (critical),
Bắc Giang at 1.10 and Hải Phòng at 0.80 (warning)."""

from __future__ import annotations

import asyncio
import urllib.parse
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from shared.config import KafkaSettings
from shared.plans import load_plan_file
from shared.topics import ALERT_STATE, ALERTS, DLQ, PLANS, TOTALS, UPDATES, ensure_topics
from tests.conftest import free_port
from tests.integration.test_aggregate import publish_updates, update, vn
from tests.integration.test_digest_browser import CHROMIUM, assert_fits, look
from tests.workers import Worker, tiendo

pytestmark = pytest.mark.kafka

INDICATOR = "public_investment_disbursed"
LANG_SON, BAC_GIANG, HAI_PHONG = "20", "24", "31"
PLAN_FILE = "plans:\n" + "".join(
    f"  - {{province: {name}, indicator: {INDICATOR}, year: 2024, basis: central, target: {target}, unit: tỷ đồng}}\n"
    for name, target in (("Lạng Sơn", 4500), ("Bắc Giang", 6000), ("Hải Phòng", 20000))
)
#: Lạng Sơn's target lowered to 3,000 (its alert resolves), Bắc Giang's raised to 9,000 (0.73: fires critical).
CHANGED = PLAN_FILE.replace("target: 4500", "target: 3000").replace("target: 6000", "target: 9000")
PACE = {LANG_SON: Decimal("0.70"), BAC_GIANG: Decimal("1.10"), HAI_PHONG: Decimal("0.80")}
DAYS = ("2024-03-31", "2024-06-30", "2024-08-31")


async def wait(check, what: str, timeout: float = 90, describe=str):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await asyncio.to_thread(check)
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s\n{describe()}")
        await asyncio.sleep(0.5)


def get(worker: Worker, path: str, **params: str) -> tuple[int, dict]:
    status, body = worker.get(f"{path}?{urllib.parse.urlencode(params)}" if params else path, timeout=30)
    return status, orjson.loads(body)


async def run(env: dict[str, str], *args: str) -> str:
    result = await tiendo(env, *args)
    assert result.returncode == 0, f"tiendo {' '.join(args)}: exit {result.returncode}\n{result.stderr}"
    return result.stdout


async def test_forecast_ranking_digest_and_whatif_through_the_workers(
    kafka_settings: KafkaSettings, namespace: str, tmp_path: Path
) -> None:
    ns = KafkaSettings(bootstrap_servers=kafka_settings.bootstrap_servers, namespace=namespace)
    await ensure_topics(ns, (UPDATES, DLQ, TOTALS, PLANS, ALERTS, ALERT_STATE))
    env = {
        "TIENDO_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "TIENDO_NAMESPACE": namespace,
        "TIENDO_CLOCK": "event",
        "TIENDO_EVALUATE_INTERVAL_S": "1",
        "COLUMNS": "220",  # rich's tables when the output is no terminal
    }
    plan_file, changed_file = tmp_path / "plans.yaml", tmp_path / "changed.yaml"
    plan_file.write_text(PLAN_FILE, encoding="utf-8")
    changed_file.write_text(CHANGED, encoding="utf-8")
    await run(env, "plans", "load", str(plan_file))
    plans = {p.province_code: p for p in load_plan_file(plan_file)}
    updates = []
    for code, plan in plans.items():
        for day in DAYS:
            ytd = plan.target * plan.expected_fraction(vn(day)) * PACE[code]
            updates.append(update(f"{code}-{day}", code, INDICATOR, ytd.quantize(Decimal(1)), vn(day), mode="ytd"))
    aggregate = Worker(
        "aggregate", {**env, "TIENDO_DATA_DIR": str(tmp_path / "agg")}, tmp_path / "agg.log", free_port()
    )
    alert = Worker("alert", {**env, "TIENDO_DATA_DIR": str(tmp_path / "alert")}, tmp_path / "alert.log", free_port())
    workers = (aggregate, alert)

    def describe() -> str:
        return "\n".join(f"--- {w.command} ---\n{w.tail(3000)}" for w in workers)

    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            await asyncio.to_thread(worker.wait_ready)
        await publish_updates(ns, ns.topic(UPDATES.name), updates)

        def judged() -> bool:
            _, body = get(alert, "/ranking", at="2024-09-05")
            rows = body.get("rankings", [{}])[0].get("rows", []) if body.get("rankings") else []
            _, firing = get(alert, "/alerts")
            behind = {a["key"]["province_uid"] for a in firing["alerts"] if a["status"] == "firing"}
            return len(rows) == 3 and all(r["as_of"].startswith("2024-08-31") for r in rows) and len(behind) >= 2

        await wait(judged, "the alert worker's ranking of the three provinces and their alerts", describe=describe)
        urls = ("--url", alert.url(""))

        # forecast: JSON as the worker gives it, and the table
        forecasts = orjson.loads(await run(env, "forecast", *urls, "--at", "2024-09-05", "--json"))
        assert {f["province_code"] for f in forecasts} == set(plans)
        by_code = {f["province_code"]: f for f in forecasts}
        assert by_code[LANG_SON]["shortfall"] is True and by_code[BAC_GIANG]["shortfall"] is False
        table = await run(env, "forecast", *urls, "--at", "2024-09-05", "--province", "Lạng Sơn")
        assert "Lạng Sơn" in table and "Bắc Giang" not in table and "2025-01-31" in table

        # ranking
        text = await run(env, "ranking", *urls, "--at", "2024-09-05")
        assert "public_investment_disbursed 2024 central: national aggregate" in text
        lines = [line for line in text.splitlines() if " of 3 " in line]
        assert [line.split("│")[3].strip() for line in lines] == ["24 Bắc Giang", "31 Hải Phòng", "20 Lạng Sơn"]

        # digest of 2024-W36 (Monday 2 to Sunday 8 September, judged at the end of Thursday 5 September)
        out = tmp_path / "digest"
        written = await run(env, "digest", "--week", "2024-W36", "--out", str(out), *urls)
        html_file, md_file = out / "tiendo-digest-2024-W36.html", out / "tiendo-digest-2024-W36.md"
        assert written.split() == ["wrote", str(html_file), "wrote", str(md_file)]
        page = html_file.read_text(encoding="utf-8")
        assert "Figures known by the end of 5 September 2024" in page
        assert "behind plan (critical)" in page and "Lạng Sơn: on current pace" in page
        markdown = md_file.read_text(encoding="utf-8")
        assert "| 3 | " in markdown
        # The worker's own digest, with its timeliness counts: monthly reports due since January, 3 sent by then.
        assert "| 31 Hải Phòng | Public investment capital disbursed | 5 of 8 missing; on time 38 % |" in markdown
        bad = await tiendo(env, "digest", "--week", "2024-W54", *urls)
        assert (bad.returncode, bad.stderr) == (1, "tiendo: error: --week: week 2024-W54: 2024 has weeks W01-W52\n")
        if CHROMIUM is not None:
            assert_fits(look(page, "digest-workers-2024-W36", tmp_path), sections=1, tables=3)

        # whatif: Lạng Sơn's lower target resolves its alert, Bắc Giang's higher one fires; nothing is published
        agg = ("--aggregate-url", aggregate.url(""))
        outcomes = orjson.loads(
            await run(env, "whatif", str(changed_file), *urls, *agg, "--at", "2024-09-05", "--json")
        )
        behind = {o["province_code"]: o for o in outcomes if o["rule"] == "TiendoBehindPlan"}
        assert (behind[LANG_SON]["now"], behind[LANG_SON]["then"], behind[LANG_SON]["verdict"]) == (
            "critical",
            None,
            "resolves",
        )
        assert (behind[BAC_GIANG]["now"], behind[BAC_GIANG]["verdict"]) == (None, "fires")
        assert behind[HAI_PHONG]["verdict"] == "stays firing"
        summary = await run(env, "whatif", str(changed_file), *urls, *agg, "--at", "2024-09-05")
        assert summary.splitlines()[-1] == (
            "3 plans at 2024-09-05: 1 fires, 0 escalates, 0 de-escalates, 1 resolves, 1 stays firing; nothing published"
        )
        _, after = get(alert, "/forecast", at="2024-09-05")
        assert {f["province_code"]: f["target"] for f in after["forecasts"]} == {
            code: f"{p.target:.2f}" for code, p in plans.items()
        }
    finally:
        for worker in workers:
            worker.stop()
