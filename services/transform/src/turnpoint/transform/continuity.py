"""Offset continuity: every input message reaches the processors, in order, or the worker seeks back.

Our input topics are written without transactions and are not compacted, so each partition's offsets
are contiguous. faust-streaming can still lose events between its consumer and an agent: around the
end of a recovery (after a restart or rebalance) it seeks the input partitions, resumes them and
clears the agents' queues in an order that lets fetched messages vanish while their offsets count as
read, so they are never fetched again. Seen here after a SIGKILL and restart: holes of ~30 offsets in
the middle of a partition, and the last ~15 messages of a partition never delivered.

The guard keeps, per input partition, the next offset the agent must see. A batch with a hole is cut
at the hole and the partition is sought back to it. A hole at the tail shows no later message, so a
watchdog compares the consumer's fetch position with the expected offset once the agent has been idle
for a while, and seeks back when the consumer is ahead. Messages below the expected offset are
redeliveries of processed ones (after such a seek the agent's queue can still hold older fetches) and
are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from turnpoint.transform.processing import InMessage

Partition = tuple[str, int]


class OffsetGuard:
    """The next offset each input partition must deliver, and the admission of batches against it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.expected: dict[Partition, int] = {}
        self.busy = False
        self._now = clock
        self.last_batch = clock()

    def unknown(self, partitions: Iterable[Partition]) -> set[Partition]:
        """Those of `partitions` whose next offset the guard does not know yet."""
        return set(partitions) - self.expected.keys()

    def start(self, partition: Partition, offset: int) -> None:
        """Where a newly assigned partition resumes: its committed offset, or the log start."""
        self.expected[partition] = offset

    def forget(self) -> None:
        """After a rebalance every partition starts again from its committed offset."""
        self.expected.clear()

    def admit(self, msgs: list[InMessage]) -> tuple[list[InMessage], dict[Partition, int]]:
        """The messages to process, and for each partition with a hole the offset to seek back to.

        Messages of a partition after its first hole are held back (not processed): they arrive again
        after the seek, in order.
        """
        admitted: list[InMessage] = []
        holes: dict[Partition, int] = {}
        expected = self.expected
        for m in msgs:
            tp = (m.topic, m.partition)
            if tp in holes:
                continue
            want = expected.get(tp)
            if want is None or m.offset == want:
                expected[tp] = m.offset + 1
                admitted.append(m)
            elif m.offset > want:
                holes[tp] = want
            # else: a redelivery of a processed message, skipped
        return admitted, holes

    def begin(self) -> None:
        self.busy = True

    def end(self) -> None:
        self.busy = False
        self.last_batch = self._now()

    def stalled(self, partition: Partition, position: int | None, idle_seconds: float) -> int | None:
        """The offset to seek `partition` back to when its consumer fetched past what the agent got.

        Only once the agent has been idle for `idle_seconds`: a busy agent, or one that got a batch
        recently, may still have the fetched messages on their way. A seek restarts the idle clock.
        """
        want = self.expected.get(partition)
        if want is None or position is None or position <= want:
            return None
        now = self._now()
        if self.busy or now - self.last_batch < idle_seconds:
            return None
        self.last_batch = now
        return want
