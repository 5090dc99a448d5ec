"""The processors' state store over a Faust table: writes go straight to the table's data, plus one
changelog record per key per batch, closed by a sentinel record per partition.

Faust's own `table[key] = v` needs a current event, which batching (`take_events`) does not have, and
would write the changelog once per event.

The sentinel of a partition carries the next input offset whose effects the state does not hold yet.
A worker that takes the partition over recovers it with the state, and so skips the input messages
between the group's last commit and that offset: their outputs were published and their effects are
in the recovered state. Without it they would be applied twice, and readings older than the allowed
lateness behind the recovered newest reading would be dead-lettered as `late`.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, Protocol

from turnpoint.transform import faust_internals

# Closes every changelog flush in a record batch of its own (see TableStore.write_changelog).
SENTINEL_KEY = b"\x00turnpoint:end"


def sentinel_key(partition: int) -> bytes:
    return SENTINEL_KEY + b":%d" % partition


class ChangelogSink(Protocol):
    """What the store needs of a producer: queue a record, wait until all queued ones were acknowledged."""

    def produce(self, topic: str, key: bytes, value: bytes, partition: int | None = None) -> None: ...

    async def flush(self, timeout: float = 60.0) -> None: ...


class TableStore:
    """StateStore over a Faust table with bytes keys/values and an explicit changelog partition.

    Changelog records are held back until `write_changelog`, which the agent calls only after the
    batch's output records were acknowledged by the broker. A crash in between then means outputs
    without state (the replay recomputes and re-sends them: duplicates of absolute values), never
    state without outputs (the replay would find nothing new and the outputs would be lost).
    """

    def __init__(self, table: Any) -> None:
        self.table = table
        self.pending: dict[bytes, tuple[int, bytes]] = {}

    @property
    def data(self) -> MutableMapping[bytes, bytes]:
        return faust_internals.table_data(self.table)

    def resume_offset(self, partition: int) -> int | None:
        """The next input offset of `partition` whose effects the state does not hold (None: unknown)."""
        raw = self.data.get(sentinel_key(partition))
        return int(raw) if raw else None

    def get(self, key: str) -> bytes | None:
        value = self.data.get(key.encode())
        return bytes(value) if value is not None else None

    def put(self, key: str, value: bytes, partition: int) -> None:
        k = key.encode()
        self.data[k] = value
        self.pending[k] = (partition, value)

    async def write_changelog(self, sink: ChangelogSink, next_offsets: Mapping[int, int] | None = None) -> None:
        """Write the batch's changelog records, then one single-record batch per partition touched.

        `next_offsets` (input partition -> offset after the batch's last message) go into the sentinels,
        also of partitions whose messages changed no state. Tansu (memory storage) reports a partition's high watermark as the base offset of its last record
        batch plus one, ignoring the batch's other records; Faust's recovery reads a changelog only up to
        that watermark. Ending every flush with a batch of exactly one record keeps the reported
        watermark true, so a restarted worker recovers all of its state. Harmless on Apache Kafka.
        """
        offsets = dict(next_offsets or {})
        if not self.pending and not offsets:
            return
        topic = self.table.changelog_topic.get_topic_name()
        partitions = sorted({p for p, _ in self.pending.values()} | offsets.keys())
        if self.pending:
            for k, (p, v) in self.pending.items():
                sink.produce(topic, k, v, p)
            self.pending.clear()
            await sink.flush()
        data = self.data
        for p in partitions:
            key = sentinel_key(p)
            if p in offsets:
                data[key] = b"%d" % offsets[p]
            sink.produce(topic, key, data.get(key, b""), p)
        await sink.flush()
