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


def test_serve_runs_a_due_job_answers_health_and_stops_on_sigterm(kafka_settings: KafkaSettings) -> None:
    """`schedule serve` as compose and `dev up` run it: a job every minute, /healthz, a clean SIGTERM."""
    import json
    import signal
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    jobs = [{"name": "symbols-minutely", "cron": "* * * * *",
             "args": ["ingest", "symbols", "--file", str(SAMPLES / "symbols.csv"), "--json"]}]
    env = {**os.environ, "TURNPOINT_KAFKA__BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
           "TURNPOINT_KAFKA__TOPIC_PREFIX": kafka_settings.topic_prefix, "TURNPOINT_HOST": "127.0.0.1",
           "TURNPOINT_SCHEDULE__PORT": str(port), "TURNPOINT_SCHEDULE__TIMEZONE": "Asia/Seoul",
           "TURNPOINT_SCHEDULE__JOBS": json.dumps(jobs)}
    proc = subprocess.Popen([sys.executable, "-m", "turnpoint.cli.main", "schedule", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
            except httpx.HTTPError:
                time.sleep(0.5)
        assert status is not None and status["timezone"] == "Asia/Seoul"
        assert "symbols-minutely" in status["jobs"]
        records = _jobs(kafka_settings, 2, timeout=120)  # the next minute boundary, then the run
        assert [r["status"] for r in records] == ["running", "ok"] and records[1]["rows"] > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, proc.stderr.read() if proc.stderr else ""


def test_a_failure_after_a_success_keeps_the_time_of_the_success(kafka_settings: KafkaSettings,
                                                                  tmp_path: Path) -> None:
    good = _exec(kafka_settings, "market-daily", "ingest", "market", "--file", str(SAMPLES / "bars.csv"), "--json")
    assert good.returncode == 0, good.stderr
    bad = _exec(kafka_settings, "market-daily", "ingest", "market", "--file", str(tmp_path / "gone.csv"))
    assert bad.returncode == 1
    records = _jobs(kafka_settings, 4)
    assert [r["status"] for r in records] == ["running", "ok", "running", "error"]
    assert records[2]["last_success"] == records[3]["last_success"] == records[1]["last_success"] is not None
