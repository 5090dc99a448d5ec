"""The HTTP write API in-process (starlette TestClient) against the real broker and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from turnpoint.core import topics
from turnpoint.ingest.errors import TokenError
from turnpoint.ingest.settings import IngestConfig, IngestSettings
from turnpoint.ingest.tokens import TokenStore, hash_token
from turnpoint.ingest.write_api.app import build_app

COUNT = {"camera": "gate-1", "period_start": "2025-01-01T00:00:00Z", "period_end": "2025-01-01T00:15:00Z",
         "people": 12, "vehicle": 3}


@pytest.fixture
def api(kafka_settings, ingest_database: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = IngestSettings(
        kafka=kafka_settings, database_url=ingest_database,
        ingest=IngestConfig(port=0, spool_dir=tmp_path / "spool", max_body_bytes=64 * 1024, ack_timeout_seconds=10,
                            token_cache_seconds=0),
    )
    store = TokenStore(ingest_database)
    tokens = {
        "all": store.create("all", ["write:readings", "write:bars", "write:counts"]),
        "cctv": store.create("cctv", ["write:counts"]),
    }
    with TestClient(build_app(settings)) as client:
        yield client, tokens, settings, store


def _auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def test_tokens_are_stored_hashed(api, ingest_database: str) -> None:
    import psycopg

    _client, tokens, _s, store = api
    with psycopg.connect(ingest_database) as conn:
        stored = {r[0]: r[1] for r in conn.execute("SELECT name, token_hash FROM api_token")}
    assert stored["cctv"] == hash_token(tokens["cctv"]) and tokens["cctv"] not in stored.values()
    assert [t.name for t in store.list()] == ["all", "cctv"]


def test_counts_batch_accepted_after_ack(api, topic_reader) -> None:
    client, tokens, settings, _ = api
    batch = [COUNT, {**COUNT, "camera": "gate-2"}, {**COUNT, "period_start": "2025-01-01T00:15:00Z",
                                                  "period_end": "2025-01-01T00:30:00Z"}]
    r = client.post("/v1/counts", json={"items": batch}, headers=_auth(tokens["cctv"]))
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 3 and r.json()["keys"] == 2
    msgs = topic_reader(settings.kafka, topics.COUNTS.full_name(settings.kafka.topic_prefix), 3)
    assert sorted(k for k, items in msgs for _ in items) == ["gate-1", "gate-1", "gate-2"]


def test_single_reading_and_bars(api) -> None:
    client, tokens, _s, _ = api
    r = client.post("/v1/readings", json={"series": "a/b", "ts": "2025-01-01T00:00:00+09:00", "value": 1.5},
                    headers=_auth(tokens["all"]))
    assert r.status_code == 202 and r.json()["accepted"] == 1
    bars = [{"symbol": "AAPL", "date": f"2024-01-0{d}", "open": 1, "high": 2, "low": 1, "close": 1.5} for d in (2, 3)]
    r = client.post("/v1/bars", json=bars, headers=_auth(tokens["all"]))
    assert r.status_code == 202 and r.json()["accepted"] == 2


def test_auth_errors_are_problem_json(api) -> None:
    client, tokens, _s, store = api
    r = client.post("/v1/counts", json=COUNT)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"] == "Bearer"
    assert client.post("/v1/counts", json=COUNT, headers=_auth("tp_nope")).status_code == 401
    r = client.post("/v1/bars", json={}, headers=_auth(tokens["cctv"]))
    assert r.status_code == 403 and "write:bars" in r.json()["detail"]
    assert client.post("/v1/counts", json=COUNT, headers=_auth(tokens["cctv"])).status_code == 202
    store.revoke("cctv")
    assert client.post("/v1/counts", json=COUNT, headers=_auth(tokens["cctv"])).status_code == 401
    with pytest.raises(TokenError, match="no active token"):
        store.revoke("cctv")


def test_validation_and_size_errors(api) -> None:
    client, tokens, _s, _ = api
    r = client.post("/v1/counts", json={**COUNT, "people": -1}, headers=_auth(tokens["all"]))
    assert r.status_code == 422
    body = r.json()
    assert body["status"] == 422 and body["errors"][0]["field"] == "0.people"
    assert set(body["errors"][0]) == {"field", "message"}
    r = client.post("/v1/readings", json={"series": "s", "ts": "2025-01-01T00:00:00", "value": 1},
                    headers=_auth(tokens["all"]))
    assert r.status_code == 422 and "offset" in r.text
    r = client.post("/v1/counts", content=b"{not json", headers=_auth(tokens["all"]))
    assert r.status_code == 422 and r.json()["title"] == "Invalid JSON"
    big = [COUNT] * 1000
    r = client.post("/v1/counts", json=big, headers=_auth(tokens["all"]))
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"


def test_idempotency_keys(api, topic_reader) -> None:
    client, tokens, settings, _ = api
    h = _auth(tokens["all"], **{"Idempotency-Key": "k-1"})
    first = client.post("/v1/counts", json=COUNT, headers=h)
    again = client.post("/v1/counts", json=COUNT, headers=h)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = client.post("/v1/counts", json={**COUNT, "people": 13}, headers=h)
    assert other.status_code == 422 and "different request body" in other.json()["detail"]
    msgs = topic_reader(settings.kafka, topics.COUNTS.full_name(settings.kafka.topic_prefix), 2, timeout=4)
    assert sum(len(items) for _k, items in msgs) == 1  # published once


def test_a_key_reserved_by_a_dead_request_is_taken_over(api, ingest_database: str, topic_reader) -> None:
    """A SIGKILL between reserving a key and answering must not block retries for the key's lifetime."""
    import hashlib

    import orjson
    import psycopg

    client, tokens, settings, _ = api
    body = orjson.dumps(COUNT)
    h = _auth(tokens["all"], **{"Idempotency-Key": "k-dead", "Content-Type": "application/json"})
    digest = hashlib.sha256(b"/v1/counts\0" + body).hexdigest()
    with psycopg.connect(ingest_database, autocommit=True) as conn:
        token_id = conn.execute("SELECT id FROM api_token WHERE name = 'all'").fetchone()[0]  # type: ignore[index]
        # what a process killed mid-request leaves: a reservation of this request without an answer
        conn.execute("INSERT INTO ingest_idempotency (token_id, key, request_hash) VALUES (%s, 'k-dead', %s)",
                     (token_id, digest))
        busy = client.post("/v1/counts", content=body, headers=h)
        assert busy.status_code == 409 and busy.json()["title"] == "Request in progress"  # may still be running
        conn.execute("UPDATE ingest_idempotency SET created_at = now() - interval '41 seconds' "
                     "WHERE token_id = %s AND key = 'k-dead'", (token_id,))
    retried = client.post("/v1/counts", content=body, headers=h)
    assert retried.status_code == 202, retried.text
    again = client.post("/v1/counts", content=body, headers=h)
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    msgs = topic_reader(settings.kafka, topics.COUNTS.full_name(settings.kafka.topic_prefix), 2, timeout=4)
    assert sum(len(items) for _k, items in msgs) == 1


def test_health_and_metrics(api) -> None:
    client, _t, _s, _ = api
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["database"]["ok"] is True
    assert "turnpoint_ingest_http_requests_total" in client.get("/metrics").text


def test_unknown_paths_and_methods_are_problem_json(api) -> None:
    client, _t, _s, _ = api
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Not Found" and r.json()["instance"] == "/v1/nothing"
    r = client.get("/v1/counts")
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"
    assert "POST" in r.headers["allow"]


def test_operations_have_readable_ids_for_generated_clients(api) -> None:
    client, *_ = api
    doc = client.get("/openapi.json").json()
    ids = {op["operationId"] for path in doc["paths"].values() for op in path.values() if "operationId" in op}
    assert {"post_readings", "post_counts", "post_bars"} <= ids, ids
    assert all(i.isidentifier() and "v1" not in i for i in ids), ids


def _requests(route: str, status: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("turnpoint_ingest_http_requests_total", {"route": route, "status": status}) or 0.0


def _latencies(route: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("turnpoint_ingest_http_seconds_count", {"route": route}) or 0.0


def test_every_answer_is_counted_by_route_and_status_auth_failures_included(api) -> None:
    client, tokens, _s, _ = api
    cases = [("/v1/counts", None, COUNT, "401"), ("/v1/counts", "tp_nope", COUNT, "401"),
             ("/v1/bars", tokens["cctv"], {}, "403"), ("/v1/counts", tokens["cctv"], {**COUNT, "people": -1}, "422"),
             ("/v1/counts", tokens["cctv"], COUNT, "202")]
    for route, token, body, status in cases:
        before, timed = _requests(route, status), _latencies(route)
        r = client.post(route, json=body, headers=_auth(token) if token else {})
        assert str(r.status_code) == status, r.text
        assert _requests(route, status) == before + 1, (route, status)
        assert _latencies(route) == timed + 1, route


def test_a_missing_token_is_401_before_the_body_is_read(api) -> None:
    client, _t, _s, _ = api
    r = client.post("/v1/readings", content=b"x" * (128 * 1024), headers={"Authorization": "Basic abc"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["detail"].startswith("send `Authorization: Bearer <token>`")


def test_openapi_declares_the_bearer_scheme_on_every_write_route(api) -> None:
    client, *_ = api
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    name = next(iter(schemes))
    for route in ("/v1/counts", "/v1/readings", "/v1/bars"):
        assert doc["paths"][route]["post"]["security"] == [{name: []}], route
    assert "security" not in doc["paths"]["/healthz"]["get"]
