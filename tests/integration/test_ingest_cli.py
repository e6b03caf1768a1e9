"""``tiendo publish``, ``topics create-feed`` and ``dlq show/replay`` as subprocesses against the real broker."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from shared.config import KafkaSettings
from shared.deadletter import DeadLetter
from shared.events import validate_event
from shared.topics import DLQ, PLANS, UPDATES
from shared.updates import IndicatorUpdate, Origin
from tests.integration.conftest import start_ingest
from tests.integration.kafka_io import publish, read_until
from tests.workers import ROOT, Worker, tiendo

pytestmark = pytest.mark.kafka


def ev(event_id: str, province: str, value: object, unit: str = "tỷ đồng", **kw: object) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "province": province,
            "indicator": kw.pop("indicator", "state_budget_revenue"),
            "as_of": kw.pop("as_of", "2024-03-31"),
            "value": value,
            "unit": unit,
            "mode": kw.pop("mode", "ytd"),
            **kw,
        }
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tiendo: error: "), result.stderr
    return lines[0]


def json_lines(text: str) -> list[dict]:
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def env(kafka_settings: KafkaSettings, namespace: str) -> dict[str, str]:
    # COLUMNS: rich tables are as wide as the terminal; subprocesses have none (80 columns).
    return {
        "TIENDO_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "TIENDO_NAMESPACE": namespace,
        "COLUMNS": "250",
    }


async def test_publish_jsonl_and_csv_files(
    kafka_settings: KafkaSettings, env: dict[str, str], unique: str, tmp_path: Path
):
    bg, ls = f"feed.{unique}-bac-giang", f"feed.{unique}-lang-son"
    out = ok(await tiendo(env, "topics", "create-feed", f"{unique}-bac-giang"))
    assert out.split() == [bg, "1", "partitions", "created"]
    ok(await tiendo(env, "topics", "create-feed", ls, "--partitions", "2"))
    assert ok(await tiendo(env, "topics", "create-feed", ls)).split()[-1] == "exists"

    lines = [
        ev("bg-2024-q1-ngansach", "Bắc Giang", "4.680", source="UBND tỉnh Bắc Giang, báo cáo quý I/2024"),
        ev("bg-2024-q1-dautu", "Tỉnh Bắc Giang", "624,26", "triệu USD", indicator="investment_attracted"),
        b'{"event_id": "bg-hong", "province": "B\xe1\xba\xafc Giang", "value": 46',  # broken: passed through as is
    ]
    jsonl = tmp_path / "bac-giang.jsonl"
    jsonl.write_bytes(b"\n".join(lines[:2]) + b"\n\n" + lines[2] + b"\n")
    out = ok(await tiendo(env, "publish", str(jsonl), "--topic", bg))
    assert out.strip() == f"published 3 events from {jsonl} to {bg}"
    records = await read_until(kafka_settings, bg, lambda rs: len(rs) >= 3)
    assert [r.value for r in records] == lines, "byte for byte, in file order"
    assert all(r.key is None for r in records)

    csv = tmp_path / "lang-son.csv"
    csv.write_text(
        "event_id,province,indicator,as_of,value,unit,mode,source,revision\n"
        'ls-2024-q1,Lạng Sơn,state_budget_revenue,2024-03-31,"1.234,5",tỷ đồng,ytd,"UBND tỉnh Lạng Sơn, quý I",\n'
        "ls-2024-q1-dn,Tỉnh Lạng Sơn,new_enterprises,2024-03-31,120,doanh nghiệp,delta,,1\n",
        encoding="utf-8",
    )
    # The namespace never applies to feed topics; a bare name means feed.<name>.
    out = ok(await tiendo(env, "publish", str(csv), "-t", f"{unique}-lang-son"))
    assert out.strip() == f"published 2 events from {csv} to {ls}"
    records = await read_until(kafka_settings, ls, lambda rs: len(rs) >= 2)
    events = sorted((orjson.loads(r.value) for r in records), key=lambda e: e["event_id"])
    assert events == [
        {
            "event_id": "ls-2024-q1",
            "province": "Lạng Sơn",
            "indicator": "state_budget_revenue",
            "as_of": "2024-03-31",
            "value": "1.234,5",
            "unit": "tỷ đồng",
            "mode": "ytd",
            "source": "UBND tỉnh Lạng Sơn, quý I",
        },
        {
            "event_id": "ls-2024-q1-dn",
            "province": "Tỉnh Lạng Sơn",
            "indicator": "new_enterprises",
            "as_of": "2024-03-31",
            "value": "120",
            "unit": "doanh nghiệp",
            "mode": "delta",
            "revision": 1,
        },
    ]
    assert all(validate_event(e) for e in events)


async def test_publish_errors_are_one_line(env: dict[str, str], unique: str, tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(ev("x", "Bắc Giang", 1) + b"\n")
    missing = f"feed.{unique}-nobody"
    line = one_line_error(await tiendo(env, "publish", str(feed), "--topic", missing))
    assert f"topic {missing} does not exist" in line and "tiendo topics create-feed" in line

    ok(await tiendo(env, "topics", "create-feed", f"{unique}-somebody"))
    other = tmp_path / "feed.txt"
    other.write_text("hello")
    line = one_line_error(await tiendo(env, "publish", str(other), "--topic", f"feed.{unique}-somebody"))
    assert "unknown feed file format '.txt'" in line
    line = one_line_error(await tiendo(env, "publish", str(tmp_path / "gone.csv"), "--topic", f"{unique}-somebody"))
    assert "no such feed file" in line
    assert "invalid topic name" in one_line_error(await tiendo(env, "topics", "create-feed", "bắc giang"))


async def wait_metric(worker: Worker, name: str, labels: dict[str, str], value: float, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (got := await asyncio.to_thread(worker.metric, name, labels)) != value:
        assert time.monotonic() < deadline, f"{name}{labels} is {got}, not {value}\n{worker.tail()}"
        await asyncio.sleep(0.3)


async def test_dlq_show_and_replay_letters_of_a_real_ingest_worker(
    kafka_settings: KafkaSettings, env: dict[str, str], unique: str, tmp_path: Path, ingest
) -> None:
    worker, ns = ingest
    bg, ls = f"feed.{unique}-bac-giang", f"feed.{unique}-lang-son"
    ok(await tiendo(env, "topics", "create-feed", bg))
    ok(await tiendo(env, "topics", "create-feed", ls))
    dlq = ns.topic(DLQ.name)

    bad = {
        "unknown_province": ev("bg-up", "Bắc Nimh", "4.680"),
        "negative_value": ev("bg-nv", "Bắc Giang", -5),
        "not_json": b'{"event_id": "bg-hong", "province": "B\xe1\xba\xafc Giang"',
    }
    binary = b"\xff\xfe\x00 kh\xf4ng ph\xe1i JSON"  # not UTF-8: kept as base64 in the letter
    feed = tmp_path / "bac-giang.jsonl"
    feed.write_bytes(b"\n".join([ev("bg-ok", "Bắc Giang", "4.680"), *bad.values(), binary]) + b"\n")
    ok(await tiendo(env, "publish", str(feed), "--topic", bg))
    keyed = ev("ls-um", "Lạng Sơn", 12, "ha")
    await publish(kafka_settings, ls, [keyed], key=b"van-phong-7")
    letters = await read_until(kafka_settings, dlq, lambda rs: len(rs) >= 5, on_timeout=worker.tail)
    assert len(letters) == 5

    # dlq show --json: every letter, with its reason and original bytes.
    shown = json_lines(ok(await tiendo(env, "dlq", "show", "--json")))
    offsets = [r.offset for r in letters]  # transactional writes: commit markers take offsets between batches
    assert [s["offset"] for s in shown] == offsets
    originals = {bg: [*bad.values(), binary], ls: [keyed]}
    got = {}
    for s in shown:
        value = base64.b64decode(s["value_base64"]) if "value_base64" in s else s["value"].encode()
        got.setdefault(s["origin"]["topic"], []).append((s["reason"], value))
    assert sorted(got[bg]) == sorted([*((r, v) for r, v in bad.items()), ("not_json", binary)])
    assert got[ls] == [("unit_mismatch", keyed)]
    assert {s["origin"]["topic"]: s["key"] for s in shown}[ls] == "van-phong-7"
    assert sorted(v for vs in originals.values() for v in vs) == sorted(v for vs in got.values() for _, v in vs), (
        "original bytes kept"
    )

    # The table: offsets, source positions, reasons, messages and value previews (binary as base64).
    table = ok(await tiendo(env, "dlq", "show"))
    for reason in (*bad, "unit_mismatch"):
        assert reason in table
    assert f"{ls}/0/0" in table and "Bắc Nimh" in table and "base64 '//4A" in table
    assert "5 of 5 matching letters" in table

    # Filters and limit.
    only = json_lines(ok(await tiendo(env, "dlq", "show", "--json", "--reason", "unknown_province")))
    assert [s["reason"] for s in only] == ["unknown_province"]
    both = json_lines(
        ok(await tiendo(env, "dlq", "show", "--json", "--reason", "not_json", "--reason", "unit_mismatch"))
    )
    assert sorted(s["reason"] for s in both) == ["not_json", "not_json", "unit_mismatch"]
    assert [
        s["origin"]["topic"] for s in json_lines(ok(await tiendo(env, "dlq", "show", "--json", "--topic-filter", ls)))
    ] == [ls]
    assert json_lines(ok(await tiendo(env, "dlq", "show", "--json", "--topic-filter", f"feed.{unique}-b*"))) == [
        s for s in shown if s["origin"]["topic"] == bg
    ]
    limited = json_lines(ok(await tiendo(env, "dlq", "show", "--json", "--limit", "2")))
    assert [s["offset"] for s in limited] == offsets[-2:]
    assert "unknown reason bogus" in one_line_error(await tiendo(env, "dlq", "show", "--reason", "bogus"))

    # A letter an older worker wrote for an event that is valid now (say, before a province alias was added).
    late = ev("bg-late", "Bắc Giang", "1.000")
    now = datetime.now(UTC)
    letter = DeadLetter("unknown_province", "unknown province", Origin(bg, 0, 99), None, late, now, now)
    await publish(kafka_settings, dlq, [letter.encode()])

    # --dry-run counts and publishes nothing.
    out = ok(await tiendo(env, "dlq", "replay", "--dry-run"))
    assert f"{bg}  5 events would be replayed" in out and f"{ls}  1 event would be replayed" in out
    bg_before = len(await read_until(kafka_settings, bg, lambda rs: len(rs) >= 5))

    out = ok(await tiendo(env, "dlq", "replay"))
    assert f"{bg}  5 events replayed" in out and f"{ls}  1 event replayed" in out
    assert "6 events replayed from 6 matching dead letters" in out
    replayed = await read_until(kafka_settings, bg, lambda rs: len(rs) >= bg_before + 5)
    assert sorted(r.value for r in replayed[bg_before:]) == sorted([*bad.values(), binary, late])
    ls_records = await read_until(kafka_settings, ls, lambda rs: len(rs) >= 2)
    assert [(r.key, r.value) for r in ls_records] == [(b"van-phong-7", keyed)] * 2, "original key kept"

    # Still-bad events are dead-lettered again; the now-valid one is accepted.
    await read_until(kafka_settings, dlq, lambda rs: len(rs) >= 6 + 5, on_timeout=worker.tail)
    await wait_metric(worker, "tiendo_ingest_events_total", {"outcome": "accepted"}, 2)

    # Replaying again is safe: identical letters are replayed once, the accepted event is a duplicate.
    out = ok(await tiendo(env, "dlq", "replay"))
    assert "6 events replayed from 11 matching dead letters" in out and "(5 identical letters replayed once)" in out
    await read_until(kafka_settings, dlq, lambda rs: len(rs) >= 11 + 5, on_timeout=worker.tail)
    await wait_metric(worker, "tiendo_ingest_events_total", {"outcome": "duplicate"}, 1)
    updates = await read_until(kafka_settings, ns.topic(UPDATES.name), lambda rs: len(rs) >= 2)
    assert sorted(IndicatorUpdate.decode(r.value).event_id for r in updates) == ["bg-late", "bg-ok"]
    assert worker.metric("tiendo_ingest_events_total", {"outcome": "accepted"}) == 2
    assert len(await read_until(kafka_settings, dlq, lambda rs: len(rs) >= 16)) == 16

    # Replays can be narrowed down.
    out = ok(await tiendo(env, "dlq", "replay", "--dry-run", "--reason", "unit_mismatch"))
    assert out.splitlines()[0] == f"{ls}  1 event would be replayed"


async def test_plans_and_topics_take_bootstrap_servers_and_skip_foreign_plan_records(
    kafka_settings: KafkaSettings, env: dict[str, str], namespace: str, tmp_path: Path
) -> None:
    # The environment points at nothing: --bootstrap-servers alone must reach the broker.
    down = {**env, "TIENDO_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    flag = ["--bootstrap-servers", kafka_settings.bootstrap_servers]
    out = ok(await tiendo(down, "topics", "create", *flag))
    assert f"{namespace}{PLANS.name}" in out
    plans = ROOT / "deploy" / "plans" / "example-2024.yaml"
    assert ok(await tiendo(down, "plans", "load", str(plans), *flag)).strip() == f"loaded 12 plans from {plans}"
    # A record that is no plan (another tool's, a broken one) is skipped with a warning, not a traceback.
    await publish(kafka_settings, f"{namespace}{PLANS.name}", [b"{}"], key=b"not-a-plan")
    result = await tiendo(down, "plans", "show", "--json", *flag)
    shown = json_lines(ok(result))
    assert len(shown) == 12 and {p["year"] for p in shown} == {2024}
    assert result.stderr.strip() == "tiendo: warning: skipped 1 records of the plans topic that are not plans"
    line = one_line_error(await tiendo(down, "plans", "show"))
    assert line == "tiendo: error: cannot reach Kafka at 127.0.0.1:1 (no broker answered)"


async def test_a_full_dedupe_state_dead_letters_new_ids_to_replay_once_raised(
    kafka_settings: KafkaSettings, env: dict[str, str], namespace: str, unique: str, tmp_path: Path
) -> None:
    """The runbook's TiendoStateFull story: a limit of 2 ids refuses the third, nothing else; with the limit raised
    and the worker restarted, ``dlq replay --reason dedupe_full`` brings it in, and only it."""
    bg = f"feed.{unique}-bac-giang"
    ok(await tiendo(env, "topics", "create-feed", bg))

    def worker(max_ids: int) -> Worker:
        return start_ingest(
            kafka_settings, namespace, unique, tmp_path, f"ingest-{max_ids}", TIENDO_DEDUPE_MAX_IDS=str(max_ids)
        )

    small = worker(2)
    try:
        await asyncio.to_thread(small.wait_ready)
        assert small.metric("tiendo_ingest_dedupe_max_keys") == 2
        events = [ev(f"bg-{n}", "Bắc Giang", 1000 + n, as_of=f"2024-0{n + 1}-28", mode="delta") for n in range(3)]
        await publish(kafka_settings, bg, events)
        [letter] = await read_until(kafka_settings, ns_dlq := f"{namespace}{DLQ.name}", lambda rs: len(rs) >= 1)
        refused = DeadLetter.decode(letter.value)
        assert refused.reason == "dedupe_full" and refused.value == events[2], "the third new id, original kept"
        await wait_metric(small, "tiendo_ingest_events_total", {"outcome": "accepted"}, 2)
        await publish(kafka_settings, bg, [events[0]])  # a redelivery of a remembered id: still recognised
        await wait_metric(small, "tiendo_ingest_events_total", {"outcome": "duplicate"}, 1)
        assert small.metric("tiendo_ingest_rejections_total", {"reason": "dedupe_full"}) == 1
    finally:
        small.stop()

    raised = worker(10)
    try:
        await asyncio.to_thread(raised.wait_ready)
        out = ok(await tiendo(env, "dlq", "replay", "--reason", "dedupe_full"))
        assert out.splitlines()[0] == f"{bg}  1 event replayed"
        await wait_metric(raised, "tiendo_ingest_events_total", {"outcome": "accepted"}, 1)
        updates = await read_until(kafka_settings, f"{namespace}{UPDATES.name}", lambda rs: len(rs) >= 3)
        assert sorted(IndicatorUpdate.decode(r.value).event_id for r in updates) == ["bg-0", "bg-1", "bg-2"]
        assert len(await read_until(kafka_settings, ns_dlq, lambda rs: len(rs) >= 1)) == 1, "no new letter"
    finally:
        raised.stop()
