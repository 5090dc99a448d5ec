"""Operations: liveness, readiness, Prometheus metrics, job freshness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from turnpoint.api import schemas as s
from turnpoint.api.responses import JSONResponse
from turnpoint.api.routes import Db, Metrics
from turnpoint.web.health import liveness, readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=s.Health, summary="Liveness (the process answers)")
async def healthz(db: Db) -> JSONResponse:
    """Does not touch the database (see /readyz), so a database outage never restarts the API."""
    return JSONResponse(liveness("api", pool=db.pool_stats()))


@router.get("/readyz", response_model=s.Health, summary="Readiness (the database answers)",
            responses={503: {"model": s.Health}})
async def readyz(db: Db, m: Metrics) -> JSONResponse:
    ok, detail = await db.ping()
    m.db_up.set(1 if ok else 0)
    status, body = readiness("api", ok, detail)
    return JSONResponse(body, status_code=status)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(db: Db, m: Metrics) -> Response:
    stats = db.pool_stats()
    m.pool_size.set(stats["size"])
    m.pool_idle.set(stats["idle"])
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)

