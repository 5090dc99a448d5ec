"""Batches of events straight from an agent's channel: whatever is waiting, at once.

Faust's `Stream.take_events(max, within)` waits the whole `within` for every batch unless `max` events
arrive first, and its background drainer moves events one at a time through the stream's per-event
machinery (processors, sensors, a task-local current event) and stops while the agent works on a batch.
In the live shape (one record per message) that held a worker near 3,000 messages/s: each 50 ms window
collected ~400 events, then the agent processed and published them while nothing was collected.

`take_ready` awaits the first event, takes every event already queued without waiting (up to `max_`),
and yields them: under load batches form by themselves (events queue up while the previous batch is
processed and acknowledged), and under light load one event goes out at once.

It keeps the per-event bookkeeping of Faust's stream iteration that offsets and rebalances rely on
(faust/streams.py, `Stream._py_aiter`, faust-streaming 0.15):
- an event of an older consumer generation, or taken while flow control is suspended (a rebalance), is
  acked and dropped;
- a message of an acking topic is tracked as pending (`Consumer.track_message`) before it is handed over;
- every event is acked once the body of the `async for` ran for its batch (then Faust may commit its
  offset); never when the body raised or the loop was left (`take_events` acked them then too, which
  would let Faust commit offsets whose results were never published);
- Faust ends a channel's readers by throwing `StopAsyncIteration` into its queue: the batches end;
- the stream sensors see one event per partition and batch (the last), not each: enough for Faust's
  monitor to know the stream is alive (its "stream idle" check reads `stream_inbound_time`), at a
  fraction of the cost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from faust.types import EventT


async def take_ready(stream: Any, max_: int) -> AsyncIterator[list[EventT]]:
    """Batches of at most `max_` events of the agent's stream, as soon as at least one is there."""
    app = stream.app
    queue = stream.channel.queue  # the queue the conductor fills for this agent (`App.stream` aiter()s it)
    acking_topics = app.topics.acking_topics
    sensors = app.sensors
    flow_control = app.flow_control
    while True:
        try:
            waiting = [await queue.get()]
        except StopAsyncIteration:  # Faust throws it into the channel's queue to end its readers (shutdown)
            return
        while len(waiting) < max_ and not queue.empty():
            waiting.append(queue.get_nowait())
        consumer = app.consumer
        generation = app.consumer_generation_id
        active = flow_control.is_active()
        events: list[EventT] = []
        for event in waiting:
            message = event.message
            if not active or message.generation_id != generation:
                _ack(event, sensors)  # a message of a revoked assignment: Faust's stream skips it the same way
                continue
            if message.topic in acking_topics and not message.tracked:
                message.tracked = True
                consumer.track_message(message)
            events.append(event)
        if not events:
            continue
        last = {event.message.tp: event for event in events}
        seen = [(tp, event, sensors.on_stream_event_in(tp, event.message.offset, stream, event))
                for tp, event in last.items()]
        yield events
        for event in events:  # not reached when the body raised or the loop was left (GeneratorExit)
            _ack(event, sensors)
        for tp, event, state in seen:
            sensors.on_stream_event_out(tp, event.message.offset, stream, event, state)


def _ack(event: EventT, sensors: Any) -> None:
    """`Stream.ack` without a stream: the message's offset counts as done once its last reader acked it."""
    if event.ack():
        message = event.message
        sensors.on_message_out(message.tp, message.offset, message)
