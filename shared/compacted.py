"""A key-value map kept in a compacted Kafka topic: loaded whole at start, updated with acknowledged writes.

Used for state small enough to hold in memory and read at start-up (the ingest dedupe state). Deleting a key
writes a tombstone, so compaction keeps the topic as small as the map.
"""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from shared.config import KafkaSettings
from shared.kafkaclients import send_all
from shared.reading import read_to_end
from shared.topics import TopicSpec, ensure_topics


class CompactedMap:
    """``dict[bytes, bytes]`` mirrored to a compacted topic (one partition)."""

    def __init__(self, settings: KafkaSettings, spec: TopicSpec) -> None:
        self.settings, self.spec = settings, spec
        self.topic = settings.topic(spec.name)
        self.data: dict[bytes, bytes] = {}

    async def load(self) -> int:
        """Create the topic if missing and read its committed records to its end (the map becomes what they say);
        return the number of live keys."""
        await ensure_topics(self.settings, (self.spec,))
        data: dict[bytes, bytes] = {}
        for record in await read_to_end(self.settings, self.topic):
            if record.value is None:
                data.pop(record.key, None)
            else:
                data[record.key] = record.value
        self.data = data
        return len(self.data)

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    async def write(self, producer: AIOKafkaProducer, items: dict[bytes, bytes | None]) -> None:
        """Write values (None deletes) and wait for every acknowledgement before changing the map."""
        await send_all(producer, self.topic, items.items())
        for key, value in items.items():
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value

    def __len__(self) -> int:
        return len(self.data)
