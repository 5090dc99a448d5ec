"""The Kafka edge kit of turnpoint.core: produce, envelopes, dead letters, checkpoints, librdkafka logs."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
import pytest
from confluent_kafka import KafkaException

from turnpoint.core import topics
from turnpoint.core.checkpoint import Checkpoint, CommitFailed, ProducerFlushFailed, SinkFlushFailed
from turnpoint.core.contracts import DeadLetter
from turnpoint.core.deadletter import DeadLetters, DeadLetterUndelivered, dead_letter_record
from turnpoint.core.kafka import make_producer
from turnpoint.core.kafkalog import Deduplicate
from turnpoint.core.produce import ENVELOPE_MAX_BYTES, ProduceTimeout, envelopes, produce
from turnpoint.core.serde import encode_items
from turnpoint.core.settings import KafkaSettings


class FakeMessage:
    def __init__(self, topic: str, key: Any, value: Any, headers: Any) -> None:
        self._topic, self._key, self._value, self._headers = topic, key, value, headers

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def value(self) -> Any:
        return self._value

    def headers(self) -> Any:
        return self._headers


class FakeProducer:
    """librdkafka's producer as far as the kit uses it: a queue that can be full, deliveries that can fail."""

    def __init__(self, full_for: int = 0, fail_first: int = 0) -> None:
        self.full_for = full_for  # produce calls answered with BufferError
        self.fail_first = fail_first  # deliveries reported as failed
        self.queued: list[tuple[FakeMessage, Any]] = []
        self.delivered: list[FakeMessage] = []
        self.polls = 0
        self.calls: list[str] = []

    def produce(self, topic: str, key: Any = None, value: Any = None, headers: Any = None,
                on_delivery: Any = None, partition: int | None = None) -> None:
        if self.full_for > 0:
            self.full_for -= 1
            msg = "Local: Queue full"
            raise BufferError(msg)
        self.queued.append((FakeMessage(topic, key, value, headers), on_delivery))

    def poll(self, timeout: float = 0) -> int:
        self.polls += 1
        return self._deliver()

    def flush(self, timeout: float = 0) -> int:
        self.calls.append("producer.flush")
        self._deliver()
        return 0

    def _deliver(self) -> int:
        queued, self.queued = self.queued, []
        for msg, cb in queued:
            err = None
            if self.fail_first > 0:
                self.fail_first -= 1
                err = "Broker: Request timed out"
            else:
                self.delivered.append(msg)
            if cb is not None:
                cb(err, msg)
        return len(queued)


# ---------------------------------------------------------------------------------------------- produce


def test_produce_waits_for_queue_space_and_serves_deliveries_meanwhile() -> None:
    producer = FakeProducer(full_for=3)
    produce(producer, "t", b"v", b"k")
    assert producer.polls == 3
    producer.flush()
    assert [m.value() for m in producer.delivered] == [b"v"]


def test_produce_gives_up_with_produce_timeout_when_the_queue_stays_full() -> None:
    producer = FakeProducer(full_for=10**9)
    started = time.monotonic()
    with pytest.raises(ProduceTimeout, match="queue full"):
        produce(producer, "t", b"v", max_wait_s=0.2)
    assert time.monotonic() - started < 5


# -------------------------------------------------------------------------------------------- envelopes


def test_envelopes_is_one_encode_items_envelope_when_the_items_fit() -> None:
    items = [{"symbol": "A", "n": i} for i in range(10)]
    assert envelopes(items) == [encode_items(items)]


def test_envelopes_split_large_outputs_below_the_limit_in_order() -> None:
    items = [{"symbol": "A", "n": i, "pad": "x" * 100} for i in range(30_000)]
    chunks = envelopes(items, max_bytes=100_000)
    assert len(chunks) > 30
    assert all(len(c) <= 100_000 for c in chunks)
    decoded = [item for c in chunks for item in orjson.loads(c)["items"]]
    assert decoded == items
    assert all(orjson.loads(c)["v"] == 1 for c in chunks)


# ----------------------------------------------------------------------------------------- dead letters


def _letter(value: bytes) -> DeadLetter:
    doc = orjson.loads(value)
    assert doc["v"] == 1
    return DeadLetter.model_validate(doc["items"][0])


def test_a_small_dead_letter_keeps_the_original_bytes_and_names_its_origin_in_headers() -> None:
    rec = dead_letter_record(reason="invalid", detail="close: bad", service="transform", payload=b'{"a":1}',
                             source_topic="turnpoint.bars.v1", partition=3, offset=42, key=b"AAPL")
    letter = _letter(rec.value)
    assert (letter.payload, letter.payload_encoding, letter.truncated) == ('{"a":1}', "utf-8", False)
    assert letter.original_size == 7 and letter.key == "AAPL" and letter.offset == 42
    assert rec.key == b"AAPL"
    headers = dict(rec.headers)
    assert headers["turnpoint.dlq.reason"] == b"invalid"
    assert headers["turnpoint.dlq.service"] == b"transform"
    assert headers["turnpoint.dlq.topic"] == b"turnpoint.bars.v1"
    assert (headers["turnpoint.dlq.partition"], headers["turnpoint.dlq.offset"]) == (b"3", b"42")
    assert headers["turnpoint.dlq.truncated"] == b"false"


@pytest.mark.parametrize("payload", [
    b"x" * 6_500_000,  # a raw 6.5 MB message
    b'"' * 450_000 + b"\x00",  # JSON escaping doubles every quote
    bytes(range(256)) * 8000,  # binary: base64 grows it by a third
    b"\x01" * 900_000,  # control characters: \u0001 is six bytes each
])
def test_a_dead_letter_always_fits_and_says_it_was_truncated(payload: bytes) -> None:
    rec = dead_letter_record(reason="too-large", detail="d" * 50_000, service="loader", payload=payload,
                             key=b"k" * 100_000)
    assert len(rec.value) <= ENVELOPE_MAX_BYTES
    assert len(rec.value) > ENVELOPE_MAX_BYTES // 3  # and it keeps most of what fits
    assert rec.key is not None and len(rec.key) <= 1024
    letter = _letter(rec.value)
    assert letter.truncated and letter.original_size == len(payload)
    kept = letter.payload.encode() if letter.payload_encoding == "utf-8" else None
    if kept is not None:
        assert payload.startswith(kept)
    assert dict(rec.headers)["turnpoint.dlq.truncated"] == b"true"


def test_dead_letters_produce_failed_deliveries_again_until_the_broker_takes_them() -> None:
    producer = FakeProducer(fail_first=2)
    dead = DeadLetters(producer, "loader", backoff_s=0.01)
    dead.send("dlq", reason="invalid", detail="x", payload=b"p")
    dead.flush(timeout=5)
    assert [_letter(m.value()).payload for m in producer.delivered] == ["p"]


def test_dead_letters_raise_by_name_when_the_broker_never_takes_them() -> None:
    producer = FakeProducer(fail_first=10**9)
    dead = DeadLetters(producer, "loader", backoff_s=0.01)
    dead.send("dlq", reason="invalid", detail="x", payload=b"p")
    with pytest.raises(DeadLetterUndelivered):
        dead.flush(timeout=0.3)


# ---------------------------------------------------------------------------------------------- topics


def test_the_catalogue_resolves_prefixed_names_dead_letter_topics_included() -> None:
    names = topics.Names("t.")
    assert names.topic(topics.BARS) == "t.turnpoint.bars.v1"
    assert names.dead_letter(topics.READINGS) == "t.turnpoint.dlq.readings.v1"
    assert names.topic(topics.MODEL_DLQ) == "t.turnpoint.dlq.predictions.v1"
    assert names.base("t.turnpoint.bars.v1") == "turnpoint.bars.v1"
    assert "t.turnpoint.dlq.predictions.v1" in names.dead_letters()
    with pytest.raises(ValueError, match="no dead-letter topic"):
        names.dead_letter(topics.PRICES)


# ------------------------------------------------------------------------------------------ checkpoint


class FakeConsumer:
    def __init__(self, calls: list[str], refuse: bool = False) -> None:
        self.calls, self.refuse = calls, refuse
        self.committed: list[tuple[str, int, int]] = []

    def commit(self, offsets: Any, asynchronous: bool) -> list[Any]:
        self.calls.append("consumer.commit")
        if self.refuse:
            msg = "REBALANCE_IN_PROGRESS"
            raise KafkaException(msg)
        self.committed += [(tp.topic, tp.partition, tp.offset) for tp in offsets]
        return list(offsets)


def test_checkpoint_flushes_sinks_then_the_producer_then_commits_the_next_offsets() -> None:
    producer = FakeProducer()
    consumer = FakeConsumer(producer.calls)
    cp = Checkpoint(consumer, producer, service="test")
    cp.track("a", 0, 5)
    cp.track("a", 0, 3)
    cp.track("b", 1, 0)
    cp.commit([("db", lambda: producer.calls.append("db.flush"))])
    assert producer.calls == ["db.flush", "producer.flush", "consumer.commit"]
    assert sorted(consumer.committed) == [("a", 0, 6), ("b", 1, 1)]
    assert cp.empty


def test_checkpoint_commits_nothing_after_a_failed_step_and_names_it() -> None:
    producer = FakeProducer()
    consumer = FakeConsumer(producer.calls)
    cp = Checkpoint(consumer, producer, service="test")
    cp.track("a", 0, 5)

    def broken() -> None:
        msg = "disk full"
        raise OSError(msg)

    with pytest.raises(SinkFlushFailed, match="disk full"):
        cp.commit([("file", broken)])
    produce(producer, "out", b"v", on_delivery=cp.deliveries)
    producer.fail_first = 1
    with pytest.raises(ProducerFlushFailed, match="Request timed out"):
        cp.commit()
    assert consumer.committed == [] and not cp.empty
    consumer.refuse = True
    with pytest.raises(CommitFailed, match=r"a\[0\]@6") as failed:
        cp.commit()
    assert consumer.committed == [] and [(f.topic, f.partition) for f in failed.value.failures] == [("a", 0)]


# -------------------------------------------------------------------------------------- librdkafka logs


def test_repeated_lines_that_differ_only_in_numbers_are_shown_once_per_window() -> None:
    dedup = Deduplicate(window_s=3600)
    records = [logging.LogRecord("x", logging.ERROR, "", 0, f"Connect to 127.0.0.1:{i} failed after {i}ms",
                                 None, None) for i in range(100)]
    assert sum(dedup.filter(r) for r in records) == 1
    other = logging.LogRecord("x", logging.ERROR, "", 0, "another line", None, None)
    assert dedup.filter(other)


def test_an_unreachable_broker_logs_through_python_logging_not_raw_librdkafka_lines(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    producer = make_producer(KafkaSettings(bootstrap_servers="127.0.0.1:1"), **{"reconnect.backoff.ms": 10,
                                                                                  "reconnect.backoff.max.ms": 20})
    with caplog.at_level(logging.WARNING, logger="turnpoint.librdkafka"):
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            producer.poll(0.1)
    raw = capfd.readouterr().err
    assert "%3|" not in raw and "%4|" not in raw
    lines = [r for r in caplog.records if r.name == "turnpoint.librdkafka"]
    assert 1 <= len(lines) <= 5, [r.getMessage() for r in lines]
    assert all(r.levelno >= logging.WARNING for r in lines)
