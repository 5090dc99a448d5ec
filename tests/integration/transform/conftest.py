"""Run real transform workers (`turnpoint transform worker` processes) against the session's broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.transform import Worker


@pytest.fixture
def transform_worker(kafka_settings: Any, tmp_path: Path) -> Iterator[Worker]:
    env = {
        "TURNPOINT_KAFKA__BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "TURNPOINT_KAFKA__TOPIC_PREFIX": kafka_settings.topic_prefix,
        "TURNPOINT_KAFKA__PARTITIONS": str(kafka_settings.partitions),
        "TURNPOINT_TRANSFORM__DATA_DIR": str(tmp_path / "transform"),
        "TURNPOINT_TZ": "Asia/Seoul",
    }
    worker = Worker(env, tmp_path / "worker.log", ("-l", "info"))
    try:
        yield worker
    finally:
        worker.stop()
