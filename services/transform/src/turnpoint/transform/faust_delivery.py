"""The worker's Faust consumer: Faust's delivery loop without four asyncio tasks per message.

faust-streaming's `Consumer._drain_messages` hands each fetched message to the conductor with
`await self.wait_first(callback(message), self.suspend_flow.wait())`, so that a delivery blocked on a
full queue or on suspended flow control is abandoned when a rebalance suspends the flow. `wait_first`
wraps every argument, and the service's stopped and crashed events, in a task and awaits
`asyncio.wait`: four tasks and their cancellation per message, which in the live shape (one record per
message) was the largest single cost of the worker, ahead of the processing itself.

Nearly every delivery finishes without suspending: the queue has room and the flow is not suspended.
`DeliveringConsumer` steps the conductor's coroutine once by hand; when that finishes it, the message is
delivered exactly as the original would have delivered it. Otherwise the coroutine, suspended where it
blocked, goes on under Faust's own `wait_first` race against `suspend_flow`, as before. The rest of the
loop (read offsets, gaps, `broker_commit_every`, yielding to the event loop every 100 messages, the
errors that end it) is Faust's, from faust-streaming 0.15 (`faust.transport.consumer.Consumer`), the
version `faust_internals.check` pins.

For a partition whose one subscriber is a raw-bytes channel (every input topic of the worker),
`deliver_now` does synchronously what the conductor's per-partition handler (Faust's compiled
`ConductorHandler`) would do: put on the channel's queue the event of the message's own key and value
bytes (the raw codec hands them over unchanged), with the handler's pressure callbacks, and count the
message's one reader. No coroutine, no conductor lock, no serializer registry, no producer-buffer
await. It declines (and the message takes Faust's own path) whenever that path could do anything else:
the subscriptions are being updated, the flow is suspended, Faust's producer buffer is over its limit,
the queue is full, the partition has another kind of subscriber or several.

Faust also creates its aiokafka consumer with `fetch_max_wait_ms=1500`, fixed. Apache Kafka answers a
fetch as soon as a record arrives, but Tansu holds every fetch for its whole maximum wait whatever
arrives meanwhile (measured: a record produced during a fetch was received after a uniform 0 to
`fetch_max_wait_ms`, 9-680 ms with 1500). A worker that had caught up then saw each new record up to
1.5 s late, and a partition resumed after its stream buffer was full waited as long for its next fetch.
`install` gives the consumer the worker's own `fetch_wait_ms` instead.

A partition whose stream buffer is full (the agent is behind) leaves Faust's fetch until the agent
drained it. Faust's `getmany` then waited its whole 1 s timeout for the other partitions (idle in the
live shape), or slept 1 s when no partition was left, while the agent ran dry: a timeline of a
100,000-message run showed the agent idle for 1 s after every ~40,000 messages. `_fetched` looks again
every `BUFFERED_POLL_SECONDS` while a partition is buffered.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator, Iterator
from typing import Any, cast

from faust.transport.conductor import ConductorHandler
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer

# How soon the delivery loop looks again for the records of a partition whose stream buffer was full.
BUFFERED_POLL_SECONDS = 0.01


@types.coroutine
def _continue(coro: Coroutine[Any, Any, Any], yielded: Any) -> Generator[Any, Any, Any]:
    """Drive `coro`, already stepped once and suspended on `yielded`, to its end."""
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # a cancellation, or what the awaited future raised: pass it in
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as stop:
                return stop.value


async def _rest(coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    return await _continue(coro, yielded)


def _raw(channel: Any) -> bool:
    """Faust decodes this channel's messages to their own key and value bytes (raw codec, no model)."""
    schema = channel.schema
    return (schema.key_serializer == "raw" and schema.value_serializer == "raw"
            and schema.key_type in (None, bytes) and schema.value_type in (None, bytes))


class FetchWaitThread(AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread, its consumer's fetches held at most `fetch_wait_ms` by the broker."""

    fetch_wait_ms = 1500  # Faust's own; `install` sets the worker's

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        if getattr(consumer, "_fetch_max_wait_ms", None) != 1500:  # aiokafka keeps it until `start` makes the fetcher
            msg = "aiokafka's AIOKafkaConsumer no longer keeps Faust's fetch_max_wait_ms as _fetch_max_wait_ms"
            raise RuntimeError(msg)
        consumer._fetch_max_wait_ms = self.fetch_wait_ms
        return consumer


class DeliveringConsumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer with a delivery loop that awaits only deliveries that block."""

    thread_class: type[FetchWaitThread] = FetchWaitThread

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return self.thread_class(self, loop=self.loop, beacon=self.beacon)

    async def deliver(self, message: Any) -> None:
        """Hand one message to the conductor (the consumer's callback)."""
        if self.deliver_now(message):
            return
        coro = cast("Coroutine[Any, Any, Any]", self.callback(message))  # the conductor's `async def on_message`
        if self.suspend_flow.is_set():
            await self.wait_first(coro, self.suspend_flow.wait())
            return
        try:
            yielded = coro.send(None)
        except StopIteration:
            return  # delivered without waiting: the common case
        await self.wait_first(_rest(coro, yielded), self.suspend_flow.wait())

    _event_type: Any = None  # the app's Event class, read once (Faust's settings are slow to read)

    def deliver_now(self, message: Any) -> bool:
        """Put the message's event on its lone raw-bytes channel's queue now, as the conductor's handler
        would; False (nothing done) when that handler could wait or do anything else."""
        app = self.app
        event_type = self._event_type
        if event_type is None:
            if app.conf.producer_threaded:
                return False  # Faust's producer buffer is then another queue: always its own path
            event_type = self._event_type = app.conf.Event
        conductor: Any = app.topics  # Faust's Conductor: its handler map and lock are not in ConductorT
        if conductor._tp_to_callback_lock.locked():
            return False  # the subscriptions are being updated: Faust's handler waits for the lock
        handler = conductor._tp_to_callback.get(message.tp)
        if ConductorHandler is None or type(handler) is not ConductorHandler:
            return False
        channels = handler.channels
        if len(channels) != 1 or not app.flow_control.is_active():
            return False
        buffer: Any = app.producer.buffer
        if len(buffer.pending._queue) > buffer.max_messages:  # `buffer.size`, without its settings lookup
            return False  # Faust's handler would flush its producer first
        (channel,) = channels
        queue = channel.queue
        if queue.full() or not _raw(channel):
            return False
        message.incref(1)
        queue.put_nowait_enhanced(event_type(app, message.key, message.value, message.headers, message),
                                  on_pressure_high=handler.on_pressure_high, on_pressure_drop=handler.on_pressure_drop)
        return True

    async def _fetched(self, timeout: float) -> Iterator[tuple[Any, Any]]:
        """Faust's `Consumer.getmany` with its awaits done first: the fetched messages as a plain iterator
        (an async generator costs a coroutine step per message)."""
        if self._buffered_partitions:
            # A partition's stream buffer is full, so it is left out of the fetch until the agent drains it
            # (`on_buffer_drop`). Faust would wait the whole `timeout` for the other partitions' records,
            # or sleep 1 s when none is left: the agent then idled with records fetched for it.
            timeout = min(timeout, BUFFERED_POLL_SECONDS)
            if not self._get_active_partitions() and not self.app.client_only and self.flow_active:
                await self.sleep(timeout)
                return iter(())
        records, active_partitions = await self._wait_next_records(timeout)
        if records is None or self.should_stop:
            return iter(())
        if not self.flow_active:
            self.log.dev("getmany called while flow not active. Seek back to committed offsets.")
            try:
                await self.perform_seek()
            except Exception as ex:
                self.log.warning(f"exception performing seek when flow not active {ex}")
            return iter(())
        return self._messages(records, active_partitions, self.app.consumer_generation_id)

    def _messages(self, records: Any, active_partitions: Any, generation_id: int) -> Iterator[tuple[Any, Any]]:
        """The rest of Faust's `getmany`: each record as a message, until the flow stops or the
        generation changes (checked before each, as Faust does)."""
        app = self.app
        to_message = self._to_message
        highwater = self.highwater
        track_end = app.monitor.track_tp_end_offset
        buffered = self._buffered_partitions
        for tp, record in self.scheduler.iterate(records):
            if not self.flow_active:
                return
            new_generation_id = app.consumer_generation_id
            if new_generation_id != generation_id:
                self.log.dev("Generation id changed from %r to %r. Cancelling getmany.", generation_id,
                             new_generation_id)
                return
            if active_partitions is None or tp in active_partitions or tp in buffered:
                track_end(tp, highwater(tp))
                yield tp, to_message(tp, record)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - exercised by the broker tests
        deliver_now = self.deliver_now
        deliver = self.deliver
        fetched = self._fetched
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                await self.sleep(0)
                if not self.should_stop:
                    for tp, message in await fetched(1.0):
                        since_yield += 1
                        if since_yield > 100:
                            await asyncio.sleep(0)
                            since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            if offset - (r_offset or 0) > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            if not deliver_now(message):
                                await deliver(message)
                            set_read_offset(tp, offset)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


def install(app: Any, fetch_wait_ms: int = 1500) -> None:
    """Make `app` create a `DeliveringConsumer` whose fetches the broker holds at most `fetch_wait_ms`
    (before its consumer exists: call from the composition root)."""
    transport = app.transport
    if not issubclass(cast(type, transport.Consumer), AIOKafkaConsumer):
        msg = f"faust transport {type(transport).__name__} is not the aiokafka one DeliveringConsumer extends"
        raise RuntimeError(msg)
    thread = type("FetchWaitThread", (FetchWaitThread,), {"fetch_wait_ms": fetch_wait_ms})
    transport.Consumer = type("DeliveringConsumer", (DeliveringConsumer,), {"thread_class": thread})
