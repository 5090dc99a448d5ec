"""Sources publish their freshness on turnpoint.jobs.v1 (real broker): a published file is a job success."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from turnpoint.core import topics
from turnpoint.core.contracts import JobInfo
from turnpoint.core.kafka import make_consumer
from turnpoint.core.serde import decode_items
from turnpoint.core.settings import TurnpointSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_a_published_readings_file_marks_its_job_fresh(kafka_settings: Any, tmp_path: Path, unique: str) -> None:
    from turnpoint.ingest.files import publish_readings_file

    path = tmp_path / "log.csv"
    path.write_text("series,ts,value\nplant0/people,2025-03-01T09:00:00Z,4\nplant0/people,2025-03-01T09:01:00Z,5\n")
    summary = publish_readings_file(TurnpointSettings(kafka=kafka_settings), path)
    assert summary.published == 2
    consumer = make_consumer(kafka_settings, f"jobs-{unique}")
    consumer.subscribe([topics.JOBS.full_name(kafka_settings.topic_prefix)])
    jobs: list[JobInfo] = []
    try:
        deadline = time.monotonic() + 60
        while not jobs and time.monotonic() < deadline:
            for msg in consumer.consume(100, 0.5):
                if msg.error() is None:
                    assert msg.key() == b"ingest.file.readings"
                    jobs += decode_items(JobInfo, msg.value())
    finally:
        consumer.close()
    [job] = jobs
    assert job.job == "ingest.file.readings" and job.status == "ok" and job.rows == 2
    assert job.last_success is not None and "log.csv" in job.detail
