"""`turnpoint ingest token create` and `turnpoint ingest run` as the embedded stack starts them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from turnpoint.cli.embedded import free_port

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
CLI = [sys.executable, "-m", "turnpoint.cli.main", "ingest"]


def test_run_serves_write_api_and_drop_folder_then_stops_on_sigterm(kafka_settings, ingest_database, tmp_path):
    port = free_port()
    env = {**os.environ, "TURNPOINT_KAFKA__BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
           "TURNPOINT_KAFKA__TOPIC_PREFIX": kafka_settings.topic_prefix, "TURNPOINT_DATABASE_URL": ingest_database,
           "TURNPOINT_INGEST__PORT": str(port), "TURNPOINT_INGEST__DROP_DIR": str(tmp_path / "drop"),
           "TURNPOINT_INGEST__DROP_POLL_SECONDS": "0.2", "TURNPOINT_INGEST__SPOOL_DIR": str(tmp_path / "spool")}
    made = subprocess.run([*CLI, "token", "create", "cctv", "--scope", "write:counts"], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    token = made.stdout.strip()
    assert token.startswith("tp_") and "shown only now" in made.stderr
    listed = subprocess.run([*CLI, "token", "list"], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert listed.stdout.startswith("cctv\twrite:counts") and token not in listed.stdout
    proc = subprocess.Popen([*CLI, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            msg = "ingest run did not become healthy"
            raise AssertionError(msg)
        count = {"camera": "c1", "period_start": "2025-01-01T00:00:00Z", "period_end": "2025-01-01T00:05:00Z",
                 "people": 1, "vehicle": 0}
        r = httpx.post(f"{base}/v1/counts", json=count, headers={"Authorization": f"Bearer {token}"}, timeout=20)
        assert r.status_code == 202, r.text
        shutil.copy(SAMPLES / "AAPL.csv", tmp_path / "drop" / "AAPL.csv")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not list((tmp_path / "drop" / "done").glob("*AAPL.csv")):
            time.sleep(0.2)
        assert list((tmp_path / "drop" / "done").glob("*AAPL.csv"))
        assert "turnpoint_ingest_drop_files_total" in httpx.get(f"{base}/metrics", timeout=5).text
        os.killpg(proc.pid, signal.SIGTERM)
        # uvicorn finishes the lifespan (stop ports, flush, close), then re-raises SIGTERM as its exit status
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        out = proc.stdout.read().decode() if proc.stdout else ""
        assert "ingest stopped" in out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
