"""Helpers for the ingest integration tests: read back what was published, with timeouts."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from turnpoint.core.kafka import make_consumer
from turnpoint.core.settings import KafkaSettings


def read_topic(kafka: KafkaSettings, topic: str, expect_items: int, timeout: float = 20.0) -> list[tuple[str, list[dict[str, Any]]]]:
    """(key, items) of every message on `topic` until `expect_items` items arrived or `timeout` passed."""
    consumer = make_consumer(kafka, f"reader-{topic}-{time.monotonic_ns()}")
    consumer.subscribe([topic])
    out: list[tuple[str, list[dict[str, Any]]]] = []
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and seen < expect_items:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            items = orjson.loads(msg.value())["items"]
            out.append(((msg.key() or b"").decode(), items))
            seen += len(items)
    finally:
        consumer.close()
    return out


@pytest.fixture
def topic_reader():  # type: ignore[no-untyped-def]
    """`read_topic(kafka, topic, expect_items, timeout)` for tests."""
    return read_topic


@pytest.fixture
def ingest_settings(kafka_settings: KafkaSettings, tmp_path):  # type: ignore[no-untyped-def]
    from turnpoint.ingest.settings import IngestConfig, IngestSettings

    return IngestSettings(kafka=kafka_settings, ingest=IngestConfig(port=0, spool_dir=tmp_path / "spool"))


@pytest.fixture
def ingest_database(fresh_database: str) -> str:
    """A fresh database with the project's migrations applied (api_token, ingest_idempotency, ...)."""
    from turnpoint.loader.migrations import migrate

    migrate(fresh_database)
    return fresh_database
