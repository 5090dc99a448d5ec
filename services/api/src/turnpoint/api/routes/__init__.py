"""HTTP routes, grouped by what they read.

The dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in its thread pool, a
thread hand-off per request that cost more than the query itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from turnpoint.api.repository import Repository
from turnpoint.api.settings import ApiSettings


async def _repo(request: Request) -> Repository:
    repo: Repository = request.app.state.repo
    return repo


async def _settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


Repo = Annotated[Repository, Depends(_repo)]
Settings = Annotated[ApiSettings, Depends(_settings)]
