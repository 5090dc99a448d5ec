"""The write API's dependencies as `Annotated` aliases, as the read API's (`turnpoint.api.deps`).

Every write route declares the same two things:

    async def publish(request: Request, meter: Meter, caller: Caller) -> Response: ...

- `Meter` (a dependency with `yield`) times the request and counts its answer by route and status, the
  401/403 of the authorization included: `Caller` depends on it, so it is entered first and sees every
  problem raised after it, from a dependency or from the handler. It ends before the response is sent
  (`scope="function"`), so a client that got its answer finds it counted.
- `Caller` is the verified token (`TokenInfo`) holding the scope of the matched route: 401 without a
  bearer token, or with an unknown, revoked or expired one; 403 without the scope; 503 when PostgreSQL does
  not answer. The bearer scheme is declared in OpenAPI through `HTTPBearer` (which never answers itself).

`build_app` puts the `Authorizer` on `app.state.authorizer` once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from turnpoint.ingest import metrics
from turnpoint.ingest.tokens import TokenCache, TokenInfo
from turnpoint.ingest.write_api.problems import Problem

_bearer = HTTPBearer(auto_error=False, description="a token with the route's `write:*` scope "
                     "(`turnpoint ingest token create NAME --scope ...`)")


def bearer(request: Request) -> str:
    """The bearer token of a request, or 401."""
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "Unauthorized", "send `Authorization: Bearer <token>`; create a token with "
                      "`turnpoint ingest token create NAME --scope ...`", {"WWW-Authenticate": "Bearer"})
    return token.strip()


class Authorizer:
    """Verifies a token and the scope its route requires.

    `scopes` maps each route's path to its scope; `unavailable` turns a database error into the problem to
    answer (503).
    """

    def __init__(self, tokens: TokenCache, scopes: Mapping[str, str], db_errors: tuple[type[BaseException], ...],
                 unavailable: Callable[[BaseException], Problem]) -> None:
        self.tokens = tokens
        self.scopes = dict(scopes)
        self.db_errors = db_errors
        self.unavailable = unavailable

    async def authorize(self, token: str, route: str) -> TokenInfo:
        scope = self.scopes[route]
        try:
            info = await self.tokens.verify(token)
        except self.db_errors as exc:
            raise self.unavailable(exc) from None
        if info is None:
            raise Problem(401, "Unauthorized", "the token is unknown or revoked", {"WWW-Authenticate": "Bearer"})
        if info.expired():
            raise Problem(401, "Token expired", info.expired_detail(),
                          {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="token expired"'})
        if scope not in info.scopes:
            raise Problem(403, "Forbidden", f"the token {info.name!r} lacks the scope {scope!r}")
        return info


@dataclass
class RequestMeter:
    """The matched route, and the answer's status as the handler knows it (500 until it says otherwise)."""

    route: str
    status: int = 500
    started: float = field(default_factory=time.perf_counter)


async def meter(request: Request) -> AsyncIterator[RequestMeter]:
    """Times a request and counts its answer by route and status (`HTTP_REQUESTS`, `HTTP_LATENCY`)."""
    m = RequestMeter(request.scope["route"].path)
    try:
        yield m
    except Problem as p:
        m.status = p.status
        raise
    finally:
        metrics.HTTP_REQUESTS.labels(m.route, str(m.status)).inc()
        metrics.HTTP_LATENCY.labels(m.route).observe(time.perf_counter() - m.started)


Meter = Annotated[RequestMeter, Depends(meter, scope="function")]


async def caller(request: Request, meter: Meter,
                 _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> TokenInfo:
    """The verified caller of the matched route (`HTTPBearer` only declares the scheme: the header is parsed by
    `bearer`, whose 401 names how to get a token)."""
    authorizer: Authorizer = request.app.state.authorizer
    return await authorizer.authorize(bearer(request), meter.route)


Caller = Annotated[TokenInfo, Depends(caller, scope="function")]
