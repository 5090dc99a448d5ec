"""A local webhook receiver for the alert tests, and a polling wait (a module, so tests import it by name:
`from conftest import ...` resolves to whichever conftest the session imported first)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
