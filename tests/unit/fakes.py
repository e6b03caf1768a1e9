"""A fake Kafka producer for the stages' unit tests: it records every send, and can fail a topic's acknowledgements."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from aiokafka.errors import KafkaTimeoutError

_offsets = itertools.count()


@dataclass
class Meta:
    """What an acknowledgement carries (``RecordMetadata``'s fields the stages read)."""

    topic: str
    partition: int
    offset: int


@dataclass
class FakeProducer:
    """Records every send as ``(topic, key, value, partition)``; ``fail_on`` makes the acknowledgement of sends to
    that topic fail, as a broker that does not answer would."""

    fail_on: str | None = None
    sent: list[tuple[str, bytes | None, bytes | None, int | None]] = field(default_factory=list)

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, partition: int | None = None
    ) -> asyncio.Future[Meta]:
        future: asyncio.Future[Meta] = asyncio.get_running_loop().create_future()
        if topic == self.fail_on:
            future.set_exception(KafkaTimeoutError())
        else:
            self.sent.append((topic, key, value, partition))
            future.set_result(Meta(topic, partition or 0, next(_offsets)))
        return future

    def to(self, topic: str) -> list[bytes]:
        """The values sent to ``topic``, in order."""
        return [value for t, _, value, _ in self.sent if t == topic and value is not None]
