"""Replication settings and how an existing topic is compared with its spec."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.config import KafkaSettings
from shared.topics import DLQ, PLANS, UPDATES, Mismatch, TopicState, compare


@pytest.mark.parametrize(("rf", "min_isr"), [(1, 1), (2, 1), (3, 2), (5, 4)])
def test_min_insync_replicas_defaults_to_one_less_than_the_replicas(rf: int, min_isr: int) -> None:
    assert KafkaSettings(replication_factor=rf).min_isr == min_isr


def test_replication_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIENDO_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("TIENDO_MIN_INSYNC_REPLICAS", "3")
    assert (KafkaSettings().replication_factor, KafkaSettings().min_isr) == (3, 3)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"replication_factor": 0}, "greater than or equal to 1"),
        ({"replication_factor": 1, "min_insync_replicas": 2}, "cannot exceed replication_factor"),
        ({"replication_factor": 3, "min_insync_replicas": 0}, "greater than or equal to 1"),
    ],
)
def test_replication_settings_are_validated(kwargs: dict, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        KafkaSettings(**kwargs)


def test_topic_configs_carry_min_insync_replicas() -> None:
    assert PLANS.topic_configs(KafkaSettings(replication_factor=3)) == {
        "min.insync.replicas": "2",
        "cleanup.policy": "compact",
    }


def state(spec_partitions: int, rf: int = 1, **config: str) -> TopicState:
    defaults = {"cleanup.policy": "delete", "retention.ms": "604800000", "min.insync.replicas": "1"}
    return TopicState("t", spec_partitions, rf, {**defaults, **{k.replace("_", "."): v for k, v in config.items()}})


def test_a_topic_as_specified_has_no_mismatch() -> None:
    settings = KafkaSettings()
    assert compare(UPDATES, settings, state(4)) == []
    assert compare(PLANS, settings, state(1, cleanup_policy="compact")) == []
    assert compare(DLQ, settings, state(1, retention_ms=DLQ.config["retention.ms"])) == []


def test_partitions_replicas_and_min_isr_differences_are_reported_without_data_loss() -> None:
    settings = KafkaSettings(replication_factor=3)
    assert compare(UPDATES, settings, state(2)) == [
        Mismatch("partitions", "4", "2"),
        Mismatch("replication factor", "3", "1"),
        Mismatch("min.insync.replicas", "2", "1"),
    ]
    assert str(Mismatch("partitions", "4", "2")) == "partitions is 2, expected 4"


def test_a_shorter_retention_is_reported() -> None:
    assert compare(DLQ, KafkaSettings(), state(1, retention_ms="3600000")) == [
        Mismatch("retention.ms", DLQ.config["retention.ms"], "3600000")
    ]


def test_a_compacted_spec_on_a_deleting_topic_loses_data() -> None:
    (mismatch,) = compare(PLANS, KafkaSettings(), state(1))
    assert mismatch == Mismatch("cleanup.policy", "compact", "delete (retention.ms 604800000)", loses_data=True)
    (both,) = compare(PLANS, KafkaSettings(), state(1, cleanup_policy="compact,delete"))
    assert both.loses_data


def test_a_compacted_spec_on_a_topic_that_never_deletes_is_only_reported() -> None:
    (mismatch,) = compare(PLANS, KafkaSettings(), state(1, cleanup_policy="delete", retention_ms="-1"))
    assert mismatch.what == "cleanup.policy" and not mismatch.loses_data


def test_an_event_topic_that_is_compacted_loses_data() -> None:
    (mismatch,) = compare(UPDATES, KafkaSettings(), state(4, cleanup_policy="compact"))
    assert mismatch == Mismatch("cleanup.policy", "delete", "compact", loses_data=True)
