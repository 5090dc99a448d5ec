"""Bearer tokens from the shared api_token table, and behaviour while the database is unreachable."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from integration.api.api_seed import READ_TOKEN, WRITE_TOKEN, api_settings
from turnpoint.api.app import build_app

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture(scope="module")
async def protected(seeded_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(api_settings(seeded_url, require_token=True))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=10
    ) as c:
        yield c


async def test_read_scope_token_is_accepted(protected: httpx.AsyncClient) -> None:
    r = await protected.get("/v1/symbols", headers={"Authorization": f"Bearer {READ_TOKEN}"})
    assert r.status_code == 200 and len(r.json()["items"]) == 3


@pytest.mark.parametrize(("header", "status"), [
    (None, 401), ("Bearer wrong-token", 401), ("Basic abc", 401), (f"Bearer {WRITE_TOKEN}", 403),
])
async def test_missing_unknown_or_unscoped_token_is_refused(protected: httpx.AsyncClient, header: str | None,
                                                            status: int) -> None:
    r = await protected.get("/v1/symbols/AAA/bars", headers={"Authorization": header} if header else {})
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_health_and_metrics_stay_open(protected: httpx.AsyncClient) -> None:
    assert (await protected.get("/healthz")).status_code == 200
    assert (await protected.get("/readyz")).status_code == 200
    assert (await protected.get("/metrics")).status_code == 200


async def test_unreachable_database_gives_503_and_not_ready() -> None:
    app = build_app(api_settings("postgresql://nobody@127.0.0.1:1/none"))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=20
    ) as c:
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/readyz")).status_code == 503
        r = await c.get("/v1/symbols/AAA/state")
        assert r.status_code == 503 and r.json()["title"] == "database unavailable"
