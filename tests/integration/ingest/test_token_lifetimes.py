"""Token expiry, rotation with a grace period and last use, through the HTTP write API and real PostgreSQL.

Time passing is simulated by moving the stored instants into the past (the service compares them with the
clock on every request).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from turnpoint.ingest.errors import TokenError
from turnpoint.ingest.settings import IngestConfig, IngestSettings
from turnpoint.ingest.tokens import TokenStore
from turnpoint.ingest.write_api.app import build_app

COUNT = {"camera": "gate-1", "period_start": "2025-01-01T00:00:00Z", "period_end": "2025-01-01T00:15:00Z",
         "people": 12, "vehicle": 3}


@pytest.fixture
def api(kafka_settings, ingest_database: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = IngestSettings(
        kafka=kafka_settings, database_url=ingest_database,
        ingest=IngestConfig(port=0, spool_dir=tmp_path / "spool", ack_timeout_seconds=10, token_cache_seconds=0),
    )
    with TestClient(build_app(settings)) as client:
        yield client, TokenStore(ingest_database)


def _sql(url: str, sql: str, *args: object) -> list[tuple]:  # type: ignore[type-arg]
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, args)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def _post(client: TestClient, token: str):  # type: ignore[no-untyped-def]
    return client.post("/v1/counts", json=COUNT, headers={"Authorization": f"Bearer {token}"})


def test_an_expired_token_gets_401_saying_it_expired(api, ingest_database: str) -> None:
    client, store = api
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=90)
    token = store.create("cctv", ["write:counts"], soon)
    assert _post(client, token).status_code == 202
    _sql(ingest_database, "UPDATE api_token SET expires_at = now() - interval '1 second' WHERE name = 'cctv'")
    r = _post(client, token)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["title"] == "Token expired" and "'cctv' expired at" in body["detail"]
    assert "invalid_token" in r.headers["www-authenticate"]
    assert _post(client, "tp_unknown").json()["title"] == "Unauthorized"  # unknown stays unknown


def test_rotation_keeps_the_old_secret_for_the_grace_period(api, ingest_database: str) -> None:
    client, store = api
    old = store.create("cctv", ["write:counts"])
    (token_id,) = _sql(ingest_database, "SELECT id FROM api_token WHERE name = 'cctv'")[0]
    new = store.rotate("cctv", dt.timedelta(hours=1))
    assert new != old
    assert _post(client, old).status_code == 202 and _post(client, new).status_code == 202
    _sql(ingest_database, "UPDATE api_token SET previous_valid_until = now() - interval '1 second'")
    r = _post(client, old)
    assert r.status_code == 401 and "rotated" in r.json()["detail"]
    assert _post(client, new).status_code == 202
    assert _sql(ingest_database, "SELECT id, expires_at FROM api_token WHERE name = 'cctv'") == [(token_id, None)]
    with pytest.raises(TokenError, match="no active token"):
        store.rotate("nobody")


def test_rotation_renews_the_lifetime_and_a_second_rotation_drops_the_first_secret(api) -> None:
    client, store = api
    first = store.create("batch", ["write:counts"], dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    second = store.rotate("batch")
    (info,) = store.list()
    assert info.rotated_at is not None and info.expires_at is not None
    assert abs(info.expires_at - (info.rotated_at + dt.timedelta(days=90))) < dt.timedelta(seconds=5)
    third = store.rotate("batch", expires_at=dt.datetime(2099, 1, 1, tzinfo=dt.UTC))
    assert store.list()[0].expires_at == dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    assert _post(client, first).status_code == 401  # only one previous secret is kept
    assert _post(client, second).status_code == 202 and _post(client, third).status_code == 202


def test_last_use_is_recorded(api) -> None:
    client, store = api
    token = store.create("cctv", ["write:counts"])
    assert store.list()[0].last_used_at is None
    before = dt.datetime.now(dt.UTC)
    assert _post(client, token).status_code == 202
    used = store.list()[0].last_used_at
    assert used is not None and used >= before - dt.timedelta(seconds=5)
