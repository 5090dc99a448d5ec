"""`turnpoint alerts test` names the line of an error; `send-test` posts a sample alert and prints the answer."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from turnpoint.cli.main import app

pytestmark = pytest.mark.unit
runner = CliRunner()


def _rules(url: str, extra: str = "") -> str:
    return f"rules:\n  - name: hook\n    kind: outlier\n    webhook: {url}\n    format: slack\n{extra}"


def test_test_accepts_a_good_file_and_names_the_line_of_a_bad_one(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(_rules("http://127.0.0.1:9/h"))
    r = runner.invoke(app, ["alerts", "test", str(good)])
    assert r.exit_code == 0 and "1 rule(s) OK" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(_rules("http://127.0.0.1:9/h", "    direction: sideways\n"))
    r = runner.invoke(app, ["alerts", "test", str(bad)])
    assert r.exit_code == 1
    assert f"{bad}:6: rules.0.direction" in r.output


def test_send_test_posts_a_sample_with_its_idempotency_key(tmp_path: Path) -> None:
    got: list[tuple[str | None, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append((self.headers.get("Idempotency-Key"),
                        json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        rules = tmp_path / "rules.yaml"
        rules.write_text(_rules(f"http://127.0.0.1:{server.server_address[1]}/hook"))
        r = runner.invoke(app, ["alerts", "send-test", "hook", "--rules", str(rules)])
        assert r.exit_code == 0, r.output
        assert "HTTP 200 (delivered)" in r.output and "ok" in r.output
        [(key, body)] = got
        assert key is not None and key.startswith("test-") and body["turnpoint"]["id"] == key
        assert "*[firing] hook:" in body["text"]
        r = runner.invoke(app, ["alerts", "send-test", "nope", "--rules", str(rules)])
        assert r.exit_code == 2 and "no rule named 'nope'" in r.output
    finally:
        server.shutdown()
        server.server_close()
    r = runner.invoke(app, ["alerts", "send-test", "hook", "--rules", str(rules)])  # the receiver is gone
    assert r.exit_code == 1


