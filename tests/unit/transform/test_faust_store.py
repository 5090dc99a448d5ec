"""TableStore against a fake table and sink: state in the table's data, changelog only after outputs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from turnpoint.transform import faust_internals
from turnpoint.transform.faust_store import SENTINEL_KEY, TableStore, sentinel_key


class FakeChangelogTopic:
    def get_topic_name(self) -> str:
        return "t-symbol-state-changelog"


class FakeTable:
    name = "symbol-state"

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.changelog_topic = FakeChangelogTopic()


class FakeSink:
    """Records every produce call, and where each flush happened."""

    def __init__(self) -> None:
        self.log: list[Any] = []

    def produce(self, topic: str, key: bytes, value: bytes, partition: int | None = None) -> None:
        self.log.append((topic, key, value, partition))

    async def flush(self, timeout: float = 60.0) -> None:
        self.log.append("flush")


def test_puts_are_visible_at_once_and_reach_the_changelog_only_when_written() -> None:
    table = FakeTable()
    store = TableStore(table)
    store.put("AAPL", b"s1", 3)
    store.put("MSFT", b"m1", 0)
    store.put("AAPL", b"s2", 3)  # the last value per key is what the changelog gets
    assert store.get("AAPL") == b"s2" and table.data[b"MSFT"] == b"m1" and store.get("NONE") is None
    sink = FakeSink()
    asyncio.run(store.write_changelog(sink, {0: 120, 3: 57, 1: 9}))
    topic = "t-symbol-state-changelog"
    assert sink.log == [
        (topic, b"AAPL", b"s2", 3), (topic, b"MSFT", b"m1", 0), "flush",
        # one single-record batch per partition of the batch, after the data: Tansu's watermark stays true;
        # it carries the next input offset, also for partition 1 whose messages changed no state
        (topic, sentinel_key(0), b"120", 0), (topic, sentinel_key(1), b"9", 1), (topic, sentinel_key(3), b"57", 3),
        "flush",
    ]
    assert [store.resume_offset(p) for p in (0, 1, 2, 3)] == [120, 9, None, 57]
    sink.log.clear()
    asyncio.run(store.write_changelog(sink))  # nothing pending, no messages: nothing written
    assert sink.log == []
    assert SENTINEL_KEY not in table.data


def test_a_recovered_sentinel_tells_where_the_state_ends() -> None:
    table = FakeTable()
    table.data[sentinel_key(2)] = b"4001"  # as Faust's changelog recovery leaves it
    assert TableStore(table).resume_offset(2) == 4001


def test_a_table_without_a_writable_data_mapping_fails_the_start_up() -> None:
    class Odd:
        name = "odd"
        data = ()

    with pytest.raises(faust_internals.FaustInternalsChanged, match="odd"):
        faust_internals.check(object(), Odd())
    faust_internals.check(object(), FakeTable())  # the installed faust-streaming has what we use


class FakeCommitter:
    def __init__(self, answer: bool | Exception) -> None:
        self.answer = answer

    async def _commit(self, offsets: Any) -> bool:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_every_refused_commit_is_reported_with_its_offsets() -> None:
    refused: list[Any] = []
    ok, no, boom = FakeCommitter(True), FakeCommitter(False), FakeCommitter(RuntimeError("coordinator gone"))
    for c in (ok, no, boom):
        faust_internals.watch_commits(c, refused.append)
    faust_internals.watch_commits(ok, refused.append)  # wrapping twice reports once
    assert asyncio.run(ok._commit({("t", 0): 5})) is True
    assert asyncio.run(no._commit({("t", 1): 7})) is False
    with pytest.raises(RuntimeError):
        asyncio.run(boom._commit({("t", 2): 9}))
    assert refused == [{("t", 1): 7}, {("t", 2): 9}]
