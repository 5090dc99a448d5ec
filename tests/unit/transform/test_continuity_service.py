"""The Continuity service against a fake consumer: where partitions resume, seek-backs, watchdog, lag."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from faust.types import TP

from turnpoint.transform.continuity import Continuity, Partition
from turnpoint.transform.processing import InMessage

T = "t.turnpoint.readings.v1"


class FakeConsumer:
    """The part of Faust's consumer that Continuity uses, with partitions that can vanish (revoked)."""

    def __init__(self, earliest: dict[TP, int] | None = None) -> None:
        self.assigned: set[TP] = set()
        self.positions: dict[TP, int | None] = {}
        self.highwaters: dict[TP, int | None] = {}
        self.earliest = earliest or {}
        self.seeks: list[tuple[TP, int]] = []
        self.revoked_meanwhile: set[TP] = set()
        self.asked_log_starts: list[list[TP]] = []

    def assignment(self) -> set[TP]:
        return set(self.assigned)

    def _assigned(self, tp: TP) -> None:
        if tp in self.revoked_meanwhile:
            msg = f"Partition {tp} is not assigned"
            raise AssertionError(msg)  # what aiokafka raises

    def highwater(self, tp: TP) -> int | None:
        self._assigned(tp)
        return self.highwaters.get(tp)

    async def position(self, tp: TP) -> int | None:
        self._assigned(tp)
        return self.positions.get(tp)

    async def seek(self, partition: TP, offset: int) -> None:
        self.seeks.append((partition, offset))

    async def earliest_offsets(self, *partitions: TP) -> Mapping[TP, int]:
        self.asked_log_starts.append(list(partitions))
        return {tp: self.earliest.get(tp, 0) for tp in partitions}


class FakeGroup:
    """The group's committed offsets as the broker knows them (commits of any worker)."""

    def __init__(self, committed: dict[Partition, int]) -> None:
        self.committed = committed
        self.asked: list[set[Partition]] = []

    async def __call__(self, partitions: set[Partition]) -> Mapping[Partition, int | None]:
        self.asked.append(set(partitions))
        return {p: self.committed.get(p) for p in partitions}


def _msgs(partition: int, *offsets: int) -> list[InMessage]:
    return [InMessage(T, partition, o, b"k", b"{}") for o in offsets]


def _service(consumer: FakeConsumer, group: FakeGroup, now: list[float] | None = None) -> Continuity:
    clock = (lambda: now[0]) if now is not None else (lambda: 0.0)
    return Continuity(lambda: consumer, group, stall_seconds=5.0, clock=clock)


def test_a_moved_partition_resumes_at_the_groups_committed_offset_not_at_zero() -> None:
    # another worker committed 500 on partition 2, then the partition moved here (this worker never
    # committed it, so Faust's own record of commits knows nothing about it)
    consumer, group = FakeConsumer(), FakeGroup({(T, 2): 500})
    continuity = _service(consumer, group)
    admitted = asyncio.run(continuity.admit(T, _msgs(2, 500, 501, 502)))
    assert [m.offset for m in admitted] == [500, 501, 502]
    assert consumer.seeks == []  # no replay from the log start
    assert continuity.guard(T).expected == {(T, 2): 503}


def test_a_moved_partition_skips_what_its_recovered_state_already_holds() -> None:
    # the previous owner published and saved offsets up to 529 but committed only 500 before it left:
    # those 30 messages must not be applied again (old readings would come back as `late` dead letters)
    consumer, group = FakeConsumer(), FakeGroup({(T, 2): 500})
    continuity = Continuity(lambda: consumer, group, stall_seconds=5.0,
                            processed=lambda topic, partition: 530 if (topic, partition) == (T, 2) else None)
    admitted = asyncio.run(continuity.admit(T, _msgs(2, *range(500, 540))))
    assert [m.offset for m in admitted] == list(range(530, 540)) and consumer.seeks == []


def test_a_partition_whose_state_ends_below_the_commit_is_sought_back_to_where_the_state_ends() -> None:
    # Faust committed 500 although the agent only ever got offsets below 470 (messages lost inside the
    # consumer): resuming at the commit would lose 470..499 for good
    consumer, group = FakeConsumer(), FakeGroup({(T, 1): 500})
    continuity = Continuity(lambda: consumer, group, stall_seconds=5.0, processed=lambda topic, partition: 470)
    admitted = asyncio.run(continuity.admit(T, _msgs(1, 500, 501)))
    assert admitted == [] and consumer.seeks == [(TP(T, 1), 470)]
    admitted = asyncio.run(continuity.admit(T, _msgs(1, *range(470, 502))))
    assert [m.offset for m in admitted] == list(range(470, 502))


def test_a_partition_never_committed_resumes_at_the_log_start_and_a_hole_after_it_seeks_back() -> None:
    consumer, group = FakeConsumer(earliest={TP(T, 0): 40}), FakeGroup({})
    continuity = _service(consumer, group)
    admitted = asyncio.run(continuity.admit(T, _msgs(0, 40, 41, 45)))
    assert [m.offset for m in admitted] == [40, 41]
    assert consumer.seeks == [(TP(T, 0), 42)]


def test_the_partitions_of_a_batch_ask_for_their_log_starts_in_one_request() -> None:
    # each request is a round trip through Faust's consumer thread (~1.5 s each for a new partition, seen in
    # the worker's logs): one per partition held up the first batch after an assignment by that much per partition
    consumer = FakeConsumer(earliest={TP(T, 1): 20})
    group = FakeGroup({(T, 0): 5})
    continuity = _service(consumer, group)
    admitted = asyncio.run(continuity.admit(T, [*_msgs(0, 5, 6), *_msgs(1, 20, 21), *_msgs(2, 0)]))
    assert [(m.partition, m.offset) for m in admitted] == [(0, 5), (0, 6), (1, 20), (1, 21), (2, 0)]
    assert consumer.asked_log_starts == [[TP(T, 0), TP(T, 1), TP(T, 2)]]
    asyncio.run(continuity.admit(T, _msgs(1, 22)))
    assert len(consumer.asked_log_starts) == 1  # known partitions ask nothing


def test_after_a_revocation_partitions_resume_from_the_group_again_and_are_asked_once() -> None:
    consumer, group = FakeConsumer(), FakeGroup({(T, 1): 10})
    continuity = _service(consumer, group)
    asyncio.run(continuity.admit(T, _msgs(1, 10, 11)))
    asyncio.run(continuity.admit(T, _msgs(1, 12)))
    assert group.asked == [{(T, 1)}]
    continuity.forget()
    group.committed[(T, 1)] = 13  # committed meanwhile
    admitted = asyncio.run(continuity.admit(T, _msgs(1, 12, 13, 14)))  # 12: a redelivery, skipped
    assert [m.offset for m in admitted] == [13, 14] and consumer.seeks == []


def test_when_the_group_cannot_be_asked_the_batch_is_taken_as_delivered() -> None:
    async def broken(partitions: set[Partition]) -> Mapping[Partition, int | None]:
        msg = "coordinator not available"
        raise RuntimeError(msg)

    consumer = FakeConsumer()
    continuity = Continuity(lambda: consumer, broken, stall_seconds=5.0)
    admitted = asyncio.run(continuity.admit(T, _msgs(0, 7, 8)))
    assert [m.offset for m in admitted] == [7, 8] and consumer.seeks == []


def test_lag_survives_a_fresh_assignment_and_a_partition_revoked_meanwhile() -> None:
    consumer = FakeConsumer()
    a, b, c = TP(T, 0), TP(T, 1), TP(T, 2)
    consumer.assigned = {a, b, c, TP("other", 0)}
    consumer.positions = {a: 10, b: 0, c: 5, TP("other", 0): 0}
    consumer.highwaters = {a: 25, b: None, TP("other", 0): 99}  # b: just assigned, nothing fetched yet
    consumer.revoked_meanwhile = {c}
    continuity = _service(consumer, FakeGroup({}))
    assert asyncio.run(continuity.lag([T])) == {T: 15}


def test_the_watchdog_seeks_back_a_stalled_partition_and_skips_one_revoked_meanwhile() -> None:
    now = [100.0]
    consumer, group = FakeConsumer(), FakeGroup({(T, 0): 3, (T, 1): 0})
    continuity = _service(consumer, group, now)
    guard = continuity.guard(T)
    asyncio.run(continuity.admit(T, _msgs(0, 3, 4)))
    guard.end()
    a, b = TP(T, 0), TP(T, 1)
    consumer.assigned = {a, b}
    consumer.positions = {a: 30, b: 0}
    consumer.revoked_meanwhile = {b}
    asyncio.run(continuity.watchdog())
    assert consumer.seeks == []  # the agent got a batch just now
    now[0] += 6
    asyncio.run(continuity.watchdog())
    assert consumer.seeks == [(a, 5)]


def test_the_watchdog_waits_while_the_group_rebalances() -> None:
    now = [0.0]
    consumer = FakeConsumer()
    consumer.assigned = {TP(T, 0)}
    consumer.positions = {TP(T, 0): 9}
    continuity = Continuity(lambda: consumer, FakeGroup({(T, 0): 0}), stall_seconds=1.0,
                            settling=lambda: True, clock=lambda: now[0])
    continuity.guard(T).start((T, 0), 0)
    now[0] += 10
    asyncio.run(continuity.watchdog())
    assert consumer.seeks == []


