"""One consume loop for the services' own consumers (model worker, alerts evaluator and notifier).

    loop = ConsumeLoop(consumer, producer, topics=[...], step=worker.step, failure_event="worker.batch_failed",
                       checkpoint=worker.checkpoint, on_failure=count)
    loop.run(stop)

A step consumes one batch (`records` drops the error events and tracks each record's offset in the
step's `Checkpoint`), processes it and commits through the checkpoint (sinks, producer, then offsets,
each partition's commit checked and a refused one logged by name: `commit`). A step that raises never stops the
stream: the failure is logged under `failure_event` (with its stack trace unless it is an
`InfrastructureUnavailable`), `on_failure` sees it (metrics, resetting a database connection), the loop
waits (0.5 s, doubling up to 30 s, reset by the next good step) and `rewind`s to the committed offsets,
so the failed batch is read again (at-least-once; the services' outputs are idempotent).

On stop: `on_stop`, then the producer is flushed (10 s) and the consumer closed, each also when the
previous one failed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from turnpoint.core.checkpoint import Checkpoint, CommitFailed
from turnpoint.core.deadletter import dead_letter_record
from turnpoint.core.errors import InfrastructureUnavailable
from turnpoint.core.kafka import CommitFailure
from turnpoint.core.observability import get_logger
from turnpoint.core.produce import DeliveryCallback, produce

log = get_logger(__name__)

Rebalance = Callable[[Any, list[TopicPartition]], None]


class Consumer(Protocol):
    """The part of confluent-kafka's Consumer the loop uses."""

    def subscribe(self, topics: list[str], **callbacks: Any) -> None: ...

    def assignment(self) -> list[TopicPartition]: ...

    def committed(self, partitions: list[TopicPartition], timeout: float = ...) -> list[TopicPartition]: ...

    def seek(self, partition: TopicPartition) -> None: ...

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float = ...,
                              cached: bool = ...) -> tuple[int, int]: ...

    def incremental_assign(self, partitions: list[TopicPartition]) -> None: ...

    def assign(self, partitions: list[TopicPartition]) -> None: ...

    def close(self) -> None: ...


class Liveness(Protocol):
    """What the services' health reads: whether the consume loop runs."""

    alive: bool


def records(msgs: Iterable[Any], checkpoint: Checkpoint | None = None) -> Iterator[Any]:
    """The records of a poll, each offset tracked in `checkpoint`; error events are dropped (the end of a
    partition silently, any other logged)."""
    for msg in msgs:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                log.error("kafka.consume_error", error=str(err))
            continue
        if checkpoint is not None:
            checkpoint.track(msg.topic(), msg.partition(), msg.offset())
        yield msg


def rewind(consumer: Consumer, checkpoint: Checkpoint | None = None) -> None:
    """Seek every assigned partition back to its committed offset, or to the log start when it has none
    (a failed first batch is read again, not skipped); the checkpoint forgets what it tracked since.

    Never raises: a partition the consumer cannot seek is logged, and is re-read by its next owner.
    """
    if checkpoint is not None:
        checkpoint.forget(list(checkpoint.offsets))
    try:
        for tp in consumer.committed(consumer.assignment(), timeout=10):
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
    except Exception as exc:
        log.error("kafka.rewind_failed", error=str(exc)[:200])


def commit(checkpoint: Checkpoint) -> list[CommitFailure]:
    """Commit the batch through `checkpoint`; returns the partitions the group refused.

    A refused partition is no failure of the batch: `commit_checked` logged it by name, and its next owner
    re-reads it from its last commit (duplicates, never losses). A sink or producer failure raises.
    """
    try:
        checkpoint.commit()
    except CommitFailed as exc:
        return exc.failures
    return []


def assign_from(consumer: Consumer, partitions: list[TopicPartition],
                start: Callable[[TopicPartition], int]) -> None:
    """An `on_assign` body: each partition starts at `start(committed)` (its committed position, offset < 0
    when none), incrementally (cooperative-sticky, `turnpoint.core.kafka.consumer_config`) where it can."""
    at = [TopicPartition(tp.topic, tp.partition, start(tp)) for tp in consumer.committed(partitions, timeout=10)]
    try:
        consumer.incremental_assign(at)
    except KafkaException:
        consumer.assign(at)


def warm_start(consumer: Consumer, committed: TopicPartition, messages: int) -> int:
    """`messages` before the committed offset (not before the log start): re-read to rebuild in-memory state."""
    low, _high = consumer.get_watermark_offsets(TopicPartition(committed.topic, committed.partition), timeout=10)
    return max(low, committed.offset - messages)


def dead_letter(producer: Any, topic: str, msg: Any, reason: str, detail: str, *, service: str,
                payload: bytes | None = None, on_delivery: DeliveryCallback | None = None) -> None:
    """Log a bad record by its position and queue its dead letter (reason in the headers): its original bytes,
    or `payload` (the one bad item of the message)."""
    log.warning("record.dead_letter", topic=msg.topic(), partition=msg.partition(), offset=msg.offset(),
                reason=reason, detail=detail)
    record = dead_letter_record(
        reason=reason, detail=detail, service=service, payload=msg.value() if payload is None else payload,
        source_topic=msg.topic(), partition=msg.partition(), offset=msg.offset(), key=msg.key(),
    )
    produce(producer, topic, record.value, record.key, headers=record.headers, on_delivery=on_delivery)


def _noop_failure(exc: Exception) -> None:
    return None


@dataclass
class ConsumeLoop:
    """Subscribe, then run `step` until `stop` is set (module docstring)."""

    consumer: Consumer
    producer: Any | None
    topics: Sequence[str]
    step: Callable[[], object]
    failure_event: str
    checkpoint: Checkpoint | None = None
    rewind: Callable[[], None] | None = None  # default: `rewind(consumer, checkpoint)`
    on_failure: Callable[[Exception], None] = _noop_failure
    on_assign: Rebalance | None = None
    on_revoke: Rebalance | None = None
    on_stop: Callable[[], None] | None = None
    liveness: Liveness | None = None  # `alive` while the loop runs
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0

    def subscribe(self) -> None:
        callbacks: dict[str, Rebalance] = {}
        if self.on_assign is not None:
            callbacks["on_assign"] = self.on_assign
        if self.on_revoke is not None:
            callbacks["on_revoke"] = callbacks["on_lost"] = self.on_revoke
        self.consumer.subscribe(list(self.topics), **callbacks)

    def run(self, stop: threading.Event) -> None:
        self.subscribe()
        self._alive(True)
        try:
            self.loop(stop)
        finally:
            self._alive(False)
            self.close()

    def _alive(self, alive: bool) -> None:
        if self.liveness is not None:
            self.liveness.alive = alive

    def loop(self, stop: threading.Event) -> None:
        backoff = self.backoff_s
        while not stop.is_set():
            try:
                self.step()
                backoff = self.backoff_s
            except Exception as exc:  # never let the stream die: retry from the committed offsets
                self.failed(exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                if self.rewind is not None:
                    self.rewind()
                else:
                    rewind(self.consumer, self.checkpoint)

    def failed(self, exc: Exception, retry_in_s: float) -> None:
        unexpected = not isinstance(exc, InfrastructureUnavailable)
        # not `error=`: with exc_info, ecs_logging puts the stack trace under `error`
        log.error(self.failure_event, reason=str(exc)[:300], error_type=type(exc).__name__, retry_in_s=retry_in_s,
                  exc_info=unexpected)
        try:
            self.on_failure(exc)
        except Exception as hook:  # a failing hook must not stop the stream either
            log.error("consume.failure_hook_failed", failure=self.failure_event, reason=str(hook)[:300])

    def close(self) -> None:
        try:
            if self.on_stop is not None:
                self.on_stop()
        finally:
            try:
                if self.producer is not None:
                    self.producer.flush(10)
            finally:
                self.consumer.close()
