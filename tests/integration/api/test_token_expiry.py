"""The read API refuses an expired `read` token, and a rotated-out secret after its grace period (0009)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from integration.api.api_seed import api_settings
from turnpoint.api.app import build_app
from turnpoint.api.auth import token_hash

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="session")]

EXPIRED, CURRENT, GRACE_OVER, GRACE_ON = "tp_expired-read", "tp_current-read", "tp_old-read", "tp_old-read-2"


@pytest.fixture(scope="module")
async def protected(seeded_url: str) -> AsyncIterator[httpx.AsyncClient]:
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        conn.execute("INSERT INTO api_token (name, token_hash, scopes, expires_at) "
                     "VALUES ('expired-reader', %s, '{read}', now() - interval '1 minute')", (token_hash(EXPIRED),))
        conn.execute("INSERT INTO api_token (name, token_hash, scopes, previous_token_hash, previous_valid_until) "
                     "VALUES ('rotated-reader', %s, '{read}', %s, now() - interval '1 minute')",
                     (token_hash(CURRENT), token_hash(GRACE_OVER)))
        conn.execute("INSERT INTO api_token (name, token_hash, scopes, previous_token_hash, previous_valid_until) "
                     "VALUES ('rotating-reader', 'f' || repeat('0', 63), '{read}', %s, now() + interval '1 hour')",
                     (token_hash(GRACE_ON),))
    app = build_app(api_settings(seeded_url, require_token=True))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=10
    ) as c:
        yield c


async def _get(c: httpx.AsyncClient, token: str) -> httpx.Response:
    return await c.get("/v1/symbols", headers={"Authorization": f"Bearer {token}"})


async def test_expired_read_token_gets_401_saying_so(protected: httpx.AsyncClient) -> None:
    r = await _get(protected, EXPIRED)
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    assert "expired at" in r.json()["detail"]


async def test_rotated_secret_works_during_its_grace_period_only(protected: httpx.AsyncClient) -> None:
    assert (await _get(protected, CURRENT)).status_code == 200
    assert (await _get(protected, GRACE_ON)).status_code == 200
    r = await _get(protected, GRACE_OVER)
    assert r.status_code == 401 and "expired at" in r.json()["detail"]
