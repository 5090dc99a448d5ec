"""The transform's processing core, free of Faust: batches of messages in, output records out.

The Faust agents (app.py) feed it batches of events and a state store backed by a changelogged table;
tests feed it plain lists and a dict. Every bad record becomes a dead letter with its reason and origin;
nothing raises out of `process`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

import orjson
from pydantic import TypeAdapter, ValidationError

from turnpoint.core import topics
from turnpoint.core.deadletter import dead_letter_record
from turnpoint.core.errors import InvalidRecord
from turnpoint.core.produce import Headers, envelopes
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
    """Records to publish, by topic: (key, value) pairs, in the order they must appear.

    Values always fit: the items of one key are split into envelopes below the producer's and the
    broker's limit (`turnpoint.core.produce.envelopes`), and dead letters are cut to fit. `headers` holds
    the headers of a record by (topic, index), for dead letters.
    """

    records: dict[str, list[tuple[bytes, bytes]]] = field(default_factory=lambda: defaultdict(list))
    dead: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    headers: dict[tuple[str, int], Headers] = field(default_factory=dict)

    def add(self, topic: str, key: str, items: Sequence[Mapping[str, Any]]) -> None:
        if items:
            k = key.encode()
            # the records are TypedDicts (LegRecord, StatRecord...), i.e. plain dicts at run time, as orjson needs
            self.records[topic] += [(k, value) for value in envelopes(cast("Sequence[dict[str, Any]]", items))]

    def dead_letter(self, topic: str, msg: InMessage, reason: str, detail: str, payload: bytes | None = None) -> None:
        record = dead_letter_record(
            reason=reason, detail=detail, service=SERVICE, payload=msg.value if payload is None else payload,
            source_topic=msg.topic, partition=msg.partition, offset=msg.offset, key=msg.key,
        )
        records = self.records[topic]
        self.headers[(topic, len(records))] = record.headers
        records.append((record.key or b"", record.value))
        self.dead[reason] += 1

    def merge(self, other: Outbox) -> None:
        """Append `other`'s records after this outbox's own, in order."""
        for topic, records in other.records.items():
            mine = self.records[topic]
            for i, record in enumerate(records):
                headers = other.headers.get((topic, i))
                if headers is not None:
                    self.headers[(topic, len(mine))] = headers
                mine.append(record)
        for reason, n in other.dead.items():
            self.dead[reason] += n

    def count(self, topic: str) -> int:
        return len(self.records.get(topic, ()))


def failure(exc: BaseException) -> str:
    """The detail of a `processing-failed` dead letter."""
    return f"{type(exc).__name__}: {exc}"[:1000]


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
        return topics.Names(self.prefix).dead_letter(spec)


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
