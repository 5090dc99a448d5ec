"""RFC 9457 problem+json responses: the shared kit's (turnpoint.web), `errors` as `[{"field", "message"}]`."""

from __future__ import annotations

from starlette.responses import Response

from turnpoint.web.problems import PROBLEM_JSON, ProblemError, render

PROBLEM = PROBLEM_JSON
Problem = ProblemError
"""Raised inside handlers; rendered as problem+json with the given status (`Problem(status, title, detail)`)."""

__all__ = ["PROBLEM", "Problem", "problem_response"]


def problem_response(p: ProblemError, instance: str | None = None) -> Response:
    return Response(render(p.body(instance)), status_code=p.status, media_type=PROBLEM_JSON, headers=p.headers)
