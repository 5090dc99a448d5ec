"""Fixtures of the alerts integration tests: a local webhook receiver and the alerts service as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST; `mode` is "ok" (204) or "fail" (500).
    `stop()` takes it away (connections refused), `start()` brings it back on the same port."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []  # (Idempotency-Key, body) of accepted posts
        self.refused = 0
        self.mode = "ok"
        self.lock = threading.Lock()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    if receiver.mode == "fail":
                        receiver.refused += 1
                        code = 500
                    else:
                        receiver.posts.append((self.headers.get("Idempotency-Key", ""), json.loads(raw)))
                        code = 204
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ids(self) -> set[str]:
        with self.lock:
            return {body["id"] + ("" if body["status"] == "firing" else ":resolved") for _, body in self.posts}

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [b for _, b in self.posts]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


class AlertsProcess:
    """`turnpoint alerts run --role ROLE` as a real process; kill() is SIGKILL."""

    def __init__(self, role: str, env: dict[str, str], log: Path) -> None:
        from turnpoint.cli.embedded import free_port

        self.role, self.log_path = role, log
        self.port = free_port()
        self.env = {**os.environ, **env, "TURNPOINT_ALERTS__PORT": str(self.port)}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "turnpoint.cli.main", "alerts", "run", "--role", self.role],
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"alerts {self.role} exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"alerts {self.role} not ready: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def migrated_db(fresh_database: str) -> str:
    from turnpoint.loader.migrations import migrate

    migrate(fresh_database)
    return fresh_database


@pytest.fixture
def alerts_env(kafka_settings: Any, migrated_db: str, unique: str, tmp_path: Path) -> dict[str, str]:
    return {
        "TURNPOINT_HOME": str(tmp_path / "home"),
        "TURNPOINT_KAFKA__BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "TURNPOINT_KAFKA__TOPIC_PREFIX": kafka_settings.topic_prefix,
        "TURNPOINT_KAFKA__PARTITIONS": str(kafka_settings.partitions),
        "TURNPOINT_DATABASE_URL": migrated_db,
        "TURNPOINT_ALERTS__RULES_FILE": str(tmp_path / "rules.yaml"),
        "TURNPOINT_ALERTS__GROUP_PREFIX": f"g{unique}-",
        "TURNPOINT_ALERTS__RETRY_BASE_S": "0.2",
        "TURNPOINT_ALERTS__RETRY_CAP_S": "2",
        "TURNPOINT_ALERTS__TICK_S": "0.5",
        "TURNPOINT_ALERTS__LEASE_S": "20",
        "TURNPOINT_LOG_FORMAT": "console",
    }


@pytest.fixture
def start_alerts(alerts_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[str], AlertsProcess]]:
    procs: list[AlertsProcess] = []

    def start(role: str) -> AlertsProcess:
        p = AlertsProcess(role, alerts_env, tmp_path / f"alerts-{role}.log")
        p.start()
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.stop()


@pytest.fixture
def produce(kafka_settings: Any) -> Iterator[Callable[..., None]]:
    """produce(topic_spec, items, key): one envelope per call, flushed."""
    from turnpoint.core.kafka import make_producer

    producer = make_producer(kafka_settings)

    def send(spec: Any, items: list[dict[str, Any]], key: str) -> None:
        producer.produce(kafka_settings.topic_prefix + spec.name, key=key, value=orjson.dumps({"v": 1, "items": items}))
        assert producer.flush(10) == 0

    yield send
    producer.flush(10)


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
