"""The kit's FastAPI side: every 4xx/5xx as problem+json, health routes, `Annotated` dependency helpers.

    install_problems(app, service="api")        # ProblemError, validation errors, 404/405, crashes
    app.include_router(health_router("api", ready))
    Repo = Annotated[Repository, Depends(from_state("repo"))]

Validation errors answer 422 with `errors: [{"field", "message"}]`, unknown paths 404 and wrong methods
405 with `Allow`, unexpected exceptions 500 (logged, never shown). `on_problem(status)` sees each one
(for a metric).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from enum import Enum
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from turnpoint.core.observability import get_logger
from turnpoint.web.health import liveness, readiness
from turnpoint.web.problems import PROBLEM_JSON, ProblemError, field_errors, phrase, problem, render

ReadyCheck = Callable[[Request], Awaitable[tuple[bool, dict[str, Any]]]]


class ProblemResponse(Response):
    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        return render(content)


def install_problems(app: FastAPI, service: str, on_problem: Callable[[int], None] | None = None,
                     invalid_title: str = "Invalid request",
                     translate: Mapping[type[Exception], Callable[[Any], ProblemError]] | None = None) -> None:
    """Exception handlers that answer every error of `app` as problem+json with the kit's `errors` shape.

    `translate` maps a service's own exception types to the problem they answer.
    """
    log = get_logger(f"turnpoint.{service}.http")

    def answer(request: Request, body: dict[str, Any], headers: dict[str, str] | None = None) -> ProblemResponse:
        body.setdefault("instance", request.url.path)
        if on_problem is not None:
            on_problem(int(body["status"]))
        return ProblemResponse(body, status_code=int(body["status"]), headers=headers)

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> ProblemResponse:
        return answer(request, exc.body(), exc.headers or None)

    for kind, convert in (translate or {}).items():
        def _translated(request: Request, exc: Exception, _convert: Callable[[Any], ProblemError] = convert,
                        ) -> ProblemResponse:
            p = _convert(exc)
            return answer(request, p.body(), p.headers or None)

        app.add_exception_handler(kind, _translated)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> ProblemResponse:
        errors = field_errors(exc.errors())
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return answer(request, problem(422, invalid_title, detail, slug="invalid-parameter", errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
        title = phrase(exc.status_code)
        detail = f"{request.method} {request.url.path}: {exc.detail}"
        return answer(request, problem(exc.status_code, title, detail), dict(exc.headers or {}) or None)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> ProblemResponse:
        log.error("unhandled error", path=request.url.path, exc_info=exc)
        return answer(request, problem(500, "Internal error", "the server failed to answer; the error is logged",
                                       slug="internal"))


def health_router(service: str, ready: ReadyCheck, live: Callable[[Request], dict[str, Any]] | None = None,
                  tags: list[str] | None = None) -> APIRouter:
    """`GET /healthz` (liveness: always 200 while the process answers) and `GET /readyz` (readiness)."""
    router = APIRouter(tags=list[str | Enum](tags or ["operations"]))

    @router.get("/healthz", summary="Liveness (the process answers)", operation_id="healthz")
    async def healthz(request: Request) -> Response:
        """Never touches the database or the broker (see /readyz), so an outage never restarts the process."""
        return Response(render(liveness(service, **(live(request) if live else {}))), media_type="application/json")

    @router.get("/readyz", summary="Readiness (the dependencies answer)", operation_id="readyz",
                responses={503: {"description": "a dependency does not answer"}})
    async def readyz(request: Request) -> Response:
        ok, detail = await ready(request)
        status, body = readiness(service, ok, detail)
        return Response(render(body), status_code=status, media_type="application/json")

    return router


def from_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency returning `request.app.state.<name>`, for `Annotated[T, Depends(from_state(name))]` aliases.

    `async` on purpose: FastAPI runs a plain `def` dependency on its thread pool, a hand-off per request.
    """
    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    dependency.__name__ = f"state_{name}"
    return dependency
