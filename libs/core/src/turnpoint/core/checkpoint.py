"""One owner of the commit order of a service's own consume loop (loader, model worker).

The order of quix-streams' checkpointing/checkpoint.py: flush the sinks (their writes must be durable
first), then the producer (results and dead letters acknowledged by the broker), then commit the offsets
of the records processed since the last checkpoint. Each failure is raised by name, and an offset is
never committed past a record whose results or dead letter were not acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import TopicPartition

from turnpoint.core.errors import InfrastructureUnavailable
from turnpoint.core.kafka import CommitFailure, commit_checked
from turnpoint.core.produce import Deliveries


class CheckpointFailed(InfrastructureUnavailable):
    """A checkpoint did not complete; nothing after the failing step ran (the offsets stay uncommitted)."""


class SinkFlushFailed(CheckpointFailed):
    """A sink could not make its writes durable."""


class ProducerFlushFailed(CheckpointFailed):
    """The broker did not acknowledge every record produced since the last checkpoint."""


class CommitFailed(CheckpointFailed):
    """The consumer group refused some offsets (typically: the partitions were revoked meanwhile).

    Nothing is lost: those partitions' next owner re-reads from their last commit (duplicates). Every
    failed partition was logged by name (`turnpoint.core.kafka.commit_checked`) and is in `failures`.
    """

    def __init__(self, failures: list[CommitFailure]) -> None:
        names = ", ".join(f"{f.topic}[{f.partition}]@{f.offset}: {f.error}" for f in failures[:5])
        super().__init__(f"offset commit refused for {len(failures)} partitions ({names})")
        self.failures = failures


class Checkpoint:
    """Offsets processed since the last commit, and the one way to commit them."""

    def __init__(self, consumer: Any, producer: Any, *, service: str, flush_timeout: float = 30.0) -> None:
        self.consumer = consumer
        self.producer = producer
        self.service = service
        self.flush_timeout = flush_timeout
        self.deliveries = Deliveries()  # pass as `on_delivery` to every produce of this loop
        self.offsets: dict[tuple[str, int], int] = {}

    def track(self, topic: str, partition: int, offset: int) -> None:
        """A record was processed (its results produced, or its dead letter)."""
        key = (topic, partition)
        if offset > self.offsets.get(key, -1):
            self.offsets[key] = offset

    def forget(self, partitions: Sequence[tuple[str, int]]) -> None:
        """Revoked partitions: their next owner resumes from the last commit."""
        for key in partitions:
            self.offsets.pop(key, None)

    @property
    def empty(self) -> bool:
        return not self.offsets

    def commit(self, sinks: Sequence[tuple[str, Callable[[], object]]] = ()) -> None:
        """Flush each named sink, then the producer, then commit the tracked offsets, in that order."""
        for name, flush in sinks:
            try:
                flush()
            except Exception as exc:
                msg = f"sink {name!r} failed to flush: {exc}"
                raise SinkFlushFailed(msg) from exc
        remaining = int(self.producer.flush(self.flush_timeout))
        failed, failures = self.deliveries.take()
        if remaining or failed:
            detail = "; ".join(failures) or f"{remaining} records unacknowledged after {self.flush_timeout:.0f}s"
            msg = f"{remaining + failed} records not delivered ({detail}); offsets not committed"
            raise ProducerFlushFailed(msg)
        if not self.offsets:
            return
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in self.offsets.items()]
        self.offsets.clear()  # committed or not, these records were handled: a refused partition is re-read
        refused = commit_checked(self.consumer, offsets, self.service)
        if refused:
            raise CommitFailed(refused)
