"""`turnpoint dev up` with a rules file: readings with known outliers, bars with a drop from the last rise and
a serial port that went quiet go through ingest -> transform -> alerts; a local receiver gets exactly the
expected alert ids (outliers from `turnpoint batch outliers` over the same file, SPEC §3)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from turnpoint.cli.embedded import free_port
from turnpoint.core.alerts.model import alert_id

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
D0 = dt.date(2025, 1, 1)


def turnpoint(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "turnpoint.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def write_readings(path: Path) -> None:
    """Two readings a day for 45 days; a few spikes and dips that the SPEC rule flags."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["series", "ts", "value"])
        for series in ("plant0/people", "plant0/temp"):
            for day in range(45):
                for hour in (9, 15):
                    v = 20 + 2 * math.sin(day * 1.3 + hour)
                    if day in (33, 40) and hour == 15:
                        v = 60.0
                    if day == 37 and hour == 9:
                        v = 1.0
                    ts = dt.datetime(2025, 1, 1, hour, tzinfo=dt.UTC) + dt.timedelta(days=day)
                    w.writerow([series, ts.isoformat().replace("+00:00", "Z"), repr(v)])


def write_bars(path: Path) -> dt.date:
    """DROPA rises for 25 days then falls about 19 %; RISEB only rises. Returns DROPA's peak date."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["symbol", "date", "open", "high", "low", "close", "volume"])
        for i in range(31):
            day = D0 + dt.timedelta(days=i)
            drop = 100 + 2 * i if i < 25 else 148 - 5 * (i - 24)
            for symbol, close in (("DROPA", drop), ("RISEB", 50 + i)):
                w.writerow([symbol, day.isoformat(), close, close, close, close, 1000])
    return D0 + dt.timedelta(days=24)


class Receiver:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.posts.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self) -> set[str]:
        with self.lock:
            return {p["id"] for p in self.posts}


def test_known_outliers_drop_and_stale_port_give_exactly_the_expected_alerts(stack_home: Path, tmp_path: Path) -> None:
    receiver = Receiver()
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        f"  - {{name: people, kind: outlier, match: 'plant*/people', webhook: '{receiver.url}'}}\n"
        f"  - {{name: drops, kind: drop_from_rise, match: '*', min_pct: 10, webhook: '{receiver.url}'}}\n"
        f"  - {{name: ports, kind: stale, match: 'ingest.serial.*', max_age_s: 600, webhook: '{receiver.url}'}}\n")
    readings, bars, out = tmp_path / "readings.csv", tmp_path / "bars.csv", tmp_path / "outliers.csv"
    write_readings(readings)
    peak = write_bars(bars)
    ports = {name: free_port() for name in ("api", "ingest", "model", "transform", "loader", "alerts")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNPOINT_") and k != "DATABASE_URL"}
    env |= {"TURNPOINT_HOME": str(stack_home), "TURNPOINT_MODEL__DEMO_MODELS": "false", "TURNPOINT_TZ": "UTC",
            "TURNPOINT_ALERTS__RULES_FILE": str(rules)}
    env |= {f"TURNPOINT_{n.upper()}__PORT": str(p) for n, p in ports.items()}
    batch = turnpoint(env, "batch", "outliers", "--input", str(readings), "--output", str(out))
    assert batch.returncode == 0, batch.stderr
    with out.open() as f:
        rows = [r for r in csv.DictReader(f) if r["series"] == "plant0/people"]
    assert len(rows) >= 3  # the spikes and the dip at least
    want = {alert_id("people", "outlier", r["series"], dt.datetime.fromisoformat(r["ts"])) for r in rows}
    want.add(alert_id("drops", "drop_from_rise", "DROPA", "close", 0.0, peak))
    stale_since = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(microsecond=0)
    want.add(alert_id("ports", "stale", "ingest.serial.port0", stale_since))

    up = turnpoint(env, "dev", "up", "--wait", "300", timeout=400)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        for kind, path in (("readings", readings), ("market", bars)):
            r = turnpoint(env, "ingest", kind, "--file", str(path))
            assert r.returncode == 0, r.stderr
        from confluent_kafka import Producer

        stack = json.loads((stack_home / "stack.json").read_text())
        producer = Producer({"bootstrap.servers": stack["bootstrap"]})
        for job, at in (("ingest.serial.port0", stale_since), ("ingest.serial.port1", dt.datetime.now(dt.UTC))):
            producer.produce("turnpoint.jobs.v1", key=job, value=orjson.dumps(
                {"v": 1, "items": [{"job": job, "status": "ok", "last_success": at.isoformat()}]}))
        assert producer.flush(30) == 0
        assert turnpoint(env, "dev", "wait-idle", "--timeout", "300", timeout=400).returncode == 0
        deadline = time.monotonic() + 240
        while receiver.ids() < want and time.monotonic() < deadline:
            time.sleep(1)
        time.sleep(5)  # anything unexpected would arrive by now
        assert receiver.ids() == want, (sorted(receiver.ids() - want), sorted(want - receiver.ids()))
        listed = httpx.get(f"http://127.0.0.1:{ports['api']}/v1/alerts", params={"limit": 1000}, timeout=10).json()
        assert {a["id"] for a in listed["items"]} == want
        assert all(a["delivery"] == "delivered" for a in listed["items"])
        jobs = {j["job"]: j for j in httpx.get(f"http://127.0.0.1:{ports['api']}/v1/jobs", timeout=10).json()["items"]}
        assert jobs["ingest.serial.port0"]["stale"] is True and jobs["ingest.file.readings"]["stale"] is False
        assert any(name.startswith("transform.") for name in jobs)
    finally:
        turnpoint(env, "dev", "down")
        receiver.server.shutdown()
