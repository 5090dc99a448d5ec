"""When the loader writes what it collected (issue #17, freshness): a small batch goes to the writer as soon as
the writer is free and the consumer has caught up, not after the flush interval; a full queue still builds
big batches. The policy and the loop are driven by a fake clock: no test here depends on wall time."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import pytest
from support.messages import Message as FakeMessage

from turnpoint.core import topics
from turnpoint.loader import tables as T
from turnpoint.loader.service import Loader
from turnpoint.loader.timing import FlushTiming

pytestmark = pytest.mark.timeout(30)

TIMING = FlushTiming(interval_s=0.5, linger_s=0.005)


def test_an_empty_batch_is_never_due_and_waits_for_its_first_message() -> None:
    assert not TIMING.due(now=100.0, first_at=None, writer_busy=False, caught_up=True)
    assert TIMING.timeout(now=100.0, first_at=None, writer_busy=False) == pytest.approx(0.2)
    assert TIMING.timeout(now=100.0, first_at=None, writer_busy=True) == pytest.approx(0.02)


def test_a_small_batch_is_due_once_the_consumer_caught_up_and_the_writer_is_free() -> None:
    # 1 ms after its first message: the consumer had nothing more, the writer idles -> write it now
    assert TIMING.due(now=100.001, first_at=100.0, writer_busy=False, caught_up=True)
    # more was queued: keep collecting (a backfill's batches still fill up)
    assert not TIMING.due(now=100.001, first_at=100.0, writer_busy=False, caught_up=False)
    # the previous batch is still being written: collect what arrives meanwhile (group commit)
    assert not TIMING.due(now=100.001, first_at=100.0, writer_busy=True, caught_up=True)


def test_the_interval_still_bounds_a_batch_whose_queue_keeps_delivering() -> None:
    assert not TIMING.due(now=100.499, first_at=100.0, writer_busy=False, caught_up=False)
    assert TIMING.due(now=100.5, first_at=100.0, writer_busy=False, caught_up=False)
    assert TIMING.due(now=100.5, first_at=100.0, writer_busy=True, caught_up=False)


def test_a_collecting_batch_lingers_briefly_and_never_past_its_interval() -> None:
    assert TIMING.timeout(now=100.0, first_at=100.0, writer_busy=False) == pytest.approx(0.005)
    assert TIMING.timeout(now=100.0, first_at=100.0, writer_busy=True) == pytest.approx(0.02)
    assert TIMING.timeout(now=100.49, first_at=100.0, writer_busy=True) == pytest.approx(0.01)
    assert TIMING.timeout(now=100.7, first_at=100.0, writer_busy=False) == 0.0


# -- the loop -------------------------------------------------------------------------------------------


class FrozenClock:
    """Time that never passes: a batch can only be flushed by the caught-up rule, never by the interval."""

    def __call__(self) -> float:
        return 1000.0


class Consumer:
    """Delivers `lots` one `consume` call at a time (each cut to what was asked for), then nothing."""

    def __init__(self, lots: list[list[FakeMessage]]) -> None:
        self.lots = [list(lot) for lot in lots]
        self.asked: list[int] = []
        self.commits: list[dict[int, int]] = []
        self.done = threading.Event()

    def subscribe(self, _topics: list[str], **_callbacks: Any) -> None: ...

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        self.asked.append(num_messages)
        if not self.lots:
            self.done.wait(min(timeout, 0.01))
            return []
        lot = self.lots[0]
        out, self.lots[0] = lot[:num_messages], lot[num_messages:]
        if not self.lots[0]:
            self.lots.pop(0)
        return out

    def commit(self, offsets: list[Any], asynchronous: bool) -> None:
        self.commits.append({tp.partition: tp.offset for tp in offsets})

    def assignment(self) -> list[Any]:
        return []

    def close(self) -> None: ...

    def get_watermark_offsets(self, _tp: Any, cached: bool = False) -> tuple[int, int]:
        return 0, 0


class Producer:
    def produce(self, *_a: Any, **_k: Any) -> None: ...

    def poll(self, _timeout: float = 0) -> int:
        return 0

    def flush(self, _timeout: float = 0) -> int:
        return 0


class Sink:
    def __init__(self) -> None:
        self.batches: list[int] = []
        self._rows = 0

    def begin(self) -> None:
        self._rows = 0

    def upsert(self, spec: Any, rows: Any) -> None:
        if spec.name == "price":  # not its derived latest_bar rows
            self._rows += len(rows)

    def delete(self, _spec: Any, _keys: Any) -> None: ...

    def newest(self, _spec: Any, _series: Any) -> dict[str, Any]:
        return {}

    def record_jobs(self, _written: Any) -> None: ...

    def commit(self) -> None:
        self.batches.append(self._rows)

    def reset(self) -> None: ...

    def ping(self) -> bool:
        return True

    def close(self) -> None: ...


def _price(offset: int) -> FakeMessage:
    day = f"2024-01-{1 + offset % 28:02d}"
    item = {"symbol": f"S{offset}", "interval": "day", "start": day, "end": day, "open": 1.0, "high": 2.0,
            "low": 0.5, "close": 1.5, "volume": 1.0, "bars": 1}
    return FakeMessage(topics.PRICES.name, orjson.dumps({"v": 1, "items": [item]}), offset)


def _run(lots: list[list[FakeMessage]], batch_size: int, want_rows: int) -> tuple[Consumer, Sink]:
    consumer, sink = Consumer(lots), Sink()
    loader = Loader(consumer=consumer, producer=Producer(), sink=sink, tables=T.TABLES,  # type: ignore[arg-type]
                    topic_prefix="", dead_letter_topic="dlq", batch_size=batch_size, flush_interval_s=3600.0,
                    retry_initial_s=0.01, retry_max_s=0.02, flush_linger_s=0.005, clock=FrozenClock())
    stop = threading.Event()
    thread = threading.Thread(target=loader.run, args=(stop,), daemon=True)
    thread.start()
    give_up = time.monotonic() + 10  # a bound for a broken loop, not a measurement
    while sum(sink.batches) < want_rows and thread.is_alive() and time.monotonic() < give_up:
        consumer.done.wait(0.01)
    stop.set()
    consumer.done.set()
    thread.join(10)
    assert not thread.is_alive()
    return consumer, sink


def test_a_small_batch_is_written_when_the_consumer_catches_up_though_the_interval_never_passes() -> None:
    # three messages, then nothing: with an hour's interval on a clock that never moves, only the
    # caught-up rule can write them (the old loop waited for the interval: nothing was ever written)
    consumer, sink = _run([[_price(0), _price(1), _price(2)]], batch_size=20_000, want_rows=3)
    assert sink.batches == [3]
    assert consumer.commits[-1] == {0: 3}


def test_a_queue_that_keeps_delivering_fills_the_batch_to_its_size() -> None:
    # 250 messages queued at once: every consume gets all it asks for, so batches fill to batch_size
    # (the backfill shape) and only the remainder goes out on catching up
    consumer, sink = _run([[_price(o) for o in range(250)]], batch_size=100, want_rows=250)
    *full, _rest = sink.batches
    assert len(full) == 2 and all(100 <= n <= 101 for n in full), sink.batches  # a message over, at most
    assert sum(sink.batches) == 250
    assert consumer.commits[-1] == {0: 250}
