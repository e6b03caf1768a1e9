"""The alert stage on a fake producer: what a batch of totals sends (history records, then the changed states to
their partition of the changelog), that a batch whose writes are not acknowledged leaves memory as it was (read
again, it does the same again), that a partition's state is rebuilt from its changelog records, and that a
replica delivers the alerts of the partitions it owns only."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry, generate_latest

from services.aggregate.batches import total_message
from services.alert import stage as stage_module
from services.alert.metrics import AlertMetrics
from services.alert.settings import AlertSettings
from services.alert.stage import AlertStage, Topics, plan_partition
from shared.aggregation import QuarterTotal
from shared.contracts import View
from shared.evaluation import Evaluator, province_of
from shared.metrics import metric_sum
from shared.plans import load_plan_file
from shared.provinces import registry
from shared.updates import series_partition
from shared.vntime import parse_as_of
from tests.unit.fakes import FakeProducer

LANG_SON, BAC_GIANG = "20", "24"
PLANS = """\
plans:
  - {province: Lạng Sơn, indicator: public_investment_disbursed, year: 2024, basis: central,
     target: 4500, unit: tỷ đồng}
  - {province: Bắc Giang, indicator: public_investment_disbursed, year: 2024, basis: central,
     target: 6000, unit: tỷ đồng}
"""
_offsets = itertools.count()


class AlertProducer(FakeProducer):
    """The fake producer, read as the alert stage's outputs."""

    def history(self) -> list[tuple[str, str]]:
        return [
            (orjson.loads(v)["event"], orjson.loads(v)["alert"]["key"]["province_uid"])
            for t, _, v, _ in self.sent
            if t == "alerts" and v is not None
        ]

    def states(self) -> list[tuple[bytes, int | None]]:
        return [(k or b"", p) for t, k, _, p in self.sent if t == "state"]


@dataclass
class FakeOutputs:
    producer_: FakeProducer

    async def producer(self) -> FakeProducer:
        return self.producer_


@dataclass
class FakeDelivery:
    bodies: list[list[dict[str, Any]]] = field(default_factory=list)

    async def send(self, alerts: list[dict[str, Any]]) -> bool:
        self.bodies.append(alerts)
        return True


def total(unit: str, quarter: int, ytd_bn: str, as_of: str) -> tuple[bytes, bytes]:
    province = province_of(unit)
    ytd = Decimal(ytd_bn) * 10**9
    quarter_total = QuarterTotal(
        unit=unit, province_code=province.code,
        current_code=registry().rollup(province.code, on=date(2024, 12, 31)).code,
        indicator="public_investment_disbursed", year=2024, quarter=quarter, value=ytd, ytd=ytd, base_unit="VND",
        events=1, last_as_of=parse_as_of(as_of), updated_at=datetime.now(UTC), sources=("test",),
    )  # fmt: skip
    return total_message(View.UNIT, quarter_total)


def partition_of(unit: str) -> int:
    return series_partition(registry().rollup(province_of(unit).code, on=date(2024, 12, 31)).code,
                            "public_investment_disbursed", 4)  # fmt: skip


def record(key: bytes | None, value: bytes | None, partition: int, topic: str = "totals") -> ConsumerRecord:
    stamp = int(datetime.now(UTC).timestamp() * 1000)
    return ConsumerRecord(topic, partition, next(_offsets), stamp, 0, key, value, None, 0, 0, ())


def totals(*items: tuple[bytes, bytes], partition: int | None = None) -> list[ConsumerRecord]:
    out = []
    for key, value in items:
        body = orjson.loads(value)
        p = partition if partition is not None else series_partition(body["current_code"], body["indicator"], 4)
        out.append(record(key, value, p))
    return out


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "plans.yaml"
    path.write_text(PLANS, encoding="utf-8")
    return path


def make_stage(
    plan_file: Path, producer: FakeProducer, changelog: list[ConsumerRecord] | None = None, *, clock: str = "event"
) -> tuple[AlertStage, CollectorRegistry]:
    registry_ = CollectorRegistry()
    settings = AlertSettings(clock=clock)
    topics = Topics("alerts", "state", "plans", "totals")
    outputs = FakeOutputs(producer)
    stage = AlertStage(settings, Evaluator(), AlertMetrics(registry_), outputs, topics, partitions=4)  # type: ignore[arg-type]
    for plan in load_plan_file(plan_file):
        stage.plans.apply(plan.key.encode(), orjson.dumps(plan.to_dict()))
    stage.plans.loaded = True
    stage.changelog = changelog or []  # type: ignore[attr-defined]
    return stage, registry_


@pytest.fixture(autouse=True)
def fake_changelog(monkeypatch: pytest.MonkeyPatch) -> None:
    """``iter_to_end`` of the stage's changelog: the records given to :func:`make_stage`."""

    def reader(stage_records: list[ConsumerRecord]):
        async def iter_to_end(
            settings: object, topic: str, *, partitions: Collection[int], **_: object
        ) -> AsyncIterator[ConsumerRecord]:
            for r in stage_records:
                if r.partition in partitions:
                    yield r

        return iter_to_end

    original = AlertStage.on_assigned

    async def on_assigned(self: AlertStage, partitions: set[int]) -> None:
        monkeypatch.setattr(stage_module, "iter_to_end", reader(getattr(self, "changelog", [])))
        await original(self, partitions)

    monkeypatch.setattr(AlertStage, "on_assigned", on_assigned)


def as_changelog(producer: FakeProducer) -> list[ConsumerRecord]:
    """What the stage wrote to its changelog, as the records a new owner reads."""
    return [record(k, v, p or 0, "state") for t, k, v, p in producer.sent if t == "state"]


async def test_a_batch_of_totals_fires_and_writes_history_then_state_to_the_series_partition(plan_file: Path) -> None:
    producer = AlertProducer()
    stage, registry_ = make_stage(plan_file, producer)
    await stage.on_assigned({0, 1, 2, 3})
    assert producer.sent == [], "nothing owned has a date yet: the event clock has not started"

    # Lạng Sơn 31% of 4,500 bn on 15 September (critical); Bắc Giang on plan.
    batch = totals(total(LANG_SON, 3, "1395", "2024-09-15"), total(BAC_GIANG, 3, "3500", "2024-09-15"))
    committed = await stage.process(batch, producer)  # type: ignore[arg-type]
    assert 'tiendo_alert_totals_total{outcome="applied"} 0.0' in generate_latest(registry_).decode()
    committed()  # counted once the batch worker has committed the batch
    assert producer.history() == [("fired", LANG_SON)]
    topics = [t for t, *_ in producer.sent]
    assert topics.index("alerts") < topics.index("state"), "history first, then the state"
    p_ls, p_bg = partition_of(LANG_SON), partition_of(BAC_GIANG)
    states = producer.states()
    assert (b"f|unit/20|public_investment_disbursed|2024", p_ls) in states
    assert (b"f|unit/24|public_investment_disbursed|2024", p_bg) in states
    assert (b"a|TiendoBehindPlan|20|public_investment_disbursed|central|2024", p_ls) in states
    assert (b"a|TiendoBehindPlan|24|public_investment_disbursed|central|2024", p_bg) in states  # judged: inactive
    fired = stage.parts[p_ls].alerts["TiendoBehindPlan|20|public_investment_disbursed|central|2024"]
    assert (fired.status, fired.severity, fired.last_sent_at) == ("firing", "critical", None)
    text = generate_latest(registry_).decode()
    assert metric_sum(text, "tiendo_alert_firing", {"alertname": "TiendoBehindPlan", "severity": "critical"}) == 1
    assert metric_sum(text, "tiendo_alert_totals_total", {"outcome": "applied"}) == 2

    # The same batch again (a replay): same figures, nothing new to record or page.
    producer.sent.clear()
    await stage.process(batch, producer)  # type: ignore[arg-type]
    assert producer.history() == []
    assert all(key.startswith(b"f|") for key, _ in producer.states()), "alert states unchanged: not written again"

    # Recovery: resolved once.
    await stage.process(totals(total(LANG_SON, 3, "2700", "2024-09-20")), producer)  # type: ignore[arg-type]
    assert producer.history() == [("resolved", LANG_SON)]


@pytest.mark.parametrize("failing", ["alerts", "state"])
async def test_a_batch_not_acknowledged_leaves_memory_as_it_was_and_is_done_again(
    plan_file: Path, failing: str
) -> None:
    stage, _ = make_stage(plan_file, AlertProducer())
    await stage.on_assigned({0, 1, 2, 3})
    stage.wake.clear()
    batch = totals(total(LANG_SON, 3, "1395", "2024-09-15"))
    broken = AlertProducer(fail_on=failing)
    with pytest.raises(KafkaTimeoutError):
        await stage.process(batch, broken)  # type: ignore[arg-type]
    assert all(not part.figures and not part.alerts for part in stage.parts.values())
    assert stage.clock is None and not stage.wake.is_set()

    producer = AlertProducer()
    await stage.process(batch, producer)  # type: ignore[arg-type]  # the batch worker reads it again
    assert producer.history() == [("fired", LANG_SON)], "done again: fired (once more if its history was written)"
    assert broken.history() == ([("fired", LANG_SON)] if failing == "state" else [])


async def test_on_assigned_rebuilds_the_partitions_from_their_changelog(plan_file: Path) -> None:
    first = AlertProducer()
    stage, _ = make_stage(plan_file, first)
    await stage.on_assigned({0, 1, 2, 3})
    await stage.process(totals(total(LANG_SON, 3, "1395", "2024-09-15")), first)  # type: ignore[arg-type]
    # A tombstone and a record that is no state are skipped.
    changelog = [*as_changelog(first), record(b"a|gone", None, 0, "state"), record(b"x|junk", b"{}", 0, "state")]

    p = partition_of(LANG_SON)
    replica = AlertProducer()
    other, _ = make_stage(plan_file, replica, changelog)
    await other.on_assigned({p})
    assert set(other.parts) == {p}
    assert other.parts[p].figures == stage.parts[p].figures
    assert other.parts[p].alerts == stage.parts[p].alerts
    assert other.clock == parse_as_of("2024-09-15")
    assert replica.history() == [], "its judgement on assignment changes nothing: no second page"

    # The same total read again by the new owner (its predecessor died before committing): nothing new.
    await other.process(totals(total(LANG_SON, 3, "1395", "2024-09-15")), replica)  # type: ignore[arg-type]
    assert replica.history() == []
    # It delivers what is due: the alert was never sent.
    delivery = FakeDelivery()
    await other.deliver_due(delivery)  # type: ignore[arg-type]
    assert [[a["labels"]["province"] for a in body] for body in delivery.bodies] == [[LANG_SON]]
    key = "TiendoBehindPlan|20|public_investment_disbursed|central|2024"
    assert other.parts[p].alerts[key].last_sent_at is not None
    assert replica.states()[-1] == (f"a|{key}".encode(), p), "sent: recorded in the changelog"


async def test_a_revoked_partition_is_forgotten_and_its_alerts_not_delivered(plan_file: Path) -> None:
    producer = AlertProducer()
    stage, registry_ = make_stage(plan_file, producer)
    await stage.on_assigned({0, 1, 2, 3})
    await stage.process(totals(total(LANG_SON, 3, "1395", "2024-09-15")), producer)  # type: ignore[arg-type]
    [plan] = [pl for pl in stage.plans.values() if pl.province_code == LANG_SON]
    p = plan_partition(plan, 4)
    assert p == partition_of(LANG_SON)
    await stage.on_revoked({p})
    assert p not in stage.parts and stage.owned_alerts() == []
    delivery = FakeDelivery()
    await stage.deliver_due(delivery)  # type: ignore[arg-type]
    assert delivery.bodies == [], "the partition's new owner delivers it"
    text = generate_latest(registry_).decode()
    assert metric_sum(text, "tiendo_alert_firing") == 0
    assert metric_sum(text, "tiendo_alert_progress_ratio", {"province": LANG_SON}) == 0


async def test_a_total_in_another_partition_than_its_series_is_ignored(plan_file: Path) -> None:
    producer = AlertProducer()
    stage, registry_ = make_stage(plan_file, producer)
    await stage.on_assigned({0, 1, 2, 3})
    wrong = (partition_of(LANG_SON) + 1) % 4
    batch = totals(total(LANG_SON, 3, "1395", "2024-09-15"), partition=wrong)
    (await stage.process(batch, producer))()  # type: ignore[arg-type]
    assert producer.sent == [] and all(not part.figures for part in stage.parts.values())
    text = generate_latest(registry_).decode()
    assert metric_sum(text, "tiendo_alert_totals_total", {"outcome": "misrouted"}) == 1


async def test_a_plan_change_is_judged_by_its_owner_only(plan_file: Path) -> None:
    producer = AlertProducer()
    stage, _ = make_stage(plan_file, producer)
    p = partition_of(LANG_SON)
    await stage.on_assigned({p})
    await stage.process(totals(total(LANG_SON, 3, "2700", "2024-09-15")), producer)  # type: ignore[arg-type]
    assert producer.history() == []
    [plan] = [pl for pl in stage.plans.values() if pl.province_code == LANG_SON]
    raised = {**plan.to_dict(), "target": str(Decimal(9000) * 10**9)}  # the plan doubled: now behind
    await stage._plan_changed(plan.key.encode(), orjson.dumps(raised))
    assert producer.history() == [("fired", LANG_SON)]
    await stage._plan_changed(plan.key.encode(), None)  # removed: its alert resolves
    assert producer.history() == [("fired", LANG_SON), ("resolved", LANG_SON)]
    assert stage.plans.get(plan.key.encode()) is None
