"""RFC 9457 problem+json responses."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

PROBLEM = "application/problem+json"


class Problem(Exception):
    """Raised inside handlers; rendered as problem+json with the given status."""

    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers, self.extra = status, title, detail, headers or {}, extra


def problem_response(p: Problem, instance: str | None = None) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": p.title, "status": p.status, "detail": p.detail}
    if instance:
        body["instance"] = instance
    body.update(p.extra)
    return Response(orjson.dumps(body), status_code=p.status, media_type=PROBLEM, headers=p.headers)
