"""The pipelined consume -> write -> commit loop with an in-memory broker and sink: offsets are committed in
order and only after the rows they cover were committed, and a failed write is retried with what came since."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pytest
from turnpoint.core import topics
from turnpoint.loader import tables as T
from turnpoint.loader.errors import DatabaseUnavailable
from turnpoint.loader.service import Loader

pytestmark = pytest.mark.timeout(30)
TOPIC = topics.PRICES.name


class Msg:
    def __init__(self, partition: int, offset: int, value: bytes) -> None:
        self._p, self._o, self._v = partition, offset, value

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> None:
        return None

    def value(self) -> bytes:
        return self._v

    def error(self) -> None:
        return None


class FakeConsumer:
    """Hands out the queued messages a few at a time; records commits with the sink's state at that moment."""

    def __init__(self, messages: list[Msg], sink: FakeSink) -> None:
        self.queue = list(messages)
        self.sink = sink
        self.commits: list[tuple[dict[int, int], set[tuple[int, int]]]] = []
        self.paused = False

    def subscribe(self, topics: list[str], **_callbacks: Any) -> None: ...

    def consume(self, num_messages: int, timeout: float) -> list[Msg]:
        if self.paused:
            time.sleep(min(timeout, 0.01))
            return []
        out, self.queue = self.queue[:min(num_messages, 7)], self.queue[min(num_messages, 7):]
        if not out:
            time.sleep(min(timeout, 0.01))
        return out

    def commit(self, offsets: list[Any], asynchronous: bool) -> None:
        self.commits.append(({tp.partition: tp.offset for tp in offsets}, set(self.sink.committed_origins)))

    def assignment(self) -> list[Any]:
        return ["assigned"]

    def pause(self, _p: Any) -> None:
        self.paused = True

    def resume(self, _p: Any) -> None:
        self.paused = False

    def close(self) -> None: ...

    def get_watermark_offsets(self, _tp: Any, cached: bool = False) -> tuple[int, int]:
        return 0, 0


class FakeProducer:
    def produce(self, *_a: Any, **_k: Any) -> None: ...
    def flush(self, _t: float = 0) -> int:
        return 0
    def poll(self, _t: float = 0) -> int:
        return 0


class FakeSink:
    """A transactional in-memory table; `fail` makes that many writes fail as if the database were down."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.pending: list[tuple[Any, ...]] = []
        self.rows: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.committed_origins: set[tuple[int, int]] = set()  # (partition, offset) of committed messages

    def begin(self) -> None:
        self.pending = []

    def upsert(self, spec: T.TableSpec, rows: Sequence[T.Row]) -> None:
        if self.fail:
            self.fail -= 1
            msg = "database down"
            raise DatabaseUnavailable(msg)
        time.sleep(0.005)  # long enough for the next batch to be decoded meanwhile
        self.pending += [(spec.name, r) for r in rows]

    def delete(self, spec: T.TableSpec, keys: Sequence[tuple[Any, ...]]) -> None: ...
    def record_jobs(self, written: Mapping[str, int]) -> None: ...

    def commit(self) -> None:
        for name, row in self.pending:
            if name == "price":
                self.rows[row[:3]] = row
                partition, offset = int(row[4]), int(row[5])  # where the test put them (open, high)
                self.committed_origins.add((partition, offset))
        self.pending = []

    def reset(self) -> None:
        self.pending = []

    def ping(self) -> bool:
        return True

    def close(self) -> None: ...


def _messages(partitions: int = 2, per_partition: int = 40) -> list[Msg]:
    out = []
    for o in range(per_partition):
        for p in range(partitions):
            day = f"2024-01-{1 + o % 28:02d}"
            item = {"symbol": f"S{p}-{o}", "interval": "day", "start": day, "end": day, "open": float(p),
                    "high": float(o), "low": -1.0, "close": 1.0, "volume": 1.0, "bars": 1}
            out.append(Msg(p, o, orjson.dumps({"v": 1, "items": [item]})))
    return out


def _run(sink: FakeSink, messages: list[Msg]) -> FakeConsumer:
    consumer = FakeConsumer(messages, sink)
    loader = Loader(consumer=consumer, producer=FakeProducer(), sink=sink, tables=T.TABLES,  # type: ignore[arg-type]
                    topic_prefix="", dead_letter_topic="dlq", batch_size=10, flush_interval_s=0.02,
                    retry_initial_s=0.01, retry_max_s=0.02)
    stop = threading.Event()
    thread = threading.Thread(target=loader.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    want = {(m.partition(), m.offset() + 1) for m in messages}
    while time.monotonic() < deadline:
        last = {}
        for offsets, _ in consumer.commits:
            last.update(offsets)
        if set(last.items()) >= {max((w for w in want if w[0] == p), key=lambda w: w[1]) for p in (0, 1)}:
            break
        time.sleep(0.01)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    return consumer


def _check_commits(consumer: FakeConsumer, messages: list[Msg]) -> None:
    assert len(consumer.commits) > 2, "the run should take several flushes"
    seen: dict[int, int] = {}
    for offsets, committed in consumer.commits:
        for p, o in offsets.items():
            assert o >= seen.get(p, 0), "an offset commit went backwards"
            seen[p] = o
            # every message below the committed offset has its row committed in the database already
            assert {(p, k) for k in range(o)} <= committed, f"offset {o} of partition {p} ran ahead of the rows"
    assert seen == {0: 40, 1: 40}


def test_offsets_commit_in_order_and_never_ahead_of_the_rows() -> None:
    sink = FakeSink()
    messages = _messages()
    consumer = _run(sink, messages)
    _check_commits(consumer, messages)
    assert len(sink.rows) == 80


def test_a_failed_write_is_retried_with_the_messages_collected_since() -> None:
    sink = FakeSink(fail=3)
    messages = _messages()
    consumer = _run(sink, messages)
    _check_commits(consumer, messages)
    assert len(sink.rows) == 80 and sink.fail == 0


def test_health_reports_the_last_flush_as_an_iso_instant() -> None:
    import datetime as dt
    import re

    sink = FakeSink()
    consumer = FakeConsumer(_messages(), sink)
    loader = Loader(consumer=consumer, producer=FakeProducer(), sink=sink, tables=T.TABLES,  # type: ignore[arg-type]
                    topic_prefix="", dead_letter_topic="dlq", batch_size=10, flush_interval_s=0.02,
                    retry_initial_s=0.01, retry_max_s=0.02)
    assert loader.health()[1]["last_flush"] is None
    stop = threading.Event()
    thread = threading.Thread(target=loader.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while loader.flushes == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(10)
    last = loader.health()[1]["last_flush"]
    assert isinstance(last, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", last), last
    assert abs(dt.datetime.fromisoformat(last) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


class GreedyConsumer(FakeConsumer):
    """Hands out as many messages as asked for (librdkafka does, from its prefetched queue)."""

    def consume(self, num_messages: int, timeout: float) -> list[Msg]:
        out, self.queue = self.queue[:num_messages], self.queue[num_messages:]
        if not out:
            time.sleep(min(timeout, 0.01))
        return out


class SizedSink(FakeSink):
    """Remembers the price rows of every transaction."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def commit(self) -> None:
        self.sizes.append(sum(name == "price" for name, _ in self.pending))
        super().commit()


def test_a_flush_holds_at_most_batch_size_rows_plus_one_message() -> None:
    """Envelopes of 1,000 items: the loader asks for ~batch_size/100 messages at a time, which used to put
    200,000 rows (~200 MB of Python rows) into a batch of `batch_size` 20,000, twice (one written, one
    collected). The messages past the bound wait for the next batch, in order."""
    per_message, batch_size = 1000, 20_000
    messages = []
    for o in range(60):
        items = [{"symbol": f"S{o}-{i}", "interval": "day", "start": "2024-01-02", "end": "2024-01-02",
                  "open": 0.0, "high": float(o), "low": -1.0, "close": 1.0, "volume": 1.0, "bars": 1}
                 for i in range(per_message)]
        messages.append(Msg(0, o, orjson.dumps({"v": 1, "items": items})))
    sink = SizedSink()
    consumer = GreedyConsumer(messages, sink)
    loader = Loader(consumer=consumer, producer=FakeProducer(), sink=sink, tables=T.TABLES,  # type: ignore[arg-type]
                    topic_prefix="", dead_letter_topic="dlq", batch_size=batch_size, flush_interval_s=0.05,
                    retry_initial_s=0.01, retry_max_s=0.02)
    stop = threading.Event()
    thread = threading.Thread(target=loader.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(offsets.get(0) == 60 for offsets, _ in consumer.commits):
        time.sleep(0.01)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert len(sink.rows) == 60 * per_message
    assert sum(sink.sizes) == 60 * per_message
    assert max(sink.sizes) <= batch_size + per_message, sink.sizes
    offsets = [o[0] for o, _ in consumer.commits if 0 in o]
    assert offsets == sorted(offsets) and offsets[-1] == 60
