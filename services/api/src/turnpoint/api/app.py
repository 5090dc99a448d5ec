"""The composition root: `build_app(settings)` wires the pool, repository, auth, metrics and routes."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline

from turnpoint.api import dashboard, openapi, problems
from turnpoint.api.auth import TokenVerifier
from turnpoint.api.db import Database
from turnpoint.api.metrics import ApiMetrics, MetricsMiddleware
from turnpoint.api.repository import Repository
from turnpoint.api.responses import JSONResponse
from turnpoint.api.routes import alerts, ops, series, summaries, symbols
from turnpoint.api.schemas import Problem
from turnpoint.api.settings import ApiSettings
from turnpoint.core.same_origin import SameOriginPages

_bearer = HTTPBearer(auto_error=False, description="token with the `read` scope (when tokens are required)")


async def _require_read(request: Request,
                        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    header = f"Bearer {credentials.credentials}" if credentials else request.headers.get("authorization")
    await request.app.state.verifier.require(header)


def _with_examples(app: FastAPI) -> None:
    generate = app.openapi

    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi.add_examples(generate())
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]


def build_app(settings: ApiSettings) -> FastAPI:
    db = Database(settings.dsn(), settings.api.pool_min_size, settings.api.pool_max_size,
                  settings.api.statement_timeout_ms)
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await db.open()
        if settings.api.freeze_heap:
            # the startup heap (FastAPI, pydantic models, asyncpg) is permanent: out of the collector's way
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await db.close()

    app = FastAPIOffline(  # Swagger UI and ReDoc served from the wheel's assets, no CDN
        title="turnpoint read API",
        version="1",
        summary="Rebounds, calendar statistics, outliers, bars, readings and predictions.",
        default_response_class=JSONResponse,
        lifespan=lifespan,
        generate_unique_id_function=openapi.operation_id,
        responses={
            404: {"model": Problem, "content": {"application/problem+json": {}}, "description": "unknown resource"},
            422: {"model": Problem, "content": {"application/problem+json": {}}, "description": "bad parameter"},
            503: {"model": Problem, "content": {"application/problem+json": {}}, "description": "database down"},
        },
    )
    app.state.settings = settings
    app.state.db = db
    app.state.repo = Repository(db)
    app.state.verifier = TokenVerifier(db)
    app.state.metrics = metrics
    problems.install(app)
    protected = [Depends(_require_read)] if settings.api.require_token else []
    for router in (symbols.router, series.router, alerts.router, summaries.router):
        app.include_router(router, dependencies=protected)
    app.include_router(ops.router)
    dashboard.install(app)
    _with_examples(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(SameOriginPages)  # the dashboard and docs load nothing from another host
    return app
