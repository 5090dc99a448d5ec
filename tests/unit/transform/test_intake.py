"""take_ready and DeliveringConsumer.deliver against fakes of the Faust objects they touch."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from mode.utils.locks import Event

from turnpoint.transform.faust_delivery import DeliveringConsumer
from turnpoint.transform.intake import take_ready


@dataclass(eq=False)
class FakeMessage:
    topic: str
    partition: int
    offset: int
    generation_id: int = 1
    tracked: bool = False
    acked: int = 0

    @property
    def tp(self) -> tuple[str, int]:
        return (self.topic, self.partition)


@dataclass(eq=False)
class FakeEvent:
    message: FakeMessage

    def ack(self) -> bool:
        self.message.acked += 1
        return True


@dataclass
class FakeConsumer:
    tracked: list[int] = field(default_factory=list)

    def track_message(self, message: FakeMessage) -> None:
        self.tracked.append(message.offset)


class FakeSensors:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        self.calls.append(("message_out", offset))

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> dict[str, Any]:
        self.calls.append(("event_in", offset))
        return {}

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any) -> None:
        self.calls.append(("event_out", offset))


class FakeFlowControl:
    def __init__(self) -> None:
        self.active = True

    def is_active(self) -> bool:
        return self.active


class FakeTopics:
    acking_topics = frozenset({"bars"})


class FakeApp:
    def __init__(self) -> None:
        self.consumer = FakeConsumer()
        self.consumer_generation_id = 1
        self.sensors = FakeSensors()
        self.flow_control = FakeFlowControl()
        self.topics = FakeTopics()


class FakeChannel:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[FakeEvent] = asyncio.Queue()


class FakeStream:
    def __init__(self) -> None:
        self.app = FakeApp()
        self.channel = FakeChannel()

    def put(self, *offsets: int, partition: int = 0, generation: int = 1) -> list[FakeEvent]:
        events = [FakeEvent(FakeMessage("bars", partition, o, generation)) for o in offsets]
        for event in events:
            self.channel.queue.put_nowait(event)
        return events


def offsets(events: list[Any]) -> list[int]:
    return [e.message.offset for e in events]


async def test_everything_waiting_comes_as_one_batch_at_once_and_is_acked_after_the_body() -> None:
    stream = FakeStream()
    events = stream.put(0, 1, 2, 3, 4)
    batches = take_ready(stream, 100)
    # no wait for more (Faust's take_events waited `within` for every batch short of its maximum)
    batch = await asyncio.wait_for(anext(batches), 0.5)
    assert offsets(batch) == [0, 1, 2, 3, 4]
    assert stream.app.consumer.tracked == [0, 1, 2, 3, 4]
    assert all(e.message.tracked for e in events)
    assert [e.message.acked for e in events] == [0] * 5  # not before the body ran
    stream.put(5)
    assert offsets(await asyncio.wait_for(anext(batches), 0.5)) == [5]
    assert [e.message.acked for e in events] == [1] * 5
    await batches.aclose()


async def test_a_batch_holds_at_most_max_events_and_the_rest_follow_in_order() -> None:
    stream = FakeStream()
    stream.put(*range(7))
    batches = take_ready(stream, 3)
    got = [offsets(await asyncio.wait_for(anext(batches), 0.5)) for _ in range(3)]
    assert got == [[0, 1, 2], [3, 4, 5], [6]]
    await batches.aclose()


async def test_the_first_event_is_awaited_and_a_lone_event_goes_out_alone() -> None:
    stream = FakeStream()
    batches = take_ready(stream, 100)
    pending = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0.05)
    assert not pending.done()
    stream.put(9)
    assert offsets(await asyncio.wait_for(pending, 0.5)) == [9]
    await batches.aclose()


async def test_events_of_an_old_generation_or_during_suspended_flow_are_acked_and_dropped() -> None:
    stream = FakeStream()
    old = stream.put(0, 1, generation=0)
    current = stream.put(2)
    batches = take_ready(stream, 100)
    assert offsets(await asyncio.wait_for(anext(batches), 0.5)) == [2]
    assert [e.message.acked for e in old] == [1, 1]
    assert stream.app.consumer.tracked == [2]
    stream.app.flow_control.active = False  # a rebalance began: what is taken now is dropped
    suspended = stream.put(3)
    pending = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0.05)
    assert not pending.done()  # the suspended event was not handed over
    stream.app.flow_control.active = True
    assert suspended[0].message.acked == 1 and current[0].message.acked == 1
    stream.put(4)
    assert offsets(await asyncio.wait_for(pending, 0.5)) == [4]
    await batches.aclose()


async def test_a_batch_whose_body_raised_or_left_the_loop_is_never_acked() -> None:
    stream = FakeStream()
    events = stream.put(0, 1)

    async def consume() -> None:
        batches = take_ready(stream, 100)
        try:
            async for _batch in batches:
                raise RuntimeError("boom")
        finally:
            await batches.aclose()

    with pytest.raises(RuntimeError):
        await consume()
    assert [e.message.acked for e in events] == [0, 0]  # Faust may not commit what was not published
    more = stream.put(2)
    batches = take_ready(stream, 100)
    async for _batch in batches:
        break
    await batches.aclose()
    assert more[0].message.acked == 0


async def test_stream_sensors_see_the_last_event_of_each_partition_per_batch() -> None:
    stream = FakeStream()
    stream.put(0, 1, 2, partition=0)
    stream.put(10, 11, partition=1)
    batches = take_ready(stream, 100)
    await asyncio.wait_for(anext(batches), 0.5)
    sensors = stream.app.sensors.calls
    assert sensors == [("event_in", 2), ("event_in", 11)]
    stream.put(3)
    await asyncio.wait_for(anext(batches), 0.5)
    assert sensors[2:7] == [("message_out", o) for o in (0, 1, 2, 10, 11)]
    assert sensors[7:9] == [("event_out", 2), ("event_out", 11)]
    await batches.aclose()


class FakeDeliveringConsumer:
    """What DeliveringConsumer.deliver uses of the consumer: its callback, suspend_flow and wait_first."""

    deliver = DeliveringConsumer.deliver

    def deliver_now(self, message: Any) -> bool:
        return False  # these tests are about the deliveries that take Faust's handler (test_faust_delivery.py)

    def __init__(self, callback: Any) -> None:
        self.callback = callback
        self.suspend_flow = Event()
        self.raced = 0

    async def wait_first(self, *coros: Any) -> None:
        """mode's Service.wait_first: the first of the awaitables to finish wins, the others are cancelled."""
        self.raced += 1
        tasks = [asyncio.ensure_future(c) for c in coros]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()


async def test_a_delivery_that_does_not_block_runs_without_a_race() -> None:
    delivered: list[int] = []

    async def callback(message: int) -> None:
        delivered.append(message)

    consumer = FakeDeliveringConsumer(callback)
    for m in range(3):
        await consumer.deliver(m)
    assert delivered == [0, 1, 2]
    assert consumer.raced == 0  # Faust's loop raced four tasks for each of these


async def test_a_blocked_delivery_finishes_when_it_unblocks() -> None:
    room = asyncio.Event()
    delivered: list[int] = []

    async def callback(message: int) -> str:
        await room.wait()  # a full queue
        delivered.append(message)
        return "done"

    consumer = FakeDeliveringConsumer(callback)
    pending = asyncio.ensure_future(consumer.deliver(7))
    await asyncio.sleep(0.05)
    assert not pending.done() and delivered == []
    room.set()
    await asyncio.wait_for(pending, 1.0)
    assert delivered == [7]
    assert consumer.raced == 1


async def test_a_blocked_delivery_is_abandoned_when_the_flow_is_suspended() -> None:
    cancelled = asyncio.Event()

    async def callback(message: int) -> None:
        try:
            await asyncio.Event().wait()  # never has room
        except asyncio.CancelledError:
            cancelled.set()
            raise

    consumer = FakeDeliveringConsumer(callback)
    pending = asyncio.ensure_future(consumer.deliver(1))
    await asyncio.sleep(0.05)
    consumer.suspend_flow.set()  # a rebalance
    await asyncio.wait_for(pending, 1.0)
    await asyncio.wait_for(cancelled.wait(), 1.0)


async def test_an_error_of_a_blocked_delivery_reaches_the_loop() -> None:
    async def callback(message: int) -> None:
        await asyncio.sleep(0.01)
        raise ValueError("bad delivery")

    consumer = FakeDeliveringConsumer(callback)
    with pytest.raises(ValueError, match="bad delivery"):
        await consumer.deliver(1)


async def test_an_error_raised_before_blocking_reaches_the_loop() -> None:
    async def callback(message: int) -> None:
        raise KeyError(message)

    consumer = FakeDeliveringConsumer(callback)
    with pytest.raises(KeyError):
        await consumer.deliver(1)
    assert consumer.raced == 0


async def test_the_batches_end_when_faust_ends_the_channel() -> None:
    stream = FakeStream()
    stream.put(0)

    class EndingQueue(asyncio.Queue[FakeEvent]):
        """Faust's ThrowableQueue once the channel is stopped: `get` raises what was thrown into it."""

        ended = False

        async def get(self) -> FakeEvent:
            if self.ended:
                raise StopAsyncIteration
            return await super().get()

    queue = EndingQueue()
    queue.put_nowait(stream.channel.queue.get_nowait())
    stream.channel.queue = queue
    got = []

    async def consume() -> None:
        async for batch in take_ready(stream, 100):
            got.append(offsets(batch))
            queue.ended = True

    await asyncio.wait_for(consume(), 1.0)  # ends: no RuntimeError("async generator raised StopAsyncIteration")
    assert got == [[0]]
