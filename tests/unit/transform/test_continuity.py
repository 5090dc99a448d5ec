"""The offset guard: messages lost between Faust's consumer and an agent are noticed and fetched again."""

from __future__ import annotations

from turnpoint.transform.continuity import OffsetGuard
from turnpoint.transform.processing import InMessage

T = "t.turnpoint.bars.v1"


def _msgs(partition: int, *offsets: int) -> list[InMessage]:
    return [InMessage(T, partition, o, b"k", b"{}") for o in offsets]


def test_a_hole_cuts_the_batch_and_names_the_offset_to_seek_back_to() -> None:
    guard = OffsetGuard()
    guard.start((T, 0), 21)
    guard.start((T, 1), 120)
    admitted, holes = guard.admit([*_msgs(0, 21, 22, 23, 60, 61), *_msgs(1, 120, 121)])
    assert [(m.partition, m.offset) for m in admitted] == [(0, 21), (0, 22), (0, 23), (1, 120), (1, 121)]
    assert holes == {(T, 0): 24}
    # after the seek the queue can still hold stale fetches beyond the hole: held back again
    admitted, holes = guard.admit(_msgs(0, 62, 63))
    assert admitted == [] and holes == {(T, 0): 24}
    # the refetched messages then pass, and redeliveries of processed ones are skipped
    admitted, holes = guard.admit(_msgs(0, 22, 23, 24, 25))
    assert [m.offset for m in admitted] == [24, 25] and holes == {}


def test_a_partition_seen_first_is_taken_from_wherever_it_starts_unless_started() -> None:
    guard = OffsetGuard()
    assert guard.unknown([(T, 0), (T, 1)]) == {(T, 0), (T, 1)}
    admitted, holes = guard.admit(_msgs(0, 5, 6))
    assert len(admitted) == 2 and holes == {}
    assert guard.unknown([(T, 0), (T, 1)]) == {(T, 1)}
    guard.forget()
    assert guard.unknown([(T, 0)]) == {(T, 0)}
    guard.start((T, 0), 0)
    assert guard.admit(_msgs(0, 3))[1] == {(T, 0): 0}


def test_a_stall_is_a_consumer_ahead_of_an_agent_idle_for_long_enough() -> None:
    now = [100.0]
    guard = OffsetGuard(clock=lambda: now[0])
    guard.start((T, 1), 0)
    guard.begin()
    guard.admit(_msgs(1, 0, 1, 2))
    guard.end()
    assert guard.stalled((T, 1), 3, idle_seconds=5) is None  # caught up
    assert guard.stalled((T, 1), 17, idle_seconds=5) is None  # ahead, but the agent just got a batch
    now[0] += 6
    guard.begin()
    assert guard.stalled((T, 1), 17, idle_seconds=5) is None  # busy with a batch
    guard.end()
    now[0] += 6
    assert guard.stalled((T, 1), 17, idle_seconds=5) == 3
    assert guard.stalled((T, 1), 17, idle_seconds=5) is None  # a seek restarts the idle clock
    assert guard.stalled((T, 0), 17, idle_seconds=5) is None  # not tracked yet
