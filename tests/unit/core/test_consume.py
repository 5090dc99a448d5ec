"""The core consume loop against fakes: backoff, rewind after each failure, hooks, closing order, records."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

from turnpoint.core.checkpoint import Checkpoint
from turnpoint.core.consume import ConsumeLoop, records, rewind
from turnpoint.core.errors import InfrastructureUnavailable


class Stop(threading.Event):
    """A stop event that records the loop's waits instead of sleeping, and is set after `steps` waits."""

    def __init__(self, waits: int) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.left = waits

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        self.left -= 1
        if self.left <= 0:
            self.set()
        return self.is_set()


@dataclass
class FakeConsumer:
    committed_: dict[tuple[str, int], int] = field(default_factory=dict)
    assigned: list[tuple[str, int]] = field(default_factory=list)
    seeks: list[tuple[str, int, int]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    subscribed: tuple[list[str], dict[str, Any]] | None = None
    broken: bool = False

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.subscribed = (topics, callbacks)

    def assignment(self) -> list[TopicPartition]:
        if self.broken:
            msg = "broker gone"
            raise RuntimeError(msg)
        return [TopicPartition(t, p) for t, p in self.assigned]

    def committed(self, partitions: list[TopicPartition], timeout: float = 10) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.committed_.get((tp.topic, tp.partition), -1001))
                for tp in partitions]

    def seek(self, partition: TopicPartition) -> None:
        self.seeks.append((partition.topic, partition.partition, partition.offset))

    def close(self) -> None:
        self.calls.append("close")


@dataclass
class FakeProducer:
    calls: list[str] = field(default_factory=list)

    def flush(self, timeout: float) -> int:
        self.calls.append(f"flush {timeout:g}")
        return 0


def test_failed_steps_back_off_doubling_to_the_cap_rewind_each_time_and_a_good_step_resets_it() -> None:
    outcomes = iter(["fail", "fail", "fail", "ok", "fail", "fail"])
    seen: list[str] = []
    rewinds: list[int] = []
    failures = {"n": 0}

    def step() -> None:
        if next(outcomes) == "fail":
            failures["n"] += 1
            msg = f"batch {failures['n']}"
            seen.append(msg)
            raise InfrastructureUnavailable(msg) if failures["n"] % 2 else ValueError(msg)

    consumer = FakeConsumer()
    stop = Stop(waits=5)
    loop = ConsumeLoop(consumer, FakeProducer(), ["a"], step, "t.batch_failed", rewind=lambda: rewinds.append(len(seen)),
                       on_failure=lambda exc: seen.append(type(exc).__name__), backoff_s=0.5, max_backoff_s=1.5)
    loop.run(stop)
    assert stop.waits == [0.5, 1.0, 1.5, 0.5, 1.0]  # doubling, capped, reset by the good step
    assert seen == ["batch 1", "InfrastructureUnavailable", "batch 2", "ValueError", "batch 3",
                    "InfrastructureUnavailable", "batch 4", "ValueError", "batch 5", "InfrastructureUnavailable"]
    assert rewinds == [2, 4, 6, 8, 10]  # after every failure, after its hook
    assert consumer.subscribed == (["a"], {})


def test_a_failing_failure_hook_does_not_stop_the_stream() -> None:
    steps = {"n": 0}

    def step() -> None:
        steps["n"] += 1
        msg = "down"
        raise InfrastructureUnavailable(msg)

    def hook(exc: Exception) -> None:
        msg = "database reset failed too"
        raise OSError(msg)

    loop = ConsumeLoop(FakeConsumer(), None, ["a"], step, "t.batch_failed", rewind=lambda: None, on_failure=hook)
    loop.run(Stop(waits=3))
    assert steps["n"] == 3


def test_on_stop_then_the_producer_then_the_consumer_each_even_when_the_previous_failed() -> None:
    consumer, producer = FakeConsumer(), FakeProducer()

    def on_stop() -> None:
        producer.calls.append("on_stop")
        msg = "sender did not close"
        raise RuntimeError(msg)

    stop = Stop(waits=1)
    stop.set()
    loop = ConsumeLoop(consumer, producer, ["a"], lambda: None, "t.batch_failed", on_stop=on_stop)
    with pytest.raises(RuntimeError, match="sender did not close"):
        loop.run(stop)
    assert producer.calls == ["on_stop", "flush 10"] and consumer.calls == ["close"]


def test_rebalance_callbacks_are_passed_for_revoke_and_loss_alike() -> None:
    consumer = FakeConsumer()

    def assign(c: Any, ps: list[TopicPartition]) -> None: ...

    def revoke(c: Any, ps: list[TopicPartition]) -> None: ...

    stop = Stop(waits=1)
    stop.set()
    ConsumeLoop(consumer, None, ["a", "b"], lambda: None, "e", on_assign=assign,
                on_revoke=revoke).run(stop)
    assert consumer.subscribed == (["a", "b"], {"on_assign": assign, "on_revoke": revoke, "on_lost": revoke})


def test_rewind_seeks_the_committed_offsets_or_the_log_start_and_forgets_what_was_tracked() -> None:
    consumer = FakeConsumer(committed_={("a", 0): 42}, assigned=[("a", 0), ("a", 1)])
    checkpoint = Checkpoint(consumer, FakeProducer(), service="t")
    checkpoint.track("a", 0, 50)
    checkpoint.track("a", 1, 7)
    rewind(consumer, checkpoint)  # type: ignore[arg-type]
    # partition 1 never committed: back to its start, not left where the failed batch ended
    assert consumer.seeks == [("a", 0, 42), ("a", 1, OFFSET_BEGINNING)]
    assert checkpoint.empty
    consumer.broken = True
    rewind(consumer)  # type: ignore[arg-type]  # logged, never raised
    assert len(consumer.seeks) == 2


class Msg:
    def __init__(self, topic: str, partition: int, offset: int, error: KafkaError | None = None) -> None:
        self._t, self._p, self._o, self._e = topic, partition, offset, error

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def error(self) -> KafkaError | None:
        return self._e


def test_records_drop_error_events_and_track_each_records_offset() -> None:
    checkpoint = Checkpoint(FakeConsumer(), FakeProducer(), service="t")
    msgs = [Msg("a", 0, 5), Msg("a", 0, -1, KafkaError(KafkaError._PARTITION_EOF)), Msg("a", 1, 9),
            Msg("a", 1, -1, KafkaError(KafkaError._TRANSPORT)), Msg("a", 0, 6)]
    got = [(m.partition(), m.offset()) for m in records(msgs, checkpoint)]
    assert got == [(0, 5), (1, 9), (0, 6)]
    assert checkpoint.offsets == {("a", 0): 6, ("a", 1): 9}


def test_the_loop_marks_its_owner_alive_only_while_it_runs() -> None:
    @dataclass
    class Owner:
        alive: bool = False

    owner, seen = Owner(), []
    stop = Stop(waits=1)

    def step() -> None:
        seen.append(owner.alive)
        stop.set()

    ConsumeLoop(FakeConsumer(), None, ["a"], step, "e", liveness=owner).run(stop)
    assert seen == [True] and owner.alive is False


class RefusingConsumer(FakeConsumer):
    """librdkafka's answer to a commit: each partition with its error (partition 1 refused)."""

    def commit(self, offsets: list[TopicPartition], asynchronous: bool = False) -> list[Any]:
        from types import SimpleNamespace

        return [SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=tp.offset,
                                error=KafkaError(KafkaError.REBALANCE_IN_PROGRESS) if tp.partition == 1 else None)
                for tp in offsets]


def test_a_refused_partition_is_returned_by_name_not_raised_and_a_producer_failure_raises() -> None:
    from turnpoint.core.checkpoint import ProducerFlushFailed
    from turnpoint.core.consume import commit

    checkpoint = Checkpoint(RefusingConsumer(), FakeProducer(), service="t")
    checkpoint.track("a", 0, 4)
    checkpoint.track("a", 1, 9)
    refused = commit(checkpoint)
    assert [(f.topic, f.partition, f.offset) for f in refused] == [("a", 1, 10)]

    class Stuck(FakeProducer):
        def flush(self, timeout: float) -> int:
            return 3

    checkpoint = Checkpoint(RefusingConsumer(), Stuck(), service="t")
    checkpoint.track("a", 0, 4)
    with pytest.raises(ProducerFlushFailed):
        commit(checkpoint)
    assert checkpoint.offsets == {("a", 0): 4}  # not committed, kept for the rewind to forget


class Assigning(FakeConsumer):
    incremental: bool = True
    got: list[tuple[str, int, int]] | None = None

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float = 10,
                              cached: bool = False) -> tuple[int, int]:
        return 100, 10_000

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        from confluent_kafka import KafkaException

        if not self.incremental:
            raise KafkaException(KafkaError(KafkaError._STATE))
        self.got = [(tp.topic, tp.partition, tp.offset) for tp in partitions]

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.got = [(tp.topic, tp.partition, -tp.offset) for tp in partitions]  # negated: shows which call


def test_partitions_start_where_the_service_says_warm_starts_bounded_by_the_log_start() -> None:
    from turnpoint.core.consume import assign_from, warm_start

    consumer = Assigning(committed_={("a", 0): 5000, ("a", 1): 2000})
    assign_from(consumer, [TopicPartition("a", 0), TopicPartition("a", 1)],  # type: ignore[arg-type]
                lambda tp: warm_start(consumer, tp, 1000))  # type: ignore[arg-type]
    assert consumer.got == [("a", 0, 4000), ("a", 1, 1000)]
    assert warm_start(consumer, TopicPartition("a", 0, 500), 1000) == 100  # type: ignore[arg-type]
    consumer.incremental = False  # an eager-assignment group: the whole assignment at once
    assign_from(consumer, [TopicPartition("a", 0)], lambda tp: tp.offset)  # type: ignore[arg-type]
    assert consumer.got == [("a", 0, -5000)]
