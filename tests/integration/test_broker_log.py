"""The embedded broker's own warnings and errors reach broker.log as ECS JSON, and the relay ends with it.

CI once failed on a plain-text Tansu error line (a client's broken pipe) in broker.log: `--silent` quiets only
the banner. Here the broker is made to log errors (clients that send garbage and hang up).
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import orjson

from turnpoint.cli.embedded import free_port, pid_alive, start_broker, stop_pid


def _relay_pids(log_path: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"turnpoint.cli.logrelay turnpoint-broker {log_path}"],
                         capture_output=True, text=True, check=False).stdout
    return [int(pid) for pid in out.split()]


def test_broker_errors_are_ecs_lines_and_the_relay_exits_with_the_broker(tmp_path: Path) -> None:
    log_path = tmp_path / "broker.log"
    port = free_port()
    broker = start_broker(port, log_path)
    assert broker.pid is not None
    try:
        assert len(_relay_pids(log_path)) == 1
        for payload in (b"\x00\x00\x00\x05garbage", b"\x00\x00\x00\x40short"):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(payload)
                time.sleep(0.2)
    finally:
        stop_pid(broker.pid)
    deadline = time.monotonic() + 10
    while _relay_pids(log_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(broker.pid)
    assert _relay_pids(log_path) == []
    docs = [orjson.loads(line) for line in log_path.read_bytes().splitlines()]  # every line is JSON
    assert all(doc["service"]["name"] == "turnpoint-broker" for doc in docs)
    errors = [doc for doc in docs if doc["log.level"] == "error"]
    assert errors, docs
    assert all(doc["log.logger"].startswith("tansu") for doc in errors)


def test_a_broker_that_does_not_answer_in_time_is_stopped_with_its_relay(tmp_path: Path) -> None:
    import pytest

    from turnpoint.core.errors import InfrastructureUnavailable

    log_path = tmp_path / "broker.log"
    with pytest.raises(InfrastructureUnavailable):
        start_broker(free_port(), log_path, timeout=0)  # no time to answer
    started = [orjson.loads(line) for line in log_path.read_bytes().splitlines()]
    pid = next(doc["process.pid"] for doc in started if "process.pid" in doc)
    deadline = time.monotonic() + 10
    while (pid_alive(pid) or _relay_pids(log_path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pid)
    assert _relay_pids(log_path) == []
