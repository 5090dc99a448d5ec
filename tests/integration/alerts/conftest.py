"""Fixtures of the alerts integration tests: a local webhook receiver and the alerts service as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from support.webhooks import Receiver


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
