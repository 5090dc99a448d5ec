"""Route tests against real PostgreSQL with seeded data (tests/integration/api/conftest.py)."""

from __future__ import annotations

import httpx
import pytest
from api_seed import N_DAYS, SERIES

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="session")]


async def test_bars_page_through_every_day_in_order(client: httpx.AsyncClient) -> None:
    seen, cursor = [], None
    for _ in range(10):
        params = {"interval": "day", "limit": 7, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/v1/symbols/AAA/bars", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [b["start"] for b in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == N_DAYS
    assert seen == sorted(seen) and len(set(seen)) == N_DAYS
    assert seen[0] == "2024-01-01"


async def test_bars_from_to_inclusive(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/symbols/AAA/bars", params={"from": "2024-01-03", "to": "2024-01-05"})
    assert [b["start"] for b in r.json()["items"]] == ["2024-01-03", "2024-01-04", "2024-01-05"]
    assert r.json()["next_cursor"] is None


async def test_unknown_symbol_is_404_problem(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/symbols/NOPE/bars")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 404 and "NOPE" in r.json()["detail"]


async def test_bad_interval_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/symbols/AAA/bars", params={"interval": "hour"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == ["interval"]


async def test_health_ready_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"
    await client.get("/v1/symbols/AAA/bars")
    metrics = (await client.get("/metrics")).text
    assert 'turnpoint_api_requests_total{method="GET",route="/v1/symbols/{symbol}/bars",status="200"}' in metrics


async def test_stats_keys_are_local_dates_and_tz_is_named(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/stats", params={"series": SERIES, "period": "day", "limit": 3})
    body = r.json()
    assert r.status_code == 200 and body["tz"] == "UTC"
    assert [row["start"] for row in body["items"]] == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert body["items"][0]["weekday"] is None
