"""Dead letters: a record that could not be processed, kept with why and where it came from.

The value is a `DeadLetter` envelope holding the original bytes (UTF-8 text, or base64 when binary); the
original key is the record's key; reason, detail, service and the source topic/partition/offset are also
record headers, as Kafka Connect's dead-letter queue keeps them (`turnpoint.dlq.*` instead of
`__connect.errors.*`). A dead letter always fits: when the original is too large to be produced, the
payload keeps its first bytes with `truncated: true` and `original_size`, so a hostile record can never
make its own dead letter fail.

`DeadLetters` sends them through one producer and retries failed deliveries until the broker took them,
for a bounded time, before the caller commits the offsets that skip the originals.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import orjson

from turnpoint.core.contracts import DeadLetter, utcnow
from turnpoint.core.errors import InfrastructureUnavailable
from turnpoint.core.produce import ENVELOPE_MAX_BYTES, Headers, produce

HEADER = "turnpoint.dlq."
MAX_KEY_BYTES = 1024
MAX_DETAIL_CHARS = 2000


class DeadLetterUndelivered(InfrastructureUnavailable):
    """The broker did not take a dead letter within the retry budget; the originals' offsets stay uncommitted."""


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    key: bytes | None
    value: bytes
    headers: Headers


def _text(value: bytes | str | None) -> bytes:
    return value if isinstance(value, bytes) else (value or "").encode()


def dead_letter_record(
    *, reason: str, detail: str, service: str, payload: bytes | str | None,
    source_topic: str | None = None, partition: int | None = None, offset: int | None = None,
    key: bytes | str | None = None, max_bytes: int = ENVELOPE_MAX_BYTES,
) -> DeadLetterRecord:
    """The dead letter of one record: at most `max_bytes` of value, whatever the size of the original."""
    raw = _text(payload)
    raw_key = _text(key) if key is not None else None
    if raw_key is not None and len(raw_key) > MAX_KEY_BYTES:
        raw_key = raw_key[:MAX_KEY_BYTES]
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[:MAX_DETAIL_CHARS] + "…"
    headers: Headers = [
        (HEADER + "reason", reason.encode()), (HEADER + "detail", detail.encode()),
        (HEADER + "service", service.encode()), (HEADER + "original.size", str(len(raw)).encode()),
    ]
    if source_topic is not None:
        headers.append((HEADER + "topic", source_topic.encode()))
    if partition is not None:
        headers.append((HEADER + "partition", str(partition).encode()))
    if offset is not None:
        headers.append((HEADER + "offset", str(offset).encode()))
    try:
        text: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    text_key = raw_key.decode("utf-8", "replace") if raw_key is not None else None
    at = utcnow()

    def envelope(n: int) -> bytes:
        """The envelope keeping the first `n` characters (text) or bytes (binary) of the original."""
        if text is not None:
            kept, enc = text[:n], "utf-8"
        else:
            kept, enc = base64.b64encode(raw[:n]).decode("ascii"), "base64"
        whole = n >= (len(text) if text is not None else len(raw))
        item = DeadLetter.model_construct(
            reason=reason, detail=detail, service=service, source_topic=source_topic, partition=partition,
            offset=offset, key=text_key, at=at, payload=kept, payload_encoding=enc, truncated=not whole,
            original_size=len(raw),
        )
        return orjson.dumps({"v": 1, "items": [item.model_dump(mode="json")]})

    full = len(text) if text is not None else len(raw)
    value = envelope(full)
    n = full
    while len(value) > max_bytes and n > 0:  # shrink in proportion (escapes can make JSON ~6x the text)
        n = max(0, min(n - 1, int(n * (max_bytes - 4096) / len(value))))
        value = envelope(n)
    headers.append((HEADER + "truncated", b"true" if n < full else b"false"))
    return DeadLetterRecord(raw_key, value, headers)


class DeadLetters:
    """Dead letters of one service through one producer; `flush` retries failed deliveries."""

    def __init__(self, producer: Any, service: str, *, retry_s: float = 60.0, backoff_s: float = 0.5) -> None:
        self.producer = producer
        self.service = service
        self.retry_s = retry_s
        self.backoff_s = backoff_s
        self.sent = 0
        self._failed: list[tuple[str, DeadLetterRecord]] = []

    def send(self, topic: str, **fields: Any) -> DeadLetterRecord:
        """Queue the dead letter of one record (fields as for `dead_letter_record`, service excepted)."""
        record = dead_letter_record(service=self.service, **fields)
        self._produce(topic, record)
        return record

    def _produce(self, topic: str, record: DeadLetterRecord) -> None:
        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                self._failed.append((topic, record))

        produce(self.producer, topic, record.value, record.key, headers=record.headers, on_delivery=delivered)
        self.sent += 1

    def flush(self, timeout: float | None = None) -> None:
        """Wait until the broker took every dead letter, producing failed ones again with backoff.

        Raises `DeadLetterUndelivered` after `timeout` (default `retry_s`): the caller then keeps the
        originals' offsets uncommitted and retries later, instead of crashing.
        """
        deadline = time.monotonic() + (self.retry_s if timeout is None else timeout)
        delay = self.backoff_s
        while True:
            left = self.producer.flush(max(0.1, deadline - time.monotonic()))
            if not left and not self._failed:
                return
            if time.monotonic() >= deadline:
                n = left + len(self._failed)
                msg = f"{n} dead letters not acknowledged by the broker"
                raise DeadLetterUndelivered(msg)
            failed, self._failed = self._failed, []
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 5.0)
            for topic, record in failed:
                self._produce(topic, record)
