"""Structured logging (ECS JSON via structlog) and a health + Prometheus endpoint for worker processes."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import ecs_logging
import orjson
import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and stdlib logging to stderr as ECS JSON lines (or readable text for consoles)."""
    renderer: Any = ecs_logging.StructlogFormatter() if fmt == "json" else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(**{"service.name": service})
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]


def serve_health(port: int, check: HealthCheck, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Serve `/healthz` (liveness + details, 503 when unhealthy) and `/metrics` on a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/metrics"):
                body, ctype, status = generate_latest(), CONTENT_TYPE_LATEST, 200
            elif self.path.startswith(("/healthz", "/readyz", "/health")):
                ok, detail = check()
                body = orjson.dumps({"status": "ok" if ok else "unavailable", **detail})
                ctype, status = "application/json", 200 if ok else 503
            else:
                body, ctype, status = b'{"title":"not found","status":404}', "application/problem+json", 404
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name=f"health:{port}", daemon=True).start()
    return server
