"""DeliveringConsumer.deliver_now against a real (unstarted) Faust app and its compiled conductor handler:
the event it queues is the one Faust's handler queues, and it declines whenever that handler could do
anything else."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import pytest
from faust.transport.conductor import ConductorHandler
from faust.types import TP, Message

from turnpoint.transform import faust_delivery


def test_fausts_compiled_conductor_is_installed() -> None:
    assert ConductorHandler is not None  # without it every message takes Faust's slower path

TOPIC = TP("in", 0)


def message(offset: int, key: bytes | None = b"AAPL", value: bytes | None = b'{"v":1}') -> Message:
    return Message(TOPIC.topic, TOPIC.partition, offset, 1.0, 0, [("h", b"1")], key, value, None)


def app_with(*serializers: str, maxsize: int = 10) -> tuple[faust.App, list[Any]]:
    """An app with the worker's consumer and one agent-like channel per value serializer on TOPIC."""
    app = faust.App(f"t-{id(serializers)}", broker="kafka://127.0.0.1:1", store="memory://",
                    stream_buffer_maxsize=maxsize)
    faust_delivery.install(app)
    channels = []
    for value_serializer in serializers:
        chan = app.topic(TOPIC.topic, key_serializer="raw", value_serializer=value_serializer).clone(
            is_iterator=True)
        app.topics.add(chan)
        app.topics._tp_index[TOPIC].add(chan)
        channels.append(chan)
    app.topics._update_callback_map()
    app.flow_control.resume()
    return app, channels


def queued(chan: Any) -> list[Any]:
    out = []
    while not chan.queue.empty():
        out.append(chan.queue.get_nowait())
    return out


async def test_the_event_queued_is_the_one_fausts_handler_queues() -> None:
    app, (chan,) = app_with("raw")
    consumer = app.consumer
    assert isinstance(consumer, faust_delivery.DeliveringConsumer)
    ours, fausts = message(1), message(1)
    assert consumer.deliver_now(ours)
    await app.topics._tp_to_callback[TOPIC](fausts)
    mine, theirs = queued(chan)
    assert mine.message is ours and theirs.message is fausts
    assert (mine.key, mine.value, mine.headers) == (theirs.key, theirs.value, theirs.headers) == (
        b"AAPL", b'{"v":1}', {"h": b"1"})
    assert type(mine) is type(theirs)
    assert ours.refcount == fausts.refcount == 1  # one reader to ack it before its offset counts as done
    empty, empty_fausts = message(2, key=None, value=None), message(2, key=None, value=None)
    assert consumer.deliver_now(empty)
    await app.topics._tp_to_callback[TOPIC](empty_fausts)
    mine, theirs = queued(chan)
    assert (mine.key, mine.value) == (theirs.key, theirs.value) == (None, None)


async def test_messages_keep_their_order_through_both_paths() -> None:
    app, (chan,) = app_with("raw", maxsize=4)
    consumer = app.consumer
    pending = []
    for offset in range(6):  # the queue is full after 4: the rest wait in Faust's handler, in turn
        pending.append(asyncio.ensure_future(consumer.deliver(message(offset))))
        await asyncio.sleep(0)
        if offset == 3:
            assert [e.message.offset for e in queued(chan)] == [0, 1, 2, 3]
    await asyncio.wait_for(asyncio.gather(*pending), 1.0)
    assert [e.message.offset for e in queued(chan)] == [4, 5]


@pytest.mark.parametrize("why", ["suspended flow", "full queue", "subscriptions updating", "producer buffer",
                                 "two channels", "json channel", "unassigned"])
async def test_it_declines_whenever_fausts_handler_could_do_anything_else(why: str) -> None:
    app, channels = app_with(*(["raw", "raw"] if why == "two channels" else
                               ["json"] if why == "json channel" else ["raw"]), maxsize=1)
    lock = app.topics._tp_to_callback_lock
    msg = message(1)
    if why == "suspended flow":
        app.flow_control.suspend()
    elif why == "full queue":
        channels[0].queue.put_nowait(object())
    elif why == "subscriptions updating":
        await lock.acquire()
    elif why == "producer buffer":
        app.producer.buffer.max_messages = -1
    elif why == "unassigned":
        msg = Message("other", 0, 1, 1.0, 0, [], b"k", b"v", None)
    before = [chan.queue.qsize() for chan in channels]
    assert not app.consumer.deliver_now(msg)
    assert [chan.queue.qsize() for chan in channels] == before
    assert msg.refcount == 0


async def test_the_aiokafka_consumer_gets_the_workers_fetch_wait() -> None:
    """Faust fixes fetch_max_wait_ms=1500; Tansu holds a fetch that long whatever arrives meanwhile."""
    for wait in (20, 250):
        app = faust.App(f"fw-{wait}", broker="kafka://127.0.0.1:1", store="memory://")
        faust_delivery.install(app, wait)
        aiokafka_consumer = app.consumer._thread._create_worker_consumer(app.transport)
        assert aiokafka_consumer._fetch_max_wait_ms == wait
    plain = faust.App("fw-faust", broker="kafka://127.0.0.1:1", store="memory://")
    assert plain.consumer._thread._create_worker_consumer(plain.transport)._fetch_max_wait_ms == 1500


class FetchSpy:
    """Records how the delivery loop asks Faust for records, and how long it sleeps instead."""

    def __init__(self, consumer: Any) -> None:
        self.asked: list[float] = []
        self.slept: list[float] = []
        consumer._wait_next_records = self.wait_next_records
        consumer.sleep = self.sleep

    async def wait_next_records(self, timeout: float) -> tuple[dict[Any, Any], set[Any]]:
        self.asked.append(timeout)
        return {}, set()

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


async def test_a_partition_with_a_full_buffer_is_looked_at_again_soon() -> None:
    app, _ = app_with("raw")
    consumer = app.consumer
    spy = FetchSpy(consumer)
    other = TP("other", 0)
    consumer._set_active_tps({TOPIC, other})
    assert list(await consumer._fetched(1.0)) == []
    assert spy.asked == [1.0]  # nothing buffered: Faust's own long wait for records
    consumer.on_buffer_full(TOPIC)  # its agent is behind: left out of the fetch until it drains
    await consumer._fetched(1.0)
    assert spy.asked[-1] == faust_delivery.BUFFERED_POLL_SECONDS  # not 1 s of waiting for `other` alone
    consumer.on_buffer_full(other)  # every partition buffered: Faust would sleep 1 s
    await consumer._fetched(1.0)
    assert len(spy.asked) == 2 and spy.slept == [faust_delivery.BUFFERED_POLL_SECONDS]
    consumer.on_buffer_drop(TOPIC)
    consumer.on_buffer_drop(other)
    await consumer._fetched(1.0)
    assert spy.asked[-1] == 1.0
