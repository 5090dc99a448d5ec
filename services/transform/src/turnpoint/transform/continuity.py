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

`Continuity` is the Faust service around the guards: it resumes newly seen partitions where their
recovered state ends, or at the group's committed offset (asked of the broker, not Faust's own record,
which knows only this worker's commits), never at the log start when either is known; it seeks back to holes, runs the stall watchdog and measures consumer lag. It talks to Faust's consumer
through the small `ConsumerPort` below, so it is tested against fakes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from faust.types import TP
from mode import Service

from turnpoint.core.observability import get_logger
from turnpoint.transform import metrics
from turnpoint.transform.processing import InMessage

Partition = tuple[str, int]

log = get_logger(__name__)


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


class ConsumerPort(Protocol):
    """What Continuity needs of Faust's consumer (faust.transport.consumer.Consumer has all of it)."""

    def assignment(self) -> set[TP]: ...

    def highwater(self, tp: TP) -> int | None: ...

    async def position(self, tp: TP) -> int | None: ...

    async def seek(self, partition: TP, offset: int) -> None: ...

    async def earliest_offsets(self, *partitions: TP) -> Mapping[TP, int]: ...


# The group's committed offsets of the given partitions (None: nothing committed), asked of the broker.
CommittedOffsets = Callable[[set[Partition]], Awaitable[Mapping[Partition, int | None]]]
# The first offset of each given partition's log, asked of the broker.
LogStarts = Callable[[list[Partition]], Awaitable[Mapping[Partition, int]]]


class Continuity(Service):
    """Owns resume, seek-back and the stall watchdog of every input partition of this worker."""

    def __init__(
        self,
        consumer: Callable[[], ConsumerPort],
        committed: CommittedOffsets,
        *,
        stall_seconds: float,
        processed: Callable[[str, int], int | None] = lambda topic, partition: None,
        settling: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.monotonic,
        log_starts: LogStarts | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._consumer = consumer
        self._committed = committed
        self._log_starts = log_starts or self._consumer_log_starts
        self._processed = processed
        self._settling = settling
        self._clock = clock
        self.stall_seconds = stall_seconds
        self.guards: dict[str, OffsetGuard] = {}  # by input topic

    def guard(self, topic: str) -> OffsetGuard:
        """The guard of an input topic (created on first use)."""
        guard = self.guards.get(topic)
        if guard is None:
            guard = self.guards[topic] = OffsetGuard(self._clock)
        return guard

    def forget(self) -> None:
        """On revocation: every partition resumes from its committed offset once seen again."""
        for guard in self.guards.values():
            guard.forget()

    async def resume_at(self, guard: OffsetGuard, partitions: Iterable[Partition]) -> None:
        """Start tracking newly seen partitions where their recovered state ends, else at the group's
        committed offset, else at the log start.

        The state's own offset (`processed`, saved with it in the changelog) is exact both ways: above the
        commit it skips what the previous owner published and saved but had not committed yet; below it,
        it reprocesses what Faust committed without the agent having saved its effects (messages lost
        inside the consumer, see above, or a worker stopped in the middle of a batch: seen on scale-in,
        committed 48 with the state at 45), which resuming at the commit would lose for good.
        """
        unknown = guard.unknown(partitions)
        if not unknown:
            return
        try:
            committed = await self._committed(unknown)
        except Exception:
            # the broker did not answer: take the partitions from wherever Faust's consumer starts them
            log.warning("committed offsets unavailable; partitions resume where the consumer starts",
                        partitions=sorted(unknown), exc_info=True)
            return
        pending = sorted(guard.unknown(unknown))  # not started meanwhile by another caller
        if not pending:
            return
        log_starts = await self._log_starts(pending)  # one request for all of them
        for topic, partition in pending:
            if not guard.unknown([(topic, partition)]):
                continue
            offset = committed.get((topic, partition))
            earliest = log_starts.get((topic, partition)) or 0
            processed = self._processed(topic, partition)
            base = processed if processed is not None else offset
            start = max(base or 0, earliest)
            guard.start((topic, partition), start)
            source = "state" if processed is not None else "committed" if offset is not None else "log start"
            metrics.RESUMES.labels(topic, source).inc()
            log.info("partition resumes", topic=topic, partition=partition, offset=start,
                     committed=offset, processed=processed, log_start=earliest)

    async def _consumer_log_starts(self, partitions: list[Partition]) -> Mapping[Partition, int]:
        """The log starts as Faust's consumer knows them (the worker asks the broker directly instead: Faust's
        consumer thread sends the request behind its long-polling fetch, which holds it up to 1.5 s)."""
        starts = await self._consumer().earliest_offsets(*(TP(t, p) for t, p in partitions))
        return {(tp.topic, tp.partition): offset for tp, offset in starts.items()}

    async def seek_back(self, topic: str, partition: int, offset: int, why: str) -> None:
        log.warning("input messages went missing inside the consumer; seeking back to reprocess them",
                    topic=topic, partition=partition, offset=offset, why=why)
        metrics.SEEKS_BACK.labels(topic, why).inc()
        try:
            await self._consumer().seek(TP(topic, partition), offset)
        except Exception:
            # revoked meanwhile: its next owner resumes from the committed offset, which is below the hole
            log.warning("seek back failed", topic=topic, partition=partition, exc_info=True)

    async def admit(self, topic: str, msgs: list[InMessage]) -> list[InMessage]:
        """The batch without what follows a hole in a partition's offsets; seek back to the hole."""
        guard = self.guard(topic)
        await self.resume_at(guard, {(m.topic, m.partition) for m in msgs})
        admitted, holes = guard.admit(msgs)
        for (t, partition), offset in holes.items():
            await self.seek_back(t, partition, offset, "hole")
        return admitted

    async def watchdog(self) -> None:
        """Seek back partitions whose consumer fetched messages an idle agent never received."""
        if self._settling():
            return
        consumer = self._consumer()
        for tp in list(consumer.assignment()):
            guard = self.guards.get(tp.topic)
            if guard is None:
                continue
            try:
                await self.resume_at(guard, {(tp.topic, tp.partition)})
                position = await consumer.position(tp)
            except Exception:
                # revoked between assignment() and here; the rebalance starts it over
                log.info("partition left during the watchdog", topic=tp.topic, partition=tp.partition)
                continue
            offset = guard.stalled((tp.topic, tp.partition), position, self.stall_seconds)
            if offset is not None:
                await self.seek_back(tp.topic, tp.partition, offset, "stall")

    async def lag(self, topics: Iterable[str]) -> dict[str, int]:
        """Messages between each topic's high watermark and this worker's position, over its partitions.

        A partition just assigned has no high watermark (None) until its first fetch, and one revoked
        meanwhile has neither: both count as no lag, never as a crash of the timer.
        """
        wanted = set(topics)
        lag: dict[str, int] = dict.fromkeys(wanted, 0)
        consumer = self._consumer()
        for tp in list(consumer.assignment()):
            if tp.topic not in wanted:
                continue
            try:
                position = await consumer.position(tp)
                highwater = consumer.highwater(tp)
            except Exception:
                continue
            if position is not None and highwater is not None:
                lag[tp.topic] += max(0, highwater - position)
        return lag

    @Service.task
    async def _watchdog(self) -> None:
        interval = max(self.stall_seconds / 2, 0.5)
        while not self.should_stop:
            await self.sleep(interval)
            if self.should_stop:
                break
            try:
                await self.watchdog()
            except Exception:
                log.warning("stall watchdog round failed", exc_info=True)
