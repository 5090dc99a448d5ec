"""Waiting for Kafka's acknowledgements from asyncio code (the write API answers 202 only after them)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException, Message

from turnpoint.ingest.errors import DeliveryFailed
from turnpoint.ingest.publisher import Publisher
from turnpoint.ingest.write_api.plan import Planned


class Poller:
    """Serves a producer's delivery callbacks on a daemon thread (the asyncio loop never blocks on them)."""

    def __init__(self, publisher: Publisher, interval: float = 0.05) -> None:
        self.publisher = publisher
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-kafka-poll", daemon=True)

    def start(self) -> Poller:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.publisher.producer.poll(self.interval)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


async def publish_and_wait(publisher: Publisher, topic: str, messages: Sequence[Planned], timeout: float) -> int:
    """Produce `messages` (already encoded and sized) and wait for all acks; return how many were sent.

    Raises DeliveryFailed when any message fails or not all are acknowledged within `timeout` seconds.
    """
    if not messages:
        return 0
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    state = {"pending": len(messages)}
    errors: list[str] = []

    def settle(err: KafkaError | None) -> None:
        state["pending"] -= 1
        if err is not None:
            errors.append(str(err))
        if state["pending"] == 0 and not done.done():
            done.set_result(None)

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        loop.call_soon_threadsafe(settle, err)

    try:
        for m in messages:
            publisher.produce_raw(topic, m.key, m.value, m.items, on_delivery)
    except KafkaException as exc:  # refused locally (e.g. the broker's metadata is unknown)
        msg = f"Kafka refused a message: {exc}"
        raise DeliveryFailed(msg) from None
    try:
        await asyncio.wait_for(asyncio.shield(done), timeout)
    except TimeoutError:
        msg = f"Kafka did not acknowledge {state['pending']} of {len(messages)} messages within {timeout:.0f}s"
        raise DeliveryFailed(msg) from None
    if errors:
        msg = f"Kafka refused {len(errors)} of {len(messages)} messages: {errors[0]}"
        raise DeliveryFailed(msg)
    return len(messages)
