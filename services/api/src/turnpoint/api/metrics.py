"""Prometheus metrics of the API and the pure-ASGI middleware that records them.

With several server workers each process counts its own requests; a scrape reaches one of them.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

Scope = dict[str, Any]


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter("turnpoint_api_requests", "HTTP requests served", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram(
            "turnpoint_api_request_seconds", "HTTP request latency", ["route"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.pool_size = Gauge("turnpoint_api_db_pool_size", "database pool connections", registry=self.registry)
        self.pool_idle = Gauge("turnpoint_api_db_pool_idle", "idle database pool connections", registry=self.registry)
        self.db_up = Gauge("turnpoint_api_db_up", "1 when the last readiness check reached the database",
                           registry=self.registry)


class MetricsMiddleware:
    """Counts requests and their latency by route template (never by raw path: bounded label values)."""

    def __init__(self, app: Any, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(name, scope["method"], str(status)).inc()
            self.metrics.latency.labels(name).observe(time.perf_counter() - started)
