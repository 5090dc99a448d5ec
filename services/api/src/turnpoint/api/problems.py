"""Exception handlers: every error leaves as RFC 9457 problem+json."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from turnpoint.api.errors import PROBLEM_BASE, ApiError
from turnpoint.api.responses import ProblemResponse
from turnpoint.core.observability import get_logger

log = get_logger("turnpoint.api")


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("query", "path", "header", "body"):
        parts = parts[1:]
    return ".".join(parts) or "request"


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> ProblemResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return ProblemResponse(exc.problem(request.url.path), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> ProblemResponse:
        errors = [{"field": _field(tuple(e.get("loc", ()))), "message": str(e.get("msg", "invalid"))}
                  for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        body = {"type": PROBLEM_BASE + "invalid-parameter", "title": "invalid parameter", "status": 422,
                "detail": detail, "instance": request.url.path, "errors": errors}
        return ProblemResponse(body, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> ProblemResponse:
        body = {"type": "about:blank", "title": str(exc.detail), "status": exc.status_code,
                "detail": f"{request.method} {request.url.path}: {exc.detail}", "instance": request.url.path}
        return ProblemResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> ProblemResponse:
        log.error("unhandled error", path=request.url.path, exc_info=exc)
        body = {"type": PROBLEM_BASE + "internal", "title": "internal error", "status": 500,
                "detail": "the server failed to answer; the error is logged", "instance": request.url.path}
        return ProblemResponse(body, status_code=500)
