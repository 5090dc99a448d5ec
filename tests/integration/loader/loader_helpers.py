"""Helpers of the loader's integration tests (a module name unique in the suite)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest


@contextlib.contextmanager
def running(app: Any, timeout: float = 20.0) -> Iterator[Any]:
    """Run a bootstrapped loader on a thread; stop it and check it ended cleanly."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            app.run(stop)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="loader", daemon=True)
    thread.start()
    try:
        yield app
    finally:
        stop.set()
        thread.join(timeout)
        assert not thread.is_alive(), "the loader did not stop within the timeout"
    if errors:
        raise errors[0]


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll until predicate() is truthy; fail with a clear message after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout:.0f}s (last value {last!r})")


def query(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


def dead_letters(kafka_settings: Any, expected: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Read `expected` dead letters of the loader's dead-letter topic (fails if fewer arrive)."""
    import uuid

    from turnpoint.core import topics
    from turnpoint.core.kafka import make_consumer

    consumer = make_consumer(kafka_settings, f"dlq-reader-{uuid.uuid4().hex[:8]}")
    consumer.subscribe([kafka_settings.topic_prefix + topics.LOADER_DLQ])
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=100, timeout=0.5):
                if msg.error() is None:
                    out.extend(orjson.loads(msg.value())["items"])
    finally:
        consumer.close()
    assert len(out) >= expected, f"expected {expected} dead letters, got {len(out)}: {out}"
    return out
