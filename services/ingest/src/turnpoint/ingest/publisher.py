"""Producing envelopes to Kafka: batching by key, delivery accounting and dead letters.

A `Publisher` owns one confluent-kafka producer. It never flushes per message: callers `poll()` as they go
and `flush()` once at the end (files) or per request (HTTP, which must answer only after the acks).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from confluent_kafka import KafkaError, Message, Producer

from turnpoint.core.deadletter import dead_letter_record
from turnpoint.core.kafka import make_producer
from turnpoint.core.produce import Headers, produce
from turnpoint.core.serde import encode_items
from turnpoint.core.settings import KafkaSettings
from turnpoint.core.topics import Names, TopicSpec

if TYPE_CHECKING:
    from turnpoint.ingest.journal import Journal

SERVICE = "ingest"
DeliveryCallback = Callable[[KafkaError | None, Message], None]


@dataclass
class DeliveryStats:
    """Counters updated by delivery reports (from the producer's poll thread)."""

    messages_sent: int = 0
    messages_acked: int = 0
    items_acked: int = 0
    messages_failed: int = 0
    items_failed: int = 0
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class Publisher:
    """Sends item batches of one key as envelopes; counts what the broker acknowledged.

    With a journal (`turnpoint.ingest.journal`; the service sets `default_journal` for every publisher it
    makes), each acknowledged message is also appended to it.
    """

    default_journal: ClassVar[Journal | None] = None

    def __init__(self, kafka: KafkaSettings, producer: Producer | None = None, **overrides: Any) -> None:
        self.kafka = kafka
        self._overrides = overrides if producer is None else None  # None: the producer was given, never renewed
        self.producer = producer if producer is not None else make_producer(kafka, **overrides)
        self.stats = DeliveryStats()
        self.journal = Publisher.default_journal

    def topic(self, spec: TopicSpec) -> str:
        return Names(self.kafka.topic_prefix).topic(spec)

    def dead_letter_topic(self, spec: TopicSpec) -> str:
        return Names(self.kafka.topic_prefix).dead_letter(spec)

    def _report(self, n_items: int, extra: DeliveryCallback | None) -> DeliveryCallback:
        stats = self.stats
        journal = self.journal

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is None and journal is not None:
                journal.append(msg.topic(), msg.key(), msg.value())
            with stats.lock:
                if err is None:
                    stats.messages_acked += 1
                    stats.items_acked += n_items
                else:
                    stats.messages_failed += 1
                    stats.items_failed += n_items
                    stats.last_error = str(err)
            if extra is not None:
                extra(err, msg)

        return on_delivery

    def produce_raw(
        self, topic: str, key: str | bytes | None, value: bytes, n_items: int = 1,
        on_delivery: DeliveryCallback | None = None, headers: Headers | None = None,
    ) -> None:
        """Produce one message, waiting for queue space (`turnpoint.core.produce`) when the local queue is full."""
        produce(self.producer, topic, value, key, headers=headers, on_delivery=self._report(n_items, on_delivery))
        with self.stats.lock:
            self.stats.messages_sent += 1
        self.producer.poll(0)

    def send(
        self, spec: TopicSpec, key: str, items: Sequence[dict[str, Any]],
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        self.produce_raw(self.topic(spec), key, encode_items(items), len(items), on_delivery)

    def send_batched(
        self, spec: TopicSpec, key: str, items: Sequence[dict[str, Any]], batch_size: int,
        on_delivery: DeliveryCallback | None = None,
    ) -> int:
        """Send items of one key in envelopes of at most `batch_size`, in order; returns messages sent."""
        n = 0
        for i in range(0, len(items), batch_size):
            self.send(spec, key, items[i : i + batch_size], on_delivery)
            n += 1
        return n

    def dead_letter(
        self, spec: TopicSpec, reason: str, detail: str, payload: bytes | str, key: str | None = None,
        source_topic: str | None = None, partition: int | None = None, offset: int | None = None,
    ) -> None:
        record = dead_letter_record(
            reason=reason, detail=detail, service=SERVICE, payload=payload, key=key,
            source_topic=source_topic, partition=partition, offset=offset,
        )
        self.produce_raw(self.dead_letter_topic(spec), record.key, record.value, n_items=0, headers=record.headers)

    def flush(self, timeout: float) -> int:
        """Wait for outstanding deliveries; returns how many messages are still in flight (0: all reported)."""
        return int(self.producer.flush(timeout))

    def close(self, timeout: float = 10.0) -> int:
        return self.flush(timeout)

    def renew(self, flush_timeout: float | None = 5.0) -> None:
        """A new producer of the same settings, after flushing the old one for `flush_timeout` s (None: not).

        A new broker does not know the old producer id, and once an idempotent producer's messages timed
        out its sequence numbers no longer match the broker's (Tansu then fences it); a new producer gets a
        new id. A producer that was given (tests) is kept.
        """
        if self._overrides is None:
            return
        if flush_timeout is not None:
            self.flush(flush_timeout)
        self.producer = make_producer(self.kafka, **self._overrides)


def group_by_key(items: Iterable[dict[str, Any]], key_field: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        out.setdefault(item[key_field], []).append(item)
    return out
