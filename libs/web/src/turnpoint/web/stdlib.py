"""Health and metrics on `http.server`, for a service without a web framework (the loader)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from turnpoint.web.health import Check, liveness, readiness
from turnpoint.web.problems import PROBLEM_JSON, phrase, problem, render


def serve_health(port: int, service: str, ready: Check, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """`/healthz` (liveness: 200 while the process answers), `/readyz` (`ready()`), `/metrics`, on a thread.

    Any other path is a 404 problem, any other method a 405 problem with `Allow: GET`.
    """

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(200, render(liveness(service)), "application/json")
            elif path == "/readyz":
                ok, detail = ready()
                status, body = readiness(service, ok, detail)
                self._send(status, render(body), "application/json")
            else:
                body = problem(404, phrase(404), f"GET {path}: no such page (try /healthz, /readyz, /metrics)",
                               instance=path)
                self._send(404, render(body), PROBLEM_JSON)

        def do_HEAD(self) -> None:
            self.do_GET()

        def _not_allowed(self) -> None:
            path = self.path.split("?", 1)[0]
            body = problem(405, phrase(405), f"{self.command} {path}: only GET is served", instance=path)
            self._send(405, render(body), PROBLEM_JSON, {"Allow": "GET, HEAD"})

        do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name=f"health:{port}", daemon=True).start()
    return server
