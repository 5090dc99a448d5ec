"""Fixtures of the loader's integration tests: a migrated fresh database and an in-process loader."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

# The test modules import `loader_helpers` from this folder whatever pytest's import mode is.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def migrated_db(fresh_database: str) -> str:
    from turnpoint.loader.migrations import migrate

    migrate(fresh_database)
    return fresh_database


@pytest.fixture
def loader_settings(kafka_settings: Any, migrated_db: str, unique: str) -> Any:
    from turnpoint.loader.settings import LoaderOptions, LoaderSettings

    return LoaderSettings(
        kafka=kafka_settings,
        database_url=migrated_db,
        loader=LoaderOptions(
            port=0, batch_size=5_000, flush_interval_ms=100, group_id=f"loader-{unique}",
            retry_initial_ms=100, retry_max_ms=500,
        ),
    )


@pytest.fixture
def produce(kafka_settings: Any) -> Iterator[Callable[..., None]]:
    """produce(topic_spec, items, key=None): one envelope per call, flushed."""
    from turnpoint.core.kafka import make_producer

    producer = make_producer(kafka_settings)

    def send(spec: Any, items: list[dict[str, Any]] | bytes, key: str | None = None, partition: int | None = None) -> None:
        value = items if isinstance(items, bytes) else orjson.dumps({"v": 1, "items": items})
        kwargs: dict[str, Any] = {"value": value, "key": key}
        if partition is not None:
            kwargs["partition"] = partition
        producer.produce(kafka_settings.topic_prefix + spec.name, **kwargs)
        assert producer.flush(10) == 0

    yield send
    producer.flush(10)
