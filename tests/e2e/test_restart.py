"""Restarts of the embedded stack change no result (SPEC §5): `dev down` + `dev up`, and a `kill -9` of the
broker that the supervisor restarts. The broker keeps its topics in memory only, so both come back on an
empty broker; each run ends with the database compared row for row with `turnpoint batch` over every input
accepted, before and after the restart (revisions of dates before the restart included).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.devstack_harness import DevStack, StackError
from support.feeders import HttpFeeder, drop_market_file
from support.pipeline_check import Inputs, check_database, market_rows, reading_rows, revisions

from turnpoint.cli.embedded import pid_alive
from turnpoint.core.dates import trading_days

pytestmark = pytest.mark.timeout(600)

SYMBOLS = 12
DAYS = 160
SERIES = 3
PER_DAY = 48


def _home(prefix: str) -> Path:
    # not under pytest's basetemp: its root is private to root, and pg_ctl runs as the pgserver user
    home = Path(tempfile.mkdtemp(prefix=prefix))
    home.chmod(0o755)
    return home


@pytest.fixture
def stack() -> Iterator[DevStack]:
    home = _home("turnpoint-restart-")
    s = DevStack(home)
    try:
        s.up()
        yield s
    finally:
        s.down()
        shutil.rmtree(home, ignore_errors=True)


def _token(stack: DevStack) -> str:
    return stack.create_token("restart-writer", "write:readings", "write:bars")


def _market(stack: DevStack, inputs: Inputs, rows: list[dict[str, Any]], name: str) -> None:
    inputs.add_bars(rows)
    drop_market_file(stack.home / "drop", name, rows)


def _readings(feeder: HttpFeeder, inputs: Inputs, rows: list[dict[str, Any]], pause: float = 0.0) -> None:
    for i in range(0, len(rows), 300):
        batch = rows[i:i + 300]
        feeder.post("/v1/readings", batch)
        inputs.add_readings(batch)  # accepted (202) is what the pipeline owes
        if pause:
            time.sleep(pause)


def _late_dead_letters(stack: DevStack) -> float:
    total = 0.0
    for line in httpx.get(f"{stack.url('transform')}/metrics", timeout=5).text.splitlines():
        if line.startswith("turnpoint_transform_dead_letters_total") and 'reason="late"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _split(rows: list[dict[str, Any]], key: str, cut: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return [r for r in rows if r[key] < cut], [r for r in rows if r[key] >= cut]


def test_down_and_up_changes_no_result(stack: DevStack) -> None:
    rng = random.Random(1414)
    inputs = Inputs(stack.home / "inputs")
    token = _token(stack)
    days = trading_days(dt.date(2023, 1, 2), DAYS)
    cut_day = days[DAYS // 2].isoformat()
    bars = market_rows([f"R{i:03d}" for i in range(SYMBOLS)], days, rng)
    first_bars, second_bars = _split(bars, "date", cut_day)
    readings = reading_rows([f"restart/s{i}" for i in range(SERIES)], dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                            40, PER_DAY, rng)
    cut_ts = "2024-01-21T00:00:00"
    first_readings, second_readings = _split(readings, "ts", cut_ts)

    _market(stack, inputs, first_bars, "first-half")
    stack.wait_drop_folder_empty()
    _market(stack, inputs, revisions(first_bars, 5, rng), "first-revisions")
    _readings(HttpFeeder(stack.url("ingest"), token), inputs, first_readings)
    # late readings (SPEC 2: 10 days behind the newest of their series): a new instant and a revision of a
    # stored one. The transform dead-letters both; they are not inputs the results owe, and the loader must not
    # store them either, or the rebuild after `dev up` re-publishes them in time order and they get counted.
    late = [{"series": "restart/s0", "ts": "2024-01-10T00:00:30Z", "value": 1000.0},
            {"series": "restart/s0", "ts": "2024-01-10T00:00:00Z", "value": 999.0}]
    HttpFeeder(stack.url("ingest"), token).post("/v1/readings", late)
    stack.wait_idle(timeout=240)
    assert _late_dead_letters(stack) == len(late)
    check_database(stack.database_url, inputs, stack.home / "check-before", stack.tz)

    stack.down()
    up = stack.cli("dev", "up", "--wait", "240", timeout=400)
    assert up.returncode == 0, f"{up.stdout}\n{up.stderr}\n{stack.log_tails()}"
    assert "rebuilt from PostgreSQL" in up.stderr, up.stderr
    assert f"{len(first_readings):,} readings" in up.stderr, up.stderr  # every distinct one

    # the other half: later days, revisions of days before the restart (some 30 trading days back, beyond
    # the transform's in-memory tail of 60 bars only through the archive), the readings going on in time
    _market(stack, inputs, second_bars, "second-half")
    stack.wait_drop_folder_empty()
    old = [r for r in first_bars if r["date"] in {days[DAYS // 2 - 30].isoformat(), days[DAYS // 2 - 1].isoformat()}]
    _market(stack, inputs, [*revisions(old, 2, rng), *revisions(second_bars, 5, rng)], "second-revisions")
    feeder = HttpFeeder(stack.url("ingest"), token)
    _readings(feeder, inputs, first_readings[-60:])  # a redelivery of the newest readings before the restart
    _readings(feeder, inputs, second_readings)
    stack.wait_idle(timeout=240)
    counts = check_database(stack.database_url, inputs, stack.home / "check-after", stack.tz)
    print(f"\ndown + up: database equals batch over all inputs: {counts}")
    assert counts["rebound_leg"] > 0 and counts["outlier"] > 0
    assert _late_dead_letters(stack) == 0, "re-published history or new data was dead-lettered as late"


def test_broker_killed_mid_stream_is_restarted_and_results_stay_exact(stack: DevStack) -> None:
    rng = random.Random(99)
    inputs = Inputs(stack.home / "inputs")
    token = _token(stack)
    days = trading_days(dt.date(2022, 6, 1), DAYS)
    symbols = [f"B{i:03d}" for i in range(SYMBOLS)]
    bars = market_rows(symbols, days, rng)
    readings = reading_rows([f"kill/s{i}" for i in range(SERIES)], dt.datetime(2024, 2, 1, tzinfo=dt.UTC), 40,
                            PER_DAY, rng)
    errors: list[BaseException] = []

    def feed_market() -> None:
        try:
            for n, symbol in enumerate(symbols):
                _market(stack, inputs, [r for r in bars if r["symbol"] == symbol], f"m{n:03d}-{symbol}")
                time.sleep(0.8)
            stack.wait_drop_folder_empty()
            _market(stack, inputs, revisions(bars, 5, rng), "daily-revisions")
        except BaseException as exc:
            errors.append(exc)

    market = threading.Thread(target=feed_market, daemon=True)
    market.start()
    feeder = HttpFeeder(stack.url("ingest"), token, timeout=300)
    feeding = threading.Thread(target=_readings, args=(feeder, inputs, readings, 0.15), daemon=True)
    feeding.start()
    time.sleep(5)
    old_pid = int(stack.state["broker_pid"])
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        pid = stack.state.get("broker_pid")
        if pid and pid != old_pid and pid_alive(int(pid)):
            break
        time.sleep(0.3)
    else:
        msg = f"the supervisor did not restart the broker\n{stack.log_tails()}"
        raise StackError(msg)
    stack.wait_all_healthy(timeout=180)
    market.join(400)
    feeding.join(400)
    assert not errors, errors
    assert not market.is_alive() and not feeding.is_alive()
    stack.wait_idle(timeout=240)
    counts = check_database(stack.database_url, inputs, stack.home / "check", stack.tz)
    supervisor_log = (stack.home / "logs" / "supervisor.log").read_text()
    print(f"\nbroker kill -9: database equals batch over all inputs: {counts}; HTTP statuses {feeder.statuses}\n"
          + "\n".join(line for line in supervisor_log.splitlines() if "broker" in line))
    assert "restored: rebuilt from PostgreSQL" in supervisor_log
    assert counts["rebound_leg"] > 0 and counts["reading"] == len({(r["series"], r["ts"]) for r in readings})
