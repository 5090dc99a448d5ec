"""The transform's processing core, free of Faust: batches of messages in, output records out.

The Faust agents (app.py) feed it batches of events and a state store backed by a changelogged table;
tests feed it plain lists and a dict. Every bad record becomes a dead letter with its reason and origin;
nothing raises out of `process`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import orjson
from pydantic import TypeAdapter, ValidationError

from turnpoint.core import topics
from turnpoint.core.errors import InvalidRecord
from turnpoint.core.kafka import dead_letter_value
from turnpoint.core.serde import raw_items

SERVICE = "transform"
M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class InMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class Outbox:
    """Records to publish, by topic: (key, value) pairs, in the order they must appear."""

    records: dict[str, list[tuple[bytes, bytes]]] = field(default_factory=lambda: defaultdict(list))
    dead: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, topic: str, key: str, items: list[dict[str, Any]]) -> None:
        if items:
            self.records[topic].append((key.encode(), orjson.dumps({"v": 1, "items": items})))

    def dead_letter(self, topic: str, msg: InMessage, reason: str, detail: str, payload: bytes | None = None) -> None:
        value = dead_letter_value(
            reason=reason, detail=detail, service=SERVICE, payload=msg.value if payload is None else payload,
            source_topic=msg.topic, partition=msg.partition, offset=msg.offset, key=msg.key,
        )
        self.records[topic].append((msg.key or b"", value))
        self.dead[reason] += 1

    def count(self, topic: str) -> int:
        return len(self.records.get(topic, ()))


class StateStore(Protocol):
    """Per-key state as bytes; `put` also names the partition whose changelog records the change."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes, partition: int) -> None: ...


class DictStore:
    """An in-memory store for tests and batch runs."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def put(self, key: str, value: bytes, partition: int) -> None:
        self.data[key] = value


@dataclass(frozen=True)
class TopicNames:
    """Full topic names for one deployment (prefix applied)."""

    prefix: str = ""

    def __getattr__(self, name: str) -> str:
        spec = getattr(topics, name.upper())
        return str(spec.full_name(self.prefix))

    def dlq(self, spec: topics.TopicSpec) -> str:
        assert spec.dead_letter is not None
        return f"{self.prefix}{spec.dead_letter}"


def decode(msg: InMessage, out: Outbox, dlq: str) -> list[dict[str, Any]] | None:
    """The envelope's raw items, or None after dead-lettering an unreadable message."""
    try:
        return raw_items(msg.value)
    except InvalidRecord as exc:
        out.dead_letter(dlq, msg, exc.reason, exc.detail)
        return None


def valid_items(msg: InMessage, out: Outbox, dlq: str, adapter: TypeAdapter[M]) -> list[M]:
    """Every item of the message's envelope that `adapter` accepts; the others dead-lettered one by one.

    An unreadable envelope is dead-lettered whole (and yields nothing).
    """
    items = decode(msg, out, dlq)
    return [] if items is None else validate_each(msg, items, out, dlq, adapter)


def validate_each(msg: InMessage, items: list[Any], out: Outbox, dlq: str, adapter: TypeAdapter[M]) -> list[M]:
    valid: list[M] = []
    for raw in items:
        try:
            valid.append(adapter.validate_python(raw))
        except ValidationError as exc:
            out.dead_letter(dlq, msg, "invalid", first_error(exc), orjson.dumps(raw))
    return valid


def first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    return f"{'.'.join(str(p) for p in e['loc']) or 'item'}: {e['msg']}"


def group_by_key(pairs: Iterable[tuple[str, Any]]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = defaultdict(list)
    for key, item in pairs:
        grouped[key].append(item)
    return grouped
