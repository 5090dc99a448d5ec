"""The walking skeleton through the real embedded stack: `dev up`, `ingest`, `dev wait-idle`, the API, `dev down`.

One stack for the module (its start is the expensive part); the tests run in order against it.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from turnpoint.cli.embedded import free_port, pid_alive
from turnpoint.core import topics


def turnpoint(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "turnpoint.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def stack(stack_home: Path) -> Iterator[dict[str, Any]]:
    home = stack_home
    ports = {name: free_port() for name in topics.PORTS}  # every service, alerts included
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TURNPOINT_") and k not in ("DATABASE_URL",)}
    env |= {"TURNPOINT_HOME": str(home), "TURNPOINT_TZ": "Asia/Seoul"}
    env |= {f"TURNPOINT_{n.upper()}__PORT": str(p) for n, p in ports.items()}
    t0 = time.monotonic()
    up = turnpoint(env, "dev", "up", "--wait", "180")
    assert up.returncode == 0, up.stdout + up.stderr
    started = time.monotonic() - t0
    try:
        yield {"env": env, "home": home, "ports": ports, "api": f"http://127.0.0.1:{ports['api']}", "up_s": started}
    finally:
        turnpoint(env, "dev", "down")


def get_all(url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = httpx.get(url, params={**params, **({"cursor": cursor} if cursor else {})}, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items


def test_up_is_idempotent_and_status_shows_every_service(stack: dict[str, Any]) -> None:
    again = turnpoint(stack["env"], "dev", "up")
    assert again.returncode == 0 and "already running" in again.stderr
    status = turnpoint(stack["env"], "dev", "status")
    assert status.returncode == 0
    for name in ("broker", "postgres", "transform", "loader", "api"):
        assert name in status.stdout
    assert "unhealthy" not in status.stdout


def test_models_are_served_out_of_the_box(stack: dict[str, Any]) -> None:
    """`dev up` on an empty home trains the demo models before the model service answers ready."""
    r = httpx.get(f"http://127.0.0.1:{stack['ports']['model']}/v1/models", timeout=30)
    assert r.status_code == 200, r.text
    served = r.json()
    assert set(served) == {"forecast", "anomaly"}, r.text
    assert all(m["loaded"] and m["version"] == "v1" for m in served.values()), r.text


def test_market_file_flows_to_the_api_and_reingest_is_idempotent(stack: dict[str, Any], conformance_dir: Path) -> None:
    market = conformance_dir / "market.csv"
    with market.open() as f:
        rows = list(csv.DictReader(f))
    final: dict[tuple[str, str], dict[str, str]] = {(r["symbol"], r["date"]): r for r in rows}
    symbol = rows[0]["symbol"]
    expected_dates = sorted(d for (s, d) in final if s == symbol)

    t0 = time.monotonic()
    done = turnpoint(stack["env"], "ingest", "market", "--file", str(market))
    assert done.returncode == 0, done.stderr
    idle = turnpoint(stack["env"], "dev", "wait-idle", "--timeout", "300")
    assert idle.returncode == 0, idle.stderr
    visible_s = time.monotonic() - t0
    bars = get_all(f"{stack['api']}/v1/symbols/{symbol}/bars", {"interval": "day", "limit": 200})
    assert [b["date"] if "date" in b else b["start"] for b in bars] == expected_dates
    last = final[(symbol, expected_dates[-1])]
    assert bars[-1]["close"] == pytest.approx(float(last["close"]))

    with (conformance_dir / "expected_legs_theta0.csv").open() as f:
        expected = [r for r in csv.DictReader(f) if r["symbol"] == symbol and r["gtype"] == "close"]
    legs = get_all(f"{stack['api']}/v1/symbols/{symbol}/rebounds", {"gtype": "close", "limit": 100})
    assert [(leg["start_date"], leg["end_date"]) for leg in legs] == [(r["start_date"], r["end_date"]) for r in expected]
    assert [leg["pct"] for leg in legs] == pytest.approx([float(r["pct"]) for r in expected], rel=1e-9)

    again = turnpoint(stack["env"], "ingest", "market", "--file", str(market))
    assert again.returncode == 0
    assert turnpoint(stack["env"], "dev", "wait-idle", "--timeout", "300").returncode == 0
    assert get_all(f"{stack['api']}/v1/symbols/{symbol}/bars", {"interval": "day", "limit": 200}) == bars
    assert get_all(f"{stack['api']}/v1/symbols/{symbol}/rebounds", {"gtype": "close", "limit": 100}) == legs
    print(f"\ndev up → healthy: {stack['up_s']:.1f}s; ingest → API-visible: {visible_s:.1f}s")


def test_readings_statistics_through_the_stack(stack: dict[str, Any], conformance_dir: Path) -> None:
    done = turnpoint(stack["env"], "ingest", "readings", "--file", str(conformance_dir / "readings.csv"))
    assert done.returncode == 0, done.stderr
    assert turnpoint(stack["env"], "dev", "wait-idle", "--timeout", "300").returncode == 0
    with (conformance_dir / "expected_stats_seoul.csv").open() as f:
        expected = [r for r in csv.DictReader(f) if r["series"] == "plant0/people" and r["period"] == "day"]
    rows = get_all(f"{stack['api']}/v1/stats", {"series": "plant0/people", "period": "day", "limit": 100})
    assert [(r["start"], r["count"]) for r in rows] == [(e["start"], int(e["count"])) for e in expected]
    assert [r["std"] for r in rows] == pytest.approx([float(e["std"]) for e in expected], rel=1e-9)


def test_every_log_line_is_ecs_json_with_a_service_name(stack: dict[str, Any]) -> None:
    """Every file under the stack's logs/ (services, supervisor, broker, migrations, inference logs)."""
    import orjson

    files = sorted(p for p in (stack["home"] / "logs").rglob("*") if p.is_file())
    names = {p.name for p in files}
    assert {"api.log", "ingest.log", "loader.log", "model.log", "transform.log", "broker.log"} <= names, names
    bad, services = [], set()
    for path in files:
        for n, line in enumerate(path.read_bytes().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
                services.add(doc["service"]["name"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                bad.append(f"{path.name}:{n}: {line[:200]!r}")
    assert bad == [], "\n".join(bad[:20])
    assert {"turnpoint-api", "turnpoint-loader", "turnpoint-model", "turnpoint-broker"} <= services, services


def test_down_stops_everything(stack: dict[str, Any]) -> None:
    import json

    state = json.loads((stack["home"] / "stack.json").read_text())
    services = json.loads((stack["home"] / "services.json").read_text())
    down = turnpoint(stack["env"], "dev", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    pids = [state["broker_pid"], services["supervisor"], *(s["pid"] for s in services["services"])]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(pid_alive(p) for p in pids)
    assert turnpoint(stack["env"], "dev", "status").returncode == 1
