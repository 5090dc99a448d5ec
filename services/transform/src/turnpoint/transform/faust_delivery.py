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
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer


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


class DeliveringConsumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer with a delivery loop that awaits only deliveries that block."""

    async def deliver(self, message: Any) -> None:
        """Hand one message to the conductor (the consumer's callback)."""
        coro = cast("Coroutine[Any, Any, Any]", self.callback(message))  # the conductor's `async def on_message`
        if self.suspend_flow.is_set():
            await self.wait_first(coro, self.suspend_flow.wait())
            return
        try:
            yielded = coro.send(None)
        except StopIteration:
            return  # delivered without waiting: the common case
        await self.wait_first(_rest(coro, yielded), self.suspend_flow.wait())

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - exercised by the broker tests
        deliver = self.deliver
        getmany = self.getmany
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
                records = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in records:
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


def install(app: Any) -> None:
    """Make `app` create a `DeliveringConsumer` (before its consumer exists: call from the composition root)."""
    transport = app.transport
    if not issubclass(cast(type, transport.Consumer), AIOKafkaConsumer):
        msg = f"faust transport {type(transport).__name__} is not the aiokafka one DeliveringConsumer extends"
        raise RuntimeError(msg)
    transport.Consumer = DeliveringConsumer
