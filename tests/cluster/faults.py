"""What the cluster fault tests share: the fault suite's stack with replicated topics, where the traffic's leaders
are, a producer that publishes slices until told to stop, and the rolling restart."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import TopicPartition

from services.localkafka import LocalCluster
from shared import kafkaclients
from shared.config import KafkaSettings
from tests.faults.pipeline import Message, Origin, Stack

#: Replicas of every topic the cluster tests create (min.insync.replicas is one less: 2), through the settings.
REPLICAS = 3


@dataclass
class ClusterStack(Stack):
    """The fault suite's stack with every topic (the test's, and those the workers create) replicated 3 times."""

    @property
    def ns(self) -> KafkaSettings:
        return super().ns.model_copy(update={"replication_factor": REPLICAS})

    @property
    def plain(self) -> KafkaSettings:
        return super().plain.model_copy(update={"replication_factor": REPLICAS})

    def _env(self, **extra: str) -> dict[str, str]:
        return super()._env(TIENDO_REPLICATION_FACTOR=str(REPLICAS), **extra)


async def leaders(settings: KafkaSettings, topics: Sequence[str]) -> dict[int, int]:
    """Node id → records in the partitions of ``topics`` it leads (end offsets now)."""
    admin = kafkaclients.admin(settings)
    consumer = kafkaclients.consumer(settings, "cluster-leaders")
    await admin.start()
    await consumer.start()
    try:
        described = await admin.describe_topics(list(topics))
        led = {TopicPartition(t["topic"], p["partition"]): p["leader"] for t in described for p in t["partitions"]}
        ends = await consumer.end_offsets(list(led))
        out: Counter[int] = Counter()
        for tp, leader in led.items():
            out[leader] += ends[tp]
        return dict(out)
    finally:
        await consumer.stop()
        await admin.close()


async def busiest_leader(settings: KafkaSettings, topics: Sequence[str]) -> tuple[int, int]:
    """(node id, records) of the node leading the most records of ``topics``."""
    counts = await leaders(settings, topics)
    node = max(counts, key=lambda n: (counts[n], -n))
    return node, counts[node]


@dataclass
class Publisher:
    """One producer (acks=all, idempotent) publishing ``messages`` in ``parts`` equal parts, ``size`` messages every
    ``pause`` seconds: part k from the moment phase k starts (:meth:`next_phase`), the last part once phase
    ``parts - 1`` starts; so every phase (a fault) has traffic from its beginning, however slow the machine."""

    settings: KafkaSettings
    messages: Sequence[Message]
    parts: int
    size: int = 40
    pause: float = 0.25
    phase: int = -1
    sent: int = 0

    def part(self, k: int) -> range:
        per = -(-len(self.messages) // self.parts)
        return range(k * per, min(len(self.messages), (k + 1) * per))

    async def next_phase(self, published: int = 1) -> int:
        """Start the next phase and wait until ``published`` messages of its part are acknowledged; its number."""
        self.phase += 1
        want = min(self.part(self.phase).start + published, self.part(self.phase).stop)
        while self.sent < want:
            await asyncio.sleep(0.05)
        return self.phase

    async def run(self) -> list[Origin]:
        """Publish every part in turn; each message's offset, in order."""
        producer = kafkaclients.producer(self.settings, "cluster-publish")
        await producer.start()
        origins: list[Origin] = []
        try:
            for k in range(self.parts):
                while self.phase < k:
                    await asyncio.sleep(0.05)
                part = self.part(k)
                for start in range(part.start, part.stop, self.size):
                    batch = self.messages[start : min(start + self.size, part.stop)]
                    acked = await kafkaclients.send_all(producer, [(m.topic, m.key, m.value) for m in batch])
                    origins += [(meta.topic, meta.partition, meta.offset) for meta in acked]
                    self.sent += len(batch)
                    await asyncio.sleep(self.pause)
            return origins
        finally:
            await producer.stop()


def restart(cluster: LocalCluster, node_id: int, *, kill: bool, down_s: float = 0.0) -> str:
    """SIGKILL (a crash) or SIGTERM (a controlled shutdown) one node, leave it down ``down_s`` seconds, start it
    again and wait until every partition is fully replicated (what a rolling restart waits for before the next
    node); what happened, timed."""
    node = cluster.node(node_id)
    t0 = time.monotonic()
    if kill:
        node.kill()
    else:
        node.stop()
    stopped = time.monotonic() - t0
    time.sleep(down_s)
    cluster.start_node(node_id)
    up = time.monotonic() - t0
    cluster.wait_replicated()
    how = "SIGKILL" if kill else "SIGTERM"
    return f"{how} node {node_id} ({stopped:.1f}s): back in {up:.1f}s, in sync in {time.monotonic() - t0:.1f}s"
