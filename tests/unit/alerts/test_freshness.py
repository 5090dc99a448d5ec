"""Job freshness beats: one record per job and interval, rows counted in between."""

from __future__ import annotations

import pytest
from turnpoint.core.contracts import JobInfo
from turnpoint.core.freshness import JobBeats

pytestmark = pytest.mark.unit


def test_one_record_per_job_and_interval_with_the_rows_since_start() -> None:
    now = [100.0]
    beats = JobBeats(10.0, clock=lambda: now[0])
    first = beats.beat("ingest.serial.port0", 5)
    assert first is not None and JobInfo.model_validate(first).rows == 5
    assert beats.beat("ingest.serial.port0", 3) is None  # within the interval
    assert beats.beat("ingest.http.cctv", 1) is not None  # another job has its own interval
    now[0] += 10
    again = beats.beat("ingest.serial.port0", 2)
    assert again is not None
    info = JobInfo.model_validate(again)
    assert info.rows == 10 and info.status == "ok" and info.last_success is not None
