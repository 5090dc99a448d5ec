"""RFC 9457 problem+json: one body and one `errors` shape for every turnpoint service.

A problem is ``{"type", "title", "status", "detail", "instance"?, "errors"?, ...extensions}``. `errors`,
when present, is a list of ``{"field": str, "message": str}``: `field` is the dotted path of what was
wrong (`from`, `cursor`, `symbol`, `0.people` for the first record's `people`, `items.2.closes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, TypedDict

import orjson

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://turnpoint.dev/problems/"
MAX_ERRORS = 20
_WHERE = frozenset({"query", "path", "header", "body", "cookie"})


class FieldError(TypedDict):
    field: str
    message: str


def phrase(status: int) -> str:
    """The standard reason phrase of `status` ('Not Found'), or 'Error' for an unknown code."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def field_name(loc: Sequence[Any]) -> str:
    """`('query', 'from')` -> 'from'; `(0, 'people')` -> '0.people'; `()` -> 'request'."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in _WHERE:
        parts = parts[1:]
    return ".".join(parts) or "request"


def field_errors(errors: Iterable[Mapping[str, Any]], limit: int = MAX_ERRORS) -> list[FieldError]:
    """pydantic/FastAPI validation errors (`loc`, `msg`) as the kit's `errors` entries."""
    out: list[FieldError] = []
    for e in errors:
        if len(out) == limit:
            break
        out.append({"field": field_name(tuple(e.get("loc", ()))), "message": str(e.get("msg", "invalid"))})
    return out


def problem(status: int, title: str | None = None, detail: str | None = None, *, slug: str | None = None,
            instance: str | None = None, errors: Sequence[FieldError] | None = None,
            **extra: Any) -> dict[str, Any]:
    """A problem body; `slug` names a turnpoint problem type (else `about:blank`)."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug if slug else "about:blank",
                            "title": title or phrase(status), "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = list(errors)
    body.update(extra)
    return body


def render(body: Mapping[str, Any]) -> bytes:
    return orjson.dumps(body)


class ProblemError(Exception):
    """Raised by handlers; every service renders it as problem+json with its status and headers."""

    def __init__(self, status: int, title: str, detail: str, headers: Mapping[str, str] | None = None, *,
                 slug: str | None = None, errors: Sequence[FieldError] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.headers: dict[str, str] = dict(headers or {})
        self.slug, self.errors, self.extra = slug, errors, extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        return problem(self.status, self.title, self.detail, slug=self.slug, instance=instance,
                       errors=self.errors, **self.extra)
