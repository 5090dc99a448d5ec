"""Publishing from the Faust agents through librdkafka (confluent-kafka) instead of Faust's producer.

Faust's `topic.send` costs tens of microseconds of Python per record; librdkafka queues a record in about
one. The agents need only two things from a producer: queue records, and wait until the broker has
acknowledged all of them. `flush` runs librdkafka's blocking flush in a thread (it releases the GIL),
so the event loop keeps heartbeating and consuming meanwhile.
"""

from __future__ import annotations

import asyncio

from confluent_kafka import KafkaError, Message

from turnpoint.core.kafka import make_producer
from turnpoint.core.produce import Headers, produce
from turnpoint.core.settings import KafkaSettings


class PublishFailed(RuntimeError):
    """The broker did not acknowledge a record after the producer's own retries."""


class Publisher:
    def __init__(self, settings: KafkaSettings, client_id: str, compression: str = "none") -> None:
        self.producer = make_producer(
            settings, **{"client.id": client_id, "linger.ms": 5, "log.connection.close": False,
                         "queue.buffering.max.kbytes": 1 << 20, "message.max.bytes": 8 << 20,
                         "compression.type": compression},
        )
        self.failures: list[str] = []

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.failures.append(f"{msg.topic()}[{msg.partition()}]: {err}")

    def produce(
        self, topic: str, key: bytes, value: bytes, partition: int | None = None, headers: Headers | None = None,
    ) -> None:
        produce(self.producer, topic, value, key, partition=partition, headers=headers, on_delivery=self._on_delivery)

    async def flush(self, timeout: float = 60.0) -> None:
        """Return once every queued record was acknowledged; raise PublishFailed otherwise."""
        left = await asyncio.get_running_loop().run_in_executor(None, self.producer.flush, timeout)
        if left or self.failures:
            detail = "; ".join(self.failures[:3]) or f"{left} records unacknowledged after {timeout:.0f}s"
            self.failures.clear()
            raise PublishFailed(detail)
