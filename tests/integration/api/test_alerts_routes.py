"""GET /v1/alerts (filters, newest first, keyset pages) and GET /v1/jobs (age and stale) on real PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from integration.api.api_seed import api_settings, migrate
from support.databases import scratch_database

from turnpoint.api.app import build_app
from turnpoint.core.contracts import utcnow

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="session")]
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def alerts_url(database_url: str) -> Iterator[str]:
    with scratch_database(database_url, "apialerts") as url:
        migrate(url)
        with psycopg.connect(url) as conn:
            for i in range(25):
                delivery = ("pending", "delivered", "suppressed")[i % 3]
                conn.execute(
                    "INSERT INTO alert (id, status, rule, kind, subject, at, value, message, details, delivery, attempts)"
                    " VALUES (%s, 'firing', %s, 'outlier', %s, %s, %s, 'm', '{\"direction\": \"high\"}', %s, %s)",
                    (f"id{i:02d}", "r1" if i < 20 else "r2", f"plant{i % 2}/people", T0 + dt.timedelta(minutes=i // 2),
                     float(i), delivery, i % 4))
            conn.execute("INSERT INTO alert (id, status, rule, kind, subject, at, message) VALUES"
                         " ('id00', 'resolved', 'r1', 'leg', 'plant0/people', %s, 'withdrawn')", (T0 + dt.timedelta(hours=1),))
            conn.execute("INSERT INTO job_info (job, status, last_success) VALUES ('ingest.serial.port0', 'ok', %s),"
                         " ('ingest.serial.port1', 'ok', %s), ('never', 'running', NULL)",
                         (utcnow() - dt.timedelta(hours=2), utcnow() - dt.timedelta(seconds=5)))
        yield url


@pytest.fixture(scope="module")
async def client(alerts_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(api_settings(alerts_url))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=10
    ) as c:
        yield c


async def _all(client: httpx.AsyncClient, **params: object) -> list[dict[str, object]]:
    items, cursor = [], None
    for _ in range(50):
        r = await client.get("/v1/alerts", params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("too many pages")


async def test_alerts_newest_first_in_pages_with_every_row_once(client: httpx.AsyncClient) -> None:
    items = await _all(client, limit=4)
    assert len(items) == 26
    keys = [(i["at"], i["id"], i["status"]) for i in items]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == 26
    assert items[0]["status"] == "resolved" and items[0]["id"] == "id00"
    first = next(i for i in items if i["id"] == "id01")
    assert first["details"] == {"direction": "high"} and first["delivery"] == "delivered" and first["attempts"] == 1


async def test_alerts_filters(client: httpx.AsyncClient) -> None:
    assert {i["id"] for i in await _all(client, rule="r2")} == {f"id{i}" for i in range(20, 25)}
    assert all(i["subject"] == "plant1/people" for i in await _all(client, subject="plant1/people", limit=3))
    pending = await _all(client, status="pending")
    assert pending and all(i["delivery"] == "pending" and i["next_attempt_at"] for i in pending)
    assert [i["id"] for i in await _all(client, status="resolved")] == ["id00"]
    r = await client.get("/v1/alerts", params={"status": "lost"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = await client.get("/v1/alerts", params={"cursor": "bm9wZQ"})
    assert r.status_code == 422


async def test_jobs_have_age_and_stale(client: httpx.AsyncClient) -> None:
    jobs = {j["job"]: j for j in (await client.get("/v1/jobs")).json()["items"]}
    assert jobs["ingest.serial.port0"]["stale"] is True and jobs["ingest.serial.port0"]["age_seconds"] > 7000
    assert jobs["ingest.serial.port1"]["stale"] is False and jobs["ingest.serial.port1"]["max_age_seconds"] == 3600
    assert jobs["never"]["stale"] is True and jobs["never"]["age_seconds"] is None
