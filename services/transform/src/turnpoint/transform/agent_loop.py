"""What every agent does with a batch of events: admit, process, publish, write the changelog.

`OutputPublisher` sends a batch's outbox and waits for the broker's acknowledgement of every record.
`AgentLoop` runs one agent's stream: each batch (the events taken at once, cut into runs of at most
`batch_max_bytes` of message values) is admitted by the continuity guard, handed to a Faust-free
processor, its results published, and only then its table's changelog written (the state may never be
recovered ahead of the published results). A failure after the processor isolated the bad
records, or a refused publish, exits the process (status 70) for a clean restart from the changelog and
the last committed offsets: Faust must never commit the batch's offsets without its results.

`build_app` wires both; the unit tests drive them with fake streams, sinks and continuity.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Iterator
from dataclasses import KW_ONLY, dataclass
from typing import Any, NoReturn, Protocol

from turnpoint.core.freshness import JobBeats
from turnpoint.core.observability import get_logger
from turnpoint.core.produce import Headers
from turnpoint.transform import metrics
from turnpoint.transform.continuity import OffsetGuard
from turnpoint.transform.faust_store import ChangelogSink, TableStore
from turnpoint.transform.processing import InMessage, Outbox

log = get_logger(__name__)

# The exit status of a worker that must be restarted from its changelog and last committed offsets.
EXIT_RESTART = 70


class RecordSink(Protocol):
    """What publishing needs of a producer (`publisher.Publisher` has it)."""

    def produce(
        self, topic: str, key: bytes, value: bytes, partition: int | None = None, headers: Headers | None = None,
    ) -> None: ...

    async def flush(self, timeout: float = 60.0) -> None: ...


class Admission(Protocol):
    """What the loop needs of the `continuity.Continuity` service."""

    def guard(self, topic: str) -> OffsetGuard: ...

    async def admit(self, topic: str, msgs: list[InMessage]) -> list[InMessage]: ...


# Batches of at most `max_` events of an agent's stream (`intake.take_ready` for a Faust stream).
Take = Callable[[Any, int], AsyncIterator[list[Any]]]


# A processor: a batch of admitted messages in, the records to publish out (it dead-letters bad records itself).
Handle = Callable[[list[InMessage]], Outbox]


def messages(events: Iterable[Any]) -> list[InMessage]:
    """Faust events as the processors' plain messages."""
    return [
        InMessage(e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value)
        for e in events
    ]


def by_size(events: list[Any], max_bytes: int) -> Iterator[list[Any]]:
    """The events in order, in runs whose message values total at most `max_bytes` (a larger event alone).

    What a batch costs in memory grows with its bars, not its events: the decoded items, the output
    records and their JSON take ~1 KB per bar, and one backfill event holds up to 500 bars.
    """
    sizes = [len(e.message.value or b"") for e in events]
    if sum(sizes) <= max_bytes:
        yield events
        return
    start, total = 0, 0
    for i, n in enumerate(sizes):
        if i > start and total + n > max_bytes:
            yield events[start:i]
            start, total = i, 0
        total += n
    yield events[start:]


def next_offsets(msgs: Iterable[InMessage]) -> dict[int, int]:
    """Input partition -> the offset after its last message in the batch (one input topic per agent)."""
    out: dict[int, int] = {}
    for m in msgs:
        if m.offset >= out.get(m.partition, 0):
            out[m.partition] = m.offset + 1
    return out


def job_beat(out: Outbox, beats: JobBeats, topic: str, job: str, rows: int) -> None:
    """Freshness of the agent (turnpoint.jobs.v1), published with the batch it describes."""
    item = beats.beat(job, rows)
    if item is not None:
        out.add(topic, job, [item])


class OutputPublisher:
    """Sends every record of an outbox and waits until the broker acknowledged all of them.

    Records to topics this worker consumes itself (counts become readings) go through `internal`:
    Faust's aiokafka consumer has no lz4 codec installed, so they stay uncompressed.
    """

    def __init__(self, results: RecordSink, internal: RecordSink, inputs: Collection[str]) -> None:
        self.results = results
        self.internal = internal
        self.inputs = frozenset(inputs)

    async def __call__(self, out: Outbox) -> None:
        for name, records in out.records.items():
            target = self.internal if name in self.inputs else self.results
            for i, (key, value) in enumerate(records):
                target.produce(name, key, value, headers=out.headers.get((name, i)))
            metrics.RECORDS_OUT.labels(name).inc(len(records))
        await self.results.flush()
        await self.internal.flush()
        for reason, n in out.dead.items():
            metrics.DEAD_LETTERS.labels(reason).inc(n)


@dataclass
class AgentLoop:
    """Runs an agent's stream batch by batch, in the order that keeps results exact (module docstring)."""

    continuity: Admission
    publish: Callable[[Outbox], Awaitable[None]]
    changelog: ChangelogSink
    _: KW_ONLY
    beats: JobBeats
    jobs_topic: str
    batch_max: int
    take: Take
    batch_max_bytes: int = 1 << 62  # message bytes processed as one batch (`TransformOptions.batch_max_bytes`)
    exit_process: Callable[[int], NoReturn] = os._exit

    async def run(self, stream: Any, agent: str, source: str, handle: Handle,
                  store: TableStore | None) -> None:
        guard = self.continuity.guard(source)
        async for events in self.take(stream, self.batch_max):
            guard.begin()
            for part in by_size(events, self.batch_max_bytes):  # one after the other, each published
                await self.batch(agent, source, handle, store, part)
            guard.end()

    async def batch(self, agent: str, source: str, handle: Handle, store: TableStore | None,
                    events: list[Any]) -> None:
        """One batch: admit, process, publish, then the changelog; exits the process on failure."""
        t0 = time.perf_counter()
        msgs = await self.continuity.admit(source, messages(events))
        if not msgs:
            return
        metrics.EVENTS_IN.labels(source).inc(len(msgs))
        try:
            out = handle(msgs)  # isolates bad records itself (dead letters); this is a last resort
        except Exception:
            # never let Faust commit the batch's offsets without its results: restart from the last commit
            log.exception("processing a batch failed; exiting for a clean restart", agent=agent)
            self.exit_process(EXIT_RESTART)
        job_beat(out, self.beats, self.jobs_topic, f"transform.{agent}", len(msgs))
        metrics.PROCESS_SECONDS.labels(agent).observe(time.perf_counter() - t0)
        try:
            await self.publish(out)
            if store is not None:
                await store.write_changelog(self.changelog, next_offsets(msgs))
        except Exception:
            # The broker refused our output after the producer's own retries. The in-memory state
            # is now ahead of what was published: exit so the supervisor restarts us from the
            # changelog and the last committed offsets (at-least-once, nothing lost).
            log.exception("publishing a batch failed; exiting for a clean restart", agent=agent)
            self.exit_process(EXIT_RESTART)
        metrics.BATCH_SECONDS.labels(agent).observe(time.perf_counter() - t0)

