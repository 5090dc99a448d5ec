"""The model's stream worker survives an unexpected batch error with the services' ECS JSON logging.

Found by tests/e2e/test_faults.py (broker frozen): `log.error(..., error=str(exc), exc_info=True)` made
ecs_logging raise TypeError (it puts the stack trace under `error`, which was a string), so the handler
meant to keep the stream alive killed the worker thread; /healthz stayed 503 and the process was never
restarted.
"""

from __future__ import annotations

import threading

import structlog

from turnpoint.core.kafka import make_consumer, make_producer
from turnpoint.core.observability import configure_logging
from turnpoint.model.worker import StreamWorker, Topics


def test_worker_survives_an_unexpected_error_with_ecs_logs(kafka_settings, unique: str) -> None:
    configure_logging("model", fmt="json")
    stop = threading.Event()
    calls = {"n": 0}

    def step() -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            msg = "an unexpected failure"
            raise RuntimeError(msg)
        stop.set()
        return 0

    worker = StreamWorker(consumer=make_consumer(kafka_settings, f"rel-{unique}"), producer=make_producer(kafka_settings),
                          predictor=None, topics=Topics.with_prefix(kafka_settings.topic_prefix))  # type: ignore[arg-type]
    worker.step = step  # type: ignore[method-assign]
    worker._rewind = lambda: None  # type: ignore[method-assign]
    try:
        worker.run(stop)
    finally:
        structlog.reset_defaults()
    assert calls["n"] == 2, "the worker did not go on after the failed batch"
