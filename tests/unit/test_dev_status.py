"""`dev status` (table, --json, exit status) and `dev logs` against a stack state written by hand."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from turnpoint.cli.devstack import app
from turnpoint.cli.devstatus import follow, tail

pytestmark = pytest.mark.unit


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def healthy_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stack(home: Path, services: list[dict[str, object]]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "stack.json").write_text(json.dumps({
        "home": str(home), "bootstrap": "127.0.0.1:1", "database_url": "postgresql://x@127.0.0.1:1/db",
        "broker_pid": None, "pgdata": None, "services": services}))


def test_status_json_and_exit_status(tmp_path: Path, healthy_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNPOINT_HOME", str(tmp_path))
    _stack(tmp_path, [{"name": "api", "port": healthy_port}])
    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and [c["name"] for c in doc["components"]] == ["broker", "postgres", "api"]
    assert doc["components"][2]["health"] == "healthy"
    assert CliRunner().invoke(app, ["status"]).exit_code == 0

    _stack(tmp_path, [{"name": "api", "port": healthy_port}, {"name": "loader", "port": _free_port()}])
    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and doc["components"][3]["ok"] is False
    assert doc["components"][3]["health"].startswith("unhealthy")
    assert CliRunner().invoke(app, ["status"]).exit_code == 1  # the table too


def test_status_without_a_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNPOINT_HOME", str(tmp_path))
    assert CliRunner().invoke(app, ["status", "--json"]).exit_code == 1


def test_logs_of_one_service_or_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNPOINT_HOME", str(tmp_path))
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "api.log").write_text("".join(f'{{"message": "api {i}"}}\n' for i in range(50)))
    (logs / "loader.log").write_text('{"message": "loader 0"}\n')
    result = CliRunner().invoke(app, ["logs", "api", "-n", "3"])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ['{"message": "api 47"}', '{"message": "api 48"}', '{"message": "api 49"}']
    result = CliRunner().invoke(app, ["logs"])
    assert result.exit_code == 0 and "loader | " in result.stdout and "api | " in result.stdout
    result = CliRunner().invoke(app, ["logs", "nope"])
    assert result.exit_code == 1 and "known: api, loader" in " ".join(result.stderr.split())


def test_follow_yields_appended_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("old\n")
    got: list[str] = []
    deadline = time.monotonic() + 30
    lines = follow([log], poll=0.01, stop=lambda: len(got) >= 2 or time.monotonic() > deadline)
    with log.open("a") as f:
        f.write("new 1\nnew ")
    for _, line in lines:
        got.append(line)
        if len(got) == 1:
            with log.open("a") as f:
                f.write("2\n")
    assert got == ["new 1", "new 2"]
    assert tail(log, 2) == ["new 1", "new 2"] and tail(log, 0) == []
