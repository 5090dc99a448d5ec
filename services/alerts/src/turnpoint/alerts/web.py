"""/healthz (the process answers and its threads run), /readyz (the database and the rules answer), /metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from turnpoint.web.fastapi import install_problems

Probe = Callable[[], tuple[bool, dict[str, Any]]]


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def create_app(health: Probe, ready: Probe) -> FastAPI:
    app = FastAPI(title="turnpoint alerts", docs_url=None, redoc_url=None, openapi_url=None)
    install_problems(app, "alerts")  # 404/405 and crashes as problem+json, as every service (turnpoint.web)

    @app.get("/healthz")
    def healthz() -> Response:
        ok, detail = health()
        return _json({"status": "ok" if ok else "unavailable", **detail}, 200 if ok else 503)

    @app.get("/readyz")
    def readyz() -> Response:
        ok, detail = ready()
        return _json({"status": "ok" if ok else "unavailable", **detail}, 200 if ok else 503)

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
