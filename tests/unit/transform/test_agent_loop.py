"""AgentLoop and OutputPublisher against fake streams, sinks and continuity: order, routing, crash exits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, NoReturn

import orjson
import pytest

from turnpoint.core.freshness import JobBeats
from turnpoint.transform import metrics
from turnpoint.transform.agent_loop import EXIT_RESTART, AgentLoop, OutputPublisher, next_offsets
from turnpoint.transform.continuity import OffsetGuard
from turnpoint.transform.faust_store import TableStore, sentinel_key
from turnpoint.transform.processing import InMessage, Outbox

SRC = "t.turnpoint.readings.v1"
OUT = "t.turnpoint.series.v1"
JOBS = "t.turnpoint.jobs.v1"
CHANGELOG = "t-series-state-changelog"


class Sink:
    """A producer that writes into a log shared with the other sinks, so the order across them shows."""

    def __init__(self, name: str, log: list[Any], fail_flush: bool = False) -> None:
        self.name, self.log, self.fail_flush = name, log, fail_flush

    def produce(self, topic: str, key: bytes, value: bytes, partition: int | None = None,
                headers: Any = None) -> None:
        self.log.append((self.name, topic, key, value, partition, headers))

    async def flush(self, timeout: float = 60.0) -> None:
        if self.fail_flush:
            msg = f"{self.name}: broker refused the records"
            raise RuntimeError(msg)
        self.log.append((self.name, "flush"))


class Admit:
    """The continuity port: admits every message except the offsets listed as held back."""

    def __init__(self, held: set[int] | None = None) -> None:
        self.guards: dict[str, OffsetGuard] = {}
        self.held = held or set()
        self.busy_seen: list[bool] = []

    def guard(self, topic: str) -> OffsetGuard:
        return self.guards.setdefault(topic, OffsetGuard(clock=lambda: 0.0))

    async def admit(self, topic: str, msgs: list[InMessage]) -> list[InMessage]:
        self.busy_seen.append(self.guards[topic].busy)
        return [m for m in msgs if m.offset not in self.held]


class Stream:
    def __init__(self, *batches: list[Any]) -> None:
        self.batches = batches
        self.asked: list[tuple[int, float]] = []

    async def take_events(self, max_: int, within: float) -> AsyncIterator[list[Any]]:
        self.asked.append((max_, within))
        for batch in self.batches:
            yield batch


class Exited(Exception):  # stands for the process exit
    pass


def _exit(status: int) -> NoReturn:
    raise Exited(status)


class FakeTable:
    name = "series-state"

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.changelog_topic = SimpleNamespace(get_topic_name=lambda: CHANGELOG)


def _events(partition: int, *offsets: int) -> list[Any]:
    return [SimpleNamespace(message=SimpleNamespace(topic=SRC, partition=partition, offset=o, key=b"k%d" % o,
                                                    value=b"{}")) for o in offsets]


def _echo(store: TableStore) -> Any:
    """A processor: one output record per message, and its offset into the state."""
    def handle(msgs: list[InMessage]) -> Outbox:
        out = Outbox()
        for m in msgs:
            out.add(OUT, f"s{m.offset}", [{"offset": m.offset}])
            store.put(f"s{m.partition}", b"%d" % m.offset, m.partition)
        return out
    return handle


def _loop(admit: Admit, results: Sink, changelog: Sink) -> AgentLoop:
    publish = OutputPublisher(results, changelog, {SRC})
    return AgentLoop(admit, publish, changelog, beats=JobBeats(), jobs_topic=JOBS, batch_max=500,
                     take=lambda stream, max_: stream.take_events(max_, 0.25), exit_process=_exit)


def test_a_batch_is_published_and_acknowledged_before_its_changelog_is_written() -> None:
    log: list[Any] = []
    results, changelog = Sink("results", log), Sink("changelog", log)
    store = TableStore(FakeTable())
    admit = Admit()
    stream = Stream(_events(0, 10, 11), _events(1, 4))
    asyncio.run(_loop(admit, results, changelog).run(stream, "readings", SRC, _echo(store), store))

    assert stream.asked == [(500, 0.25)]
    first = log[: log.index(("changelog", "flush")) + 1]
    # outputs of the first batch, then the job beat (the first is due at once), then both flushes
    assert [(e[0], e[1], e[2]) for e in first[:2]] == [("results", OUT, b"s10"), ("results", OUT, b"s11")]
    assert first[2][:3] == ("results", JOBS, b"transform.readings")
    assert orjson.loads(first[2][3])["items"][0]["job"] == "transform.readings"
    assert first[3:] == [("results", "flush"), ("changelog", "flush")]
    # then the changelog: the state's record, flushed, and the sentinel with the next input offset
    after = log[len(first):]
    assert after[:4] == [
        ("changelog", CHANGELOG, b"s0", b"11", 0, None), ("changelog", "flush"),
        ("changelog", CHANGELOG, sentinel_key(0), b"12", 0, None), ("changelog", "flush"),
    ]
    assert store.resume_offset(0) == 12 and store.resume_offset(1) == 5
    assert admit.busy_seen == [True, True] and not admit.guards[SRC].busy


def test_records_to_the_workers_own_inputs_go_uncompressed_with_their_headers_and_dead_letters_count() -> None:
    log: list[Any] = []
    results, internal = Sink("results", log), Sink("internal", log)
    out = Outbox()
    out.add(OUT, "a", [{"x": 1}])
    out.add(SRC, "b", [{"x": 2}])
    out.dead_letter("t.turnpoint.readings.dlq.v1", InMessage(SRC, 3, 7, b"k", b"bad"), "malformed", "not JSON")
    before = metrics.DEAD_LETTERS.labels("malformed")._value.get()
    asyncio.run(OutputPublisher(results, internal, {SRC})(out))
    sent = [e for e in log if e[1] != "flush"]
    assert [(e[0], e[1]) for e in sent] == [
        ("results", OUT), ("internal", SRC), ("results", "t.turnpoint.readings.dlq.v1")]
    dead = sent[2]
    assert dead[5] is not None and dead[5] == out.headers[("t.turnpoint.readings.dlq.v1", 0)]
    assert log[-2:] == [("results", "flush"), ("internal", "flush")]
    assert metrics.DEAD_LETTERS.labels("malformed")._value.get() == before + 1


def test_a_processor_that_raises_exits_for_a_restart_before_anything_is_published() -> None:
    log: list[Any] = []
    store = TableStore(FakeTable())

    def boom(msgs: list[InMessage]) -> Outbox:
        msg = "processor bug"
        raise ValueError(msg)

    loop = _loop(Admit(), Sink("results", log), Sink("changelog", log))
    with pytest.raises(Exited) as exited:
        asyncio.run(loop.run(Stream(_events(0, 1)), "readings", SRC, boom, store))
    assert exited.value.args == (EXIT_RESTART,)
    assert log == []


def test_a_refused_publish_exits_without_writing_the_changelog_so_state_never_runs_ahead() -> None:
    log: list[Any] = []
    store = TableStore(FakeTable())
    loop = _loop(Admit(), Sink("results", log, fail_flush=True), Sink("changelog", log))
    with pytest.raises(Exited) as exited:
        asyncio.run(loop.run(Stream(_events(0, 1, 2)), "readings", SRC, _echo(store), store))
    assert exited.value.args == (EXIT_RESTART,)
    assert not [e for e in log if e[0] == "changelog" and e[1] == CHANGELOG]
    assert store.resume_offset(0) is None


def test_a_batch_the_guard_holds_back_entirely_publishes_nothing_and_ends_the_guard() -> None:
    log: list[Any] = []
    store = TableStore(FakeTable())
    admit = Admit(held={5, 6})
    asyncio.run(_loop(admit, Sink("results", log), Sink("changelog", log)).run(
        Stream(_events(0, 5, 6)), "readings", SRC, _echo(store), store))
    assert log == [] and not admit.guards[SRC].busy


def test_next_offsets_are_the_offset_after_each_partitions_last_message() -> None:
    msgs = [InMessage(SRC, p, o, None, None) for p, o in [(0, 9), (1, 3), (0, 4), (1, 8)]]
    assert next_offsets(msgs) == {0: 10, 1: 9}


def _sized(partition: int, offsets: range, size: int) -> list[Any]:
    return [SimpleNamespace(message=SimpleNamespace(topic=SRC, partition=partition, offset=o, key=b"k%d" % o,
                                                    value=b"x" * size)) for o in offsets]


def test_events_taken_at_once_are_processed_in_runs_of_at_most_batch_max_bytes_each_published() -> None:
    """One backfill event holds up to 500 bars; 2,000 of them in one batch held ~1 GB of decoded items and
    output records at once. Each run is admitted, processed, published and changelogged before the next."""
    log: list[Any] = []
    results, changelog = Sink("results", log), Sink("changelog", log)
    store = TableStore(FakeTable())
    seen: list[list[int]] = []
    echo = _echo(store)

    def handle(msgs: list[InMessage]) -> Outbox:
        seen.append([m.offset for m in msgs])
        return echo(msgs)

    loop = AgentLoop(Admit(), OutputPublisher(results, changelog, {SRC}), changelog, beats=JobBeats(), jobs_topic=JOBS,
                     batch_max=500, take=lambda stream, max_: stream.take_events(max_, 0.25), exit_process=_exit,
                     batch_max_bytes=1000)
    big = SimpleNamespace(message=SimpleNamespace(topic=SRC, partition=0, offset=13, key=b"k", value=b"x" * 5000))
    asyncio.run(loop.run(Stream([*_sized(0, range(10), 300), big, *_sized(0, range(14, 16), 300)]),
                         "readings", SRC, handle, store))
    assert seen == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9], [13], [14, 15]]
    # every run's changelog sentinel (next offset) is written after its outputs were flushed
    sentinels = [e[3] for e in log if len(e) > 2 and e[0] == "changelog" and e[2] == sentinel_key(0)]
    assert sentinels == [b"3", b"6", b"9", b"10", b"14", b"16"]


def test_a_backfill_batch_in_runs_of_batch_max_bytes_holds_a_fraction_of_the_memory() -> None:
    """The real bar processor, 40 messages of 500 bars (20,000 bars) taken at once: the peak of Python
    memory allocated while they are processed, whole and in runs of 64 KiB (about one message each).
    Figures of the whole worker are in bench/e2e.py's output (docs/transform.md)."""
    import datetime as dt
    import tracemalloc

    from turnpoint.core.dates import trading_days
    from turnpoint.transform.bars import BarsProcessor
    from turnpoint.transform.processing import TopicNames
    from turnpoint.transform.settings import TransformOptions

    days = [d.isoformat() for d in trading_days(dt.date(2015, 1, 5), 1000)]
    events = []
    for s in range(10):
        items = [{"symbol": f"S{s}", "date": d, "open": 10.0 + i % 7, "high": 20.0, "low": 5.0, "close": 10.0 + i % 5,
                  "volume": 1000.0} for i, d in enumerate(days)]
        for j in range(0, 1000, 500):
            events.append(SimpleNamespace(message=SimpleNamespace(
                topic=SRC, partition=0, offset=len(events), key=f"S{s}".encode(),
                value=orjson.dumps({"v": 1, "items": items[j:j + 500]}))))
    raw = sum(len(e.message.value) for e in events)
    assert raw > 900_000  # ~100 bytes per bar

    class Discard(Sink):  # a broker that takes the records away
        def produce(self, *_a: Any, **_k: Any) -> None: ...

    def peak(max_bytes: int) -> int:
        store = TableStore(FakeTable())
        bars = BarsProcessor(TransformOptions(), TopicNames("t."))
        sink = Discard("any", [])
        loop = AgentLoop(Admit(), OutputPublisher(sink, sink, {SRC}), sink, beats=JobBeats(), jobs_topic=JOBS, batch_max=2000,
                         take=lambda stream, max_: stream.take_events(max_, 0.25), exit_process=_exit,
                         batch_max_bytes=max_bytes)
        tracemalloc.start()
        try:
            asyncio.run(loop.run(Stream(events), "bars", SRC, lambda msgs: bars.process(msgs, store), store))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert TransformOptions().batch_max_bytes <= 32 << 20
    small = peak(64 << 10)
    whole = peak(raw)
    # measured: ~9.3 MB whole (~900 bytes per bar at once), ~1.8 MB in runs of one message
    assert small < whole / 3, (small, whole)
