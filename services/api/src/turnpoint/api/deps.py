"""The read API's dependencies as `Annotated` aliases, used the same way by every route.

As full-stack-fastapi-template's `backend/app/api/deps.py`: a route declares what it needs by type,

    async def bars(repo: Repo, symbol: Symbol, p: Annotated[BarsQuery, Depends(query(BarsQuery))]) -> ...

and `build_app` puts each object on `app.state` once. The dependencies are `async def` on purpose
(turnpoint.web.fastapi.from_state): FastAPI runs a plain `def` dependency in its thread pool, a thread
hand-off per request that cost more than the query itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from turnpoint.api.db import Database
from turnpoint.api.metrics import ApiMetrics
from turnpoint.api.query import QueryModel, parse
from turnpoint.api.repository import Repository
from turnpoint.api.settings import ApiSettings
from turnpoint.web.fastapi import from_state

M = TypeVar("M", bound=QueryModel)

Repo = Annotated[Repository, Depends(from_state("repo"))]
Settings = Annotated[ApiSettings, Depends(from_state("settings"))]
Db = Annotated[Database, Depends(from_state("db"))]
Metrics = Annotated[ApiMetrics, Depends(from_state("metrics"))]


def query(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency validating the whole query string with `model` in one call (see `turnpoint.api.query`)."""
    async def dependency(request: Request) -> M:
        return parse(model, request)

    dependency.__name__ = f"query_{model.__name__}"
    return dependency
