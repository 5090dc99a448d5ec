"""A seeded database (real migrations, real PostgreSQL) and an in-process client of the API for the module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from integration.api.api_seed import api_settings, migrate, seed
from support.databases import scratch_database

from turnpoint.api.app import build_app


@pytest.fixture(scope="module")
def seeded_url(database_url: str) -> Iterator[str]:
    with scratch_database(database_url, "api") as url:
        migrate(url)
        with psycopg.connect(url) as conn:
            seed(conn)
        yield url


@pytest.fixture(scope="module")
async def client(seeded_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(api_settings(seeded_url))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=10
    ) as c:
        yield c
