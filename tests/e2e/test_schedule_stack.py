"""The embedded stack with a schedule in settings: `dev up` starts the scheduler, a due job runs, and its
freshness record travels turnpoint.jobs.v1 -> loader -> job_info -> `GET /v1/jobs`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from turnpoint.cli.embedded import free_port

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
pytestmark = pytest.mark.timeout(600)


def turnpoint(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "turnpoint.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_dev_up_runs_the_configured_daily_job_and_the_api_shows_its_freshness(stack_home: Path) -> None:
    ports = {name: free_port() for name in ("api", "ingest", "model", "transform", "loader", "alerts")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNPOINT_") and k != "DATABASE_URL"}
    env |= {"TURNPOINT_HOME": str(stack_home), "TURNPOINT_MODEL__DEMO_MODELS": "false"}
    env |= {f"TURNPOINT_{n.upper()}__PORT": str(p) for n, p in ports.items()}
    schedule_port = free_port()
    jobs = [{"name": "market-daily", "cron": "* * * * *",  # every minute, so the test sees a run
             "args": ["ingest", "market", "--last-days", "3", "--file", str(SAMPLES / "bars.csv"), "--json"]}]
    env |= {"TURNPOINT_SCHEDULE__TIMEZONE": "Asia/Seoul", "TURNPOINT_SCHEDULE__JOBS": json.dumps(jobs),
            "TURNPOINT_SCHEDULE__PORT": str(schedule_port)}
    up = turnpoint(env, "dev", "up", "--wait", "240")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        health = httpx.get(f"http://127.0.0.1:{schedule_port}/healthz", timeout=10).json()
        assert health["jobs"]["market-daily"]["next"]
        deadline = time.monotonic() + 240
        job = None
        while time.monotonic() < deadline:
            r = httpx.get(f"http://127.0.0.1:{ports['api']}/v1/jobs", timeout=10)
            if r.status_code == 200:
                job = next((j for j in r.json()["items"] if j["job"] == "market-daily"), None)
                if job is not None and job["status"] == "ok":
                    break
            time.sleep(2)
        assert job is not None and job["status"] == "ok", job
        assert job["rows"] > 0 and job["last_success"]
    finally:
        turnpoint(env, "dev", "down")
