"""`turnpoint schedule exec`: the daily market job against the real broker, with its freshness records.

The job re-sends the last 3 days of a market file (`ingest market --last-days 3`), as the Kubernetes CronJob
and the compose `schedule` service run it, and publishes JobInfo `running` then `ok` (or `error`) to the
jobs topic.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from turnpoint.core import topics
from turnpoint.core.kafka import make_consumer
from turnpoint.core.settings import KafkaSettings

pytestmark = pytest.mark.timeout(180)
SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def _jobs(kafka: KafkaSettings, expect: int, timeout: float = 30.0) -> list[dict]:  # type: ignore[type-arg]
    consumer = make_consumer(kafka, f"jobs-reader-{time.monotonic_ns()}")
    consumer.subscribe([topics.JOBS.full_name(kafka.topic_prefix)])
    out: list[dict] = []  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(out) < expect:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                out += orjson.loads(msg.value())["items"]
    finally:
        consumer.close()
    return out


def _exec(kafka: KafkaSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TURNPOINT_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
           "TURNPOINT_KAFKA__TOPIC_PREFIX": kafka.topic_prefix}
    return subprocess.run([sys.executable, "-m", "turnpoint.cli.main", "schedule", "exec", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_market_job_publishes_its_bars_and_its_freshness(kafka_settings: KafkaSettings) -> None:
    done = _exec(kafka_settings, "market-daily", "ingest", "market", "--last-days", "3",
                 "--file", str(SAMPLES / "bars.csv"), "--json")
    assert done.returncode == 0, done.stderr
    records = _jobs(kafka_settings, 2)
    assert [r["status"] for r in records] == ["running", "ok"]
    ok = records[1]
    assert ok["job"] == "market-daily" and ok["last_success"] and ok["rows"] > 0
    symbols = {line.split(",")[0] for line in (SAMPLES / "bars.csv").read_text().splitlines()[1:] if line}
    assert ok["rows"] <= 3 * len(symbols)  # only the last 3 days of each symbol were re-sent


def test_a_failing_job_publishes_error_and_exits_non_zero(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    done = _exec(kafka_settings, "market-daily", "ingest", "market", "--file", str(tmp_path / "missing.csv"))
    assert done.returncode == 1
    records = _jobs(kafka_settings, 2)
    assert [r["status"] for r in records] == ["running", "error"]
    assert records[1]["last_success"] is None and "missing.csv" in records[1]["detail"]
