"""The API's error hierarchy. Each error maps to one problem+json (RFC 9457) response."""

from __future__ import annotations

from typing import Any

from turnpoint.core.errors import TurnpointError

PROBLEM_BASE = "https://turnpoint.dev/problems/"


class ApiError(TurnpointError):
    """Base of errors the API reports to its client: `status`, a short `title`, a `detail` that says what to do."""

    status: int = 500
    title: str = "internal error"
    slug: str = "internal"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            body["instance"] = instance
        body.update(self.extra)
        return body


class NotFound(ApiError):
    """An unknown symbol, series or resource."""

    status, title, slug = 404, "not found", "not-found"


class InvalidParameter(ApiError):
    """A query or path parameter failed validation; `errors` names each field."""

    status, title, slug = 422, "invalid parameter", "invalid-parameter"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", errors=[{"field": field, "message": message}])
        self.field = field


class Unauthorized(ApiError):
    """No or an unknown bearer token while tokens are required."""

    status, title, slug = 401, "unauthorized", "unauthorized"


class Forbidden(ApiError):
    """A valid token without the `read` scope."""

    status, title, slug = 403, "forbidden", "forbidden"


class DatabaseUnavailable(ApiError):
    """PostgreSQL did not answer (or timed out); clients retry later."""

    status, title, slug = 503, "database unavailable", "database-unavailable"
