"""A batch: the messages consumed since the last flush, decoded into per-table upserts and deletions.

Within a batch, the last item for a key wins (a later revision replaces an earlier one, a tombstone
removes an earlier upsert and vice versa), which is exactly the state that applying the items one by
one would leave. Every row remembers where it came from, so that a row the database rejects can be
dead-lettered with its topic, partition and offset. An item whose event time is after the clock plus the
allowed skew (`TableSpec.event_time`, SPEC 2) is a dead letter `future`, never a row.

A table under the allowed lateness (`TableSpec.horizon`: readings) also keeps its rows in arrival order:
which of them are late depends on the newest row stored before the batch, so the writer applies
`TableBatch.within` to them, with the database at hand, before the last item per key is taken.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from turnpoint.core.errors import InvalidRecord
from turnpoint.core.lateness import Horizons
from turnpoint.core.serde import raw_items
from turnpoint.core.skew import FUTURE, FutureSkew
from turnpoint.loader.tables import BadItem, Row, TableSpec


class Message(Protocol):
    """The part of confluent_kafka.Message the loader uses (tests build plain objects)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def error(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message or item that will go to the dead-letter topic."""

    reason: str
    detail: str
    message: Message
    payload: bytes  # the original message value, or the single rejected item re-encoded


Origin = tuple[int, int]  # (index of the message in the batch, index of the item in the message)


@dataclass(slots=True)
class TableBatch:
    spec: TableSpec
    # key -> (row or None for a deletion, origin)
    ops: dict[tuple[Any, ...], tuple[Row | None, Origin]] = field(default_factory=dict)
    # every row in arrival order, for a table under the allowed lateness (spec.horizon); else None
    arrivals: list[tuple[Row, Origin]] | None = None

    def series(self) -> list[str]:
        """The distinct series of the rows kept in arrival order."""
        assert self.arrivals is not None and self.spec.horizon_index is not None
        at = self.spec.horizon_index[0]
        return list({row[at]: None for row, _ in self.arrivals})

    def within(self, horizons: Horizons) -> tuple[TableBatch, int]:
        """This table's batch without the rows `horizons` finds late, judged in arrival order (the transform
        judges each series in the same order: one series is one key is one partition), and how many were
        late. A new batch: a write that is retried judges again from the database's state then."""
        assert self.arrivals is not None and self.spec.horizon_index is not None
        at_series, at_ts = self.spec.horizon_index
        key_of = self.spec.key_of
        kept = TableBatch(self.spec)
        ops = kept.ops
        offer = horizons.offer
        late = 0
        for row, origin in self.arrivals:
            if offer(row[at_series], row[at_ts]) is None:
                ops[key_of(row)] = (row, origin)
            else:
                late += 1
        return kept, late

    def upserts(self) -> tuple[list[Row], list[Origin]]:
        rows, origins = [], []
        for row, origin in self.ops.values():
            if row is not None:
                rows.append(row)
                origins.append(origin)
        return rows, origins

    def deletions(self) -> tuple[list[tuple[Any, ...]], list[Origin]]:
        keys, origins = [], []
        for key, (row, origin) in self.ops.items():
            if row is None:
                keys.append(key)
                origins.append(origin)
        return keys, origins


@dataclass(slots=True)
class Batch:
    """Messages decoded so far, grouped by table; `rejected` holds what failed to decode."""

    tables_by_topic: dict[str, TableSpec]
    skew: FutureSkew | None = None  # None: no clock rule (tools that load files)
    messages: list[Message] = field(default_factory=list)
    tables: dict[str, TableBatch] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    items: int = 0
    # (topic, partition) -> offset of the last message seen: commit offset + 1 after the flush
    positions: dict[tuple[str, int], int] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.items

    def add(self, msg: Message, topic_name: str) -> None:
        """Decode one message (topic_name without the deployment's prefix) into the batch."""
        index = len(self.messages)
        self.messages.append(msg)
        self.positions[(msg.topic() or "", msg.partition() or 0)] = msg.offset() or 0
        spec = self.tables_by_topic.get(topic_name)
        value = msg.value()
        if spec is None:
            self.rejected.append(Rejected("unknown-topic", f"the loader has no table for {topic_name}", msg, value or b""))
            return
        try:
            items = raw_items(value)
        except InvalidRecord as exc:
            self.rejected.append(Rejected(exc.reason, exc.detail, msg, value or b""))
            return
        tb = self.tables.get(spec.name)
        if tb is None:
            tb = self.tables[spec.name] = TableBatch(spec, arrivals=None if spec.horizon is None else [])
        ops = tb.ops
        arrivals = tb.arrivals
        convert: Callable[[dict[str, Any]], Row] = spec.convert
        key_of = spec.key_of
        is_delete = spec.is_delete
        event = spec.event_index or 0
        latest: Any = None  # a date or an instant; None: no clock rule for this table
        if spec.event_index is not None and self.skew is not None:
            bound = self.skew.bound()
            latest = bound.latest if spec.columns[event].pgtype == "timestamptz" else bound.latest_date
        added = 0
        # the hot loop (a few µs per item matter at 10⁵ rows/s): no per-item attribute lookups or closures
        for j, item in enumerate(items):
            try:
                if type(item) is not dict:
                    text = f"an item must be a JSON object, got {type(item).__name__}"
                    raise BadItem(text)
                row = convert(item)
            except BadItem as exc:
                detail = f"item {j}: {exc}"
                self.rejected.append(Rejected("invalid", detail, msg, orjson.dumps(item)))
                continue
            if latest is not None and row[event] > latest:
                detail = (f"item {j}: {spec.event_time} {row[event].isoformat()} is after {latest.isoformat()} "
                          "(the clock plus the allowed skew)")
                self.rejected.append(Rejected(FUTURE, detail, msg, orjson.dumps(item)))
                continue
            if is_delete is not None and is_delete(item):
                ops[key_of(row)] = (None, (index, j))
            else:
                ops[key_of(row)] = (row, (index, j))
                if arrivals is not None:
                    arrivals.append((row, (index, j)))
            added += 1
        self.items += added

    def item_payload(self, origin: Origin) -> bytes:
        """The JSON of one item of the batch, for the dead-letter topic."""
        msg = self.messages[origin[0]]
        return orjson.dumps(raw_items(msg.value())[origin[1]])

    def drop_partitions(self, revoked: set[tuple[str, int]], topic_name: Callable[[str], str]) -> Batch:
        """A new batch without the messages of revoked partitions (their new owner re-reads them)."""
        return _rebuilt(self, self.messages, topic_name, revoked)

    def followed_by(self, later: Batch, topic_name: Callable[[str], str]) -> Batch:
        """One batch of this batch's messages, then `later`'s (a failed write retried with what came since)."""
        if not later.messages:
            return self
        return _rebuilt(self, [*self.messages, *later.messages], topic_name, set())


def _rebuilt(like: Batch, messages: list[Message], topic_name: Callable[[str], str],
             without: set[tuple[str, int]]) -> Batch:
    fresh = Batch(like.tables_by_topic, like.skew)
    for msg in messages:
        if (msg.topic() or "", msg.partition() or 0) not in without:
            fresh.add(msg, topic_name(msg.topic() or ""))
    return fresh
