"""Sending live records without losing them: straight to Kafka while it answers, to the spool while not.

`ReliableSender` switches to spooling when the broker is reported down (librdkafka's all-brokers-down
error) or a delivery fails (the failed message itself is spooled); while anything is spooled, new records
go to the spool too so that replay keeps their order. `replay()` (called by the service's maintenance
thread) sends the spool back in order once the broker answers, then switches back to direct sends.
A message that was in flight when the broker went away is spooled when its delivery times out, so it can
land after records spooled meanwhile; records carry their own timestamps, so consumers are unaffected.

While the publishing `Gate` is held (`turnpoint.ingest.hold`: the embedded broker is being replaced),
every record is spooled and nothing is replayed; the replay after the release sends them in order.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from turnpoint.core import topics
from turnpoint.core.deadletter import dead_letter_record
from turnpoint.core.kafka import ensure_topics
from turnpoint.core.observability import get_logger
from turnpoint.core.produce import Headers
from turnpoint.core.serde import encode_items
from turnpoint.core.settings import KafkaSettings
from turnpoint.core.topics import TopicSpec
from turnpoint.ingest import metrics
from turnpoint.ingest.hold import Gate
from turnpoint.ingest.publisher import SERVICE, Publisher
from turnpoint.ingest.spool import Spool

log = get_logger("turnpoint.ingest.reliable")


class ReliableSender:
    def __init__(self, kafka: KafkaSettings, spool: Spool, message_timeout_ms: int = 10000,
                 publisher: Publisher | None = None, gate: Gate | None = None) -> None:
        self.kafka = kafka
        self.gate = gate or Gate()
        self.spool = spool
        self.spooling = spool.pending()  # leftovers from a previous run are replayed first
        self._replay_lock = threading.Lock()
        self._producer_overrides: dict[str, Any] = {"message.timeout.ms": message_timeout_ms, "error_cb": self._on_error}
        self.publisher = publisher or Publisher(kafka, **self._producer_overrides)
        self.sent = 0

    # -- sending -------------------------------------------------------------------------------------
    def send(self, spec: TopicSpec, key: str, items: Sequence[dict[str, Any]]) -> None:
        self.send_value(self.publisher.topic(spec), key, encode_items(items), len(items))
        metrics.RECORDS.labels("live", spec.name).inc(len(items))

    def dead_letter(self, spec: TopicSpec, reason: str, detail: str, payload: bytes | str,
                    key: str | None = None) -> None:
        record = dead_letter_record(reason=reason, detail=detail, service=SERVICE, payload=payload, key=key)
        topic = self.publisher.dead_letter_topic(spec)
        self.send_value(topic, key, record.value, 0, record.headers)
        metrics.DEAD_LETTERS.labels(topic).inc()

    def send_value(self, topic: str, key: str | None, value: bytes, n_items: int = 1,
                   headers: Headers | None = None) -> None:
        """Send one message, or spool it (the spool keeps key and value; a dead letter's value has its context)."""
        with self.spool.lock:
            if self.spooling or not self.gate.enter():
                self.spooling = True  # held: later records follow this one through the spool, in order
                self.spool.append(topic, key, value)
                metrics.SPOOLED.inc()
                return
        try:
            self.publisher.produce_raw(topic, key, value, n_items, self._on_delivery, headers)
            self.sent += 1
        finally:
            self.gate.leave()

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            return
        with self.spool.lock:
            if not self.spooling:
                log.warning("delivery failed; spooling until Kafka answers", error=str(err), topic=msg.topic())
            self.spooling = True
            self.spool.append(msg.topic() or "", msg.key(), msg.value() or b"")
            metrics.SPOOLED.inc()

    def _on_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            with self.spool.lock:
                if not self.spooling:
                    log.warning("all brokers down; spooling", error=str(err))
                self.spooling = True

    # -- replay --------------------------------------------------------------------------------------
    def _broker_ready(self) -> bool:
        prefixed = topics.Names(self.kafka.topic_prefix)
        names = [prefixed.topic(t) for t in topics.INPUTS]
        names += [prefixed.dead_letter(t) for t in topics.INPUTS if t.dead_letter]
        try:
            ensure_topics(self.kafka, names, timeout=3.0)
        except KafkaException:
            return False
        return True

    def replay(self, timeout: float = 30.0) -> bool:
        """Send spooled segments in order; True when the spool is empty and direct sending resumed."""
        with self._replay_lock:
            if not self.spooling and not self.spool.pending():
                return True
            if self.gate.held or not self._broker_ready():
                return False
            while True:
                with self.spool.lock:
                    if self.spool.is_empty_locked():
                        self.spooling = False
                        log.info("spool drained; sending directly again")
                        return True
                    self.spool.rotate()
                for segment in self.spool.segments():
                    with self.gate.passage() as open_:
                        if not open_ or not self._replay_segment(segment, timeout):
                            return False
                        self.spool.mark_replayed(segment)
                self.spool.cleanup()

    def _replay_segment(self, segment: Any, timeout: float) -> bool:
        failures: list[str] = []

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(str(err))

        n = 0
        for topic, key, value in Spool.read(segment):
            self.publisher.produce_raw(topic, key, value, 0, on_delivery)
            n += 1
        left = self.publisher.flush(timeout)
        if left or failures:
            log.warning("replay incomplete; will retry", segment=str(segment), in_flight=left,
                        failures=len(failures), error=failures[0] if failures else None)
            if failures and not left:
                self._new_producer()
            return False
        metrics.REPLAYED.inc(n)
        log.info("spool segment replayed", segment=segment.name, messages=n)
        return True

    def renew_producer(self) -> None:
        """A new producer for a new broker (after a hold): the old one's idempotence state is the old broker's."""
        self.publisher.renew()

    def _new_producer(self) -> None:
        """Replace the producer after failed deliveries: every later send through it would fail the same way."""
        self.publisher.renew(flush_timeout=None)
        log.info("new Kafka producer for the replay")

    def flush(self, timeout: float = 10.0) -> int:
        left = self.publisher.flush(timeout)
        self.spool.sync()
        return left

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        self.spool.close()
