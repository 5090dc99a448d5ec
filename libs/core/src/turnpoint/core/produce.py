"""One way to hand records to librdkafka: back-pressure, message size and delivery accounting.

Every service produces through `produce`: when librdkafka's local queue is full (`BufferError`) it serves
delivery reports with `poll` and tries again, the shape of confluent-kafka-python's examples/producer.py,
for at most `max_wait_s`; then it raises `ProduceTimeout` (the broker is not taking records: callers
retry from their last commit). `envelopes` splits the items of one key into envelopes that fit below
the size the producer and the broker accept, so no output can be too large to publish.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
from pydantic import BaseModel

from turnpoint.core.contracts import SCHEMA_VERSION
from turnpoint.core.errors import InfrastructureUnavailable

# librdkafka's default message.max.bytes (1,000,000) is below Apache Kafka's broker default (1,048,588):
# a record of at most this many bytes (value, key and headers) passes both.
MESSAGE_MAX_BYTES = 1_000_000
# what an envelope (the record's value) may take, leaving room for the key, headers and record overhead
ENVELOPE_MAX_BYTES = 900_000
MAX_WAIT_S = 60.0
POLL_S = 0.05

Headers = list[tuple[str, bytes]]
DeliveryCallback = Callable[[Any, Any], None]


class ProduceTimeout(InfrastructureUnavailable):
    """librdkafka's queue stayed full for `max_wait_s`: the broker is not taking records."""


def produce(
    producer: Any, topic: str, value: bytes | None, key: bytes | str | None = None, *,
    partition: int | None = None, headers: Headers | None = None, on_delivery: DeliveryCallback | None = None,
    max_wait_s: float = MAX_WAIT_S,
) -> None:
    """Queue one record; while the local queue is full, serve delivery reports and retry (up to `max_wait_s`)."""
    kwargs: dict[str, Any] = {"key": key, "value": value}
    if partition is not None:
        kwargs["partition"] = partition
    if headers:
        kwargs["headers"] = headers
    if on_delivery is not None:
        kwargs["on_delivery"] = on_delivery
    deadline: float | None = None
    while True:
        try:
            producer.produce(topic, **kwargs)
            return
        except BufferError:
            now = time.monotonic()
            if deadline is None:
                deadline = now + max_wait_s
            elif now >= deadline:
                msg = f"producer queue full for {max_wait_s:.0f}s on {topic}; the broker is not taking records"
                raise ProduceTimeout(msg) from None
            producer.poll(POLL_S)


class Deliveries:
    """Delivery reports of one producer: what failed since the last `check` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failures: list[str] = []
        self.failed = 0

    def __call__(self, err: Any, msg: Any) -> None:
        if err is not None:
            with self._lock:
                self.failed += 1
                if len(self.failures) < 3:
                    where = f"{msg.topic()}[{msg.partition()}]: " if msg is not None else ""
                    self.failures.append(f"{where}{err}")

    def take(self) -> tuple[int, list[str]]:
        """How many deliveries failed since the last call, with up to three of them described."""
        with self._lock:
            failed, failures = self.failed, self.failures
            self.failed, self.failures = 0, []
        return failed, failures


def envelopes(items: Sequence[BaseModel | dict[str, Any]], max_bytes: int = ENVELOPE_MAX_BYTES) -> list[bytes]:
    """The items (of one key) as envelopes `{"v": 1, "items": [...]}` of at most `max_bytes` each, in order.

    One envelope when they fit (the common case costs one `orjson.dumps`); otherwise consecutive runs of
    items. An item larger than `max_bytes` on its own gets an envelope of its own (`oversized` finds it).
    """
    out = [i.model_dump(mode="json") if isinstance(i, BaseModel) else i for i in items]
    whole = orjson.dumps({"v": SCHEMA_VERSION, "items": out})
    if len(whole) <= max_bytes:
        return [whole]
    head = b'{"v":%d,"items":[' % SCHEMA_VERSION
    budget = max_bytes - len(head) - 2
    chunks: list[bytes] = []
    run: list[bytes] = []
    size = 0
    for part in map(orjson.dumps, out):
        if run and size + 1 + len(part) > budget:
            chunks.append(head + b",".join(run) + b"]}")
            run, size = [], 0
        size += len(part) + (1 if run else 0)
        run.append(part)
    if run:
        chunks.append(head + b",".join(run) + b"]}")
    return chunks


def oversized(values: Iterable[bytes], max_bytes: int = ENVELOPE_MAX_BYTES) -> list[int]:
    """Indexes of the values larger than `max_bytes`."""
    return [i for i, v in enumerate(values) if len(v) > max_bytes]
