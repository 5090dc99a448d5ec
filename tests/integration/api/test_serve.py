"""`turnpoint api serve` as the dev stack and the deployments start it: a real server, real workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from integration.api.api_seed import SYMBOLS

from turnpoint.cli.embedded import free_port

CLI = [sys.executable, "-m", "turnpoint.cli.main", "api", "serve"]


def _wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    out = proc.stdout.read().decode() if proc.poll() is not None and proc.stdout else ""
    msg = f"api serve did not become healthy: {out[-2000:]}"
    raise AssertionError(msg)


@pytest.mark.parametrize(("server", "banner"), [("granian", "granian"), ("uvicorn", "uvicorn")])
def test_serve_answers_reads_and_errors_then_stops_on_sigterm(seeded_url: str, server: str, banner: str) -> None:
    port = free_port()
    env = {**os.environ, "TURNPOINT_DATABASE_URL": seeded_url, "TURNPOINT_API__PORT": str(port),
           "TURNPOINT_API__POOL_MIN_SIZE": "1", "TURNPOINT_API__POOL_MAX_SIZE": "2"}
    proc = subprocess.Popen([*CLI, "--server", server, "--workers", "2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, proc)
        with httpx.Client(base_url=base, timeout=10) as client:
            page = client.get("/v1/symbols", params={"sort": "pct_from_pivot", "limit": 2})
            assert page.status_code == 200, page.text
            assert page.headers["content-type"] == "application/json"
            assert page.headers["server"] == banner
            assert len(page.json()["items"]) == 2
            legs = client.get(f"/v1/symbols/{SYMBOLS[0]}/rebounds", params={"limit": 1}).json()
            assert len(legs["items"]) == 1 and legs["next_cursor"] is not None
            missing = client.get("/v1/symbols/NOPE/state")
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
            bad = client.get("/v1/symbols", params={"limit": "0"})
            assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "limit"
            assert "turnpoint_api_requests_total" in client.get("/metrics").text
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
