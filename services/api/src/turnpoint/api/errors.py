"""The API's error hierarchy. Each error maps to one problem+json (RFC 9457) response (turnpoint.web)."""

from __future__ import annotations

from typing import Any, ClassVar

from turnpoint.core.errors import TurnpointError
from turnpoint.web.problems import PROBLEM_BASE, FieldError, ProblemError

__all__ = ["PROBLEM_BASE", "ApiError", "DatabaseUnavailable", "Forbidden", "InvalidParameter", "NotFound",
           "Unauthorized"]


class ApiError(ProblemError, TurnpointError):
    """Base of errors the API reports to its client: `status`, a short `title`, a `detail` that says what to do."""

    status_code: ClassVar[int] = 500
    title_text: ClassVar[str] = "internal error"
    slug_name: ClassVar[str] = "internal"
    headers_sent: ClassVar[dict[str, str]] = {}

    def __init__(self, detail: str, errors: list[FieldError] | None = None, **extra: Any) -> None:
        super().__init__(self.status_code, self.title_text, detail, self.headers_sent, slug=self.slug_name,
                         errors=errors, **extra)

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        return self.body(instance)


class NotFound(ApiError):
    """An unknown symbol, series or resource."""

    status_code, title_text, slug_name = 404, "not found", "not-found"


class InvalidParameter(ApiError):
    """A query or path parameter failed validation; `errors` names each field."""

    status_code, title_text, slug_name = 422, "invalid parameter", "invalid-parameter"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", errors=[{"field": field, "message": message}])
        self.field = field


class Unauthorized(ApiError):
    """No or an unknown bearer token while tokens are required."""

    status_code, title_text, slug_name = 401, "unauthorized", "unauthorized"
    headers_sent: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class Forbidden(ApiError):
    """A valid token without the `read` scope."""

    status_code, title_text, slug_name = 403, "forbidden", "forbidden"


class DatabaseUnavailable(ApiError):
    """PostgreSQL did not answer (or timed out); clients retry later."""

    status_code, title_text, slug_name = 503, "database unavailable", "database-unavailable"
    headers_sent: ClassVar[dict[str, str]] = {"Retry-After": "1"}
