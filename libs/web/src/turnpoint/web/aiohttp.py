"""The kit's aiohttp side (Faust's web server in the transform): every error as problem+json."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from turnpoint.core.observability import get_logger
from turnpoint.web.problems import PROBLEM_JSON, ProblemError, phrase, problem, render

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _response(request: web.Request, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    body.setdefault("instance", request.path)
    return web.Response(body=render(body), status=int(body["status"]), content_type=PROBLEM_JSON, headers=headers)


def problem_middleware(service: str) -> Any:
    """An aiohttp middleware answering 404/405, ProblemError and crashes as problem+json (not text/plain)."""
    log = get_logger(f"turnpoint.{service}.http")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except ProblemError as exc:
            return _response(request, exc.body(), exc.headers or None)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            detail = f"{request.method} {request.path}: {exc.reason}"
            return _response(request, problem(exc.status, phrase(exc.status), detail), headers)
        except Exception as exc:
            log.error("unhandled error", path=request.path, exc_info=exc)
            return _response(request, problem(500, "Internal error", "the server failed to answer; the error is "
                                              "logged", slug="internal"))
        if response.status >= 400 and response.content_type != PROBLEM_JSON and isinstance(response, web.Response):
            detail = response.text if response.body is not None and response.text else phrase(response.status)
            return _response(request, problem(response.status, phrase(response.status), detail))
        return response

    return middleware
