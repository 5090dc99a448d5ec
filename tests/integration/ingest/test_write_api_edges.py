"""The write API's edges: all or nothing, PostgreSQL down, the idempotency purge (real broker and PostgreSQL)."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from turnpoint.core import topics
from turnpoint.ingest.settings import IngestConfig, IngestSettings
from turnpoint.ingest.tokens import TokenStore
from turnpoint.ingest.write_api.app import build_app

pytestmark = pytest.mark.timeout(120)


def _settings(kafka_settings, url: str, tmp_path: Path, **config: object) -> IngestSettings:  # type: ignore[no-untyped-def]
    return IngestSettings(kafka=kafka_settings, database_url=url,
                          ingest=IngestConfig(port=0, spool_dir=tmp_path / "spool", ack_timeout_seconds=10, **config))


def _reading(i: int, **extra: object) -> dict[str, object]:
    return {"series": f"plant/{i % 3}", "ts": f"2025-01-01T00:00:{i:02d}Z", "value": float(i), **extra}


def test_a_record_too_large_for_a_message_publishes_nothing(kafka_settings, ingest_database: str, tmp_path: Path,
                                                            topic_reader) -> None:
    settings = _settings(kafka_settings, ingest_database, tmp_path, max_message_bytes=1024)
    token = TokenStore(ingest_database).create("w", ["write:readings"])
    big = _reading(10, series="😀" * 200, source="😀" * 200, unit="😀" * 64)  # valid, but ~2 KB encoded
    with TestClient(build_app(settings)) as client:
        r = client.post("/v1/readings", json=[_reading(i) for i in range(10)] + [big],
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 413, r.text
        assert r.headers["content-type"] == "application/problem+json" and r.json()["index"] == 10
        ok = client.post("/v1/readings", json=[_reading(i) for i in range(40)],
                         headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 202 and ok.json()["messages"] > 3  # split below 1,024 bytes per message
    msgs = topic_reader(settings.kafka, topics.READINGS.full_name(settings.kafka.topic_prefix), 41, timeout=6)
    assert sum(len(items) for _k, items in msgs) == 40  # the refused request published none of its 10 good ones


def test_an_unreachable_database_is_503_with_retry_after_within_a_second(kafka_settings, tmp_path: Path) -> None:
    settings = _settings(kafka_settings, "postgresql://nobody@127.0.0.1:1/none", tmp_path)
    with TestClient(build_app(settings)) as client:
        for _ in range(2):
            started = time.monotonic()
            r = client.post("/v1/readings", json=_reading(1), headers={"Authorization": "Bearer tp_uncached"})
            took = time.monotonic() - started
            assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert took < 1.5, took
        assert client.get("/healthz").status_code == 200  # liveness never depends on the database
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["database"]["ok"] is False


def test_a_database_that_goes_away_is_503_not_500(kafka_settings, ingest_database: str, tmp_path: Path,
                                                  database_url: str) -> None:
    """A cached token, then PostgreSQL ends every connection (AdminShutdown) and refuses new ones."""
    settings = _settings(kafka_settings, ingest_database, tmp_path, token_cache_seconds=300)
    token = TokenStore(ingest_database).create("w", ["write:readings"])
    name = psycopg.conninfo.conninfo_to_dict(ingest_database)["dbname"]
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(build_app(settings)) as client:
        assert client.post("/v1/readings", json=_reading(1), headers=auth).status_code == 202  # token cached
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            try:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
                for attempt in range(3):
                    started = time.monotonic()
                    r = client.post("/v1/readings", json=_reading(2),
                                    headers={**auth, "Idempotency-Key": f"k-{attempt}"})
                    assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
                    assert time.monotonic() - started < 1.5
            finally:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_expired_idempotency_keys_are_purged_on_a_schedule(kafka_settings, ingest_database: str,
                                                           tmp_path: Path) -> None:
    settings = _settings(kafka_settings, ingest_database, tmp_path, idempotency_ttl_hours=1,
                         idempotency_purge_seconds=0.2)
    TokenStore(ingest_database).create("w", ["write:readings"])
    with psycopg.connect(ingest_database, autocommit=True) as conn:
        token_id = conn.execute("SELECT id FROM api_token WHERE name = 'w'").fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO ingest_idempotency (token_id, key, request_hash, created_at) VALUES "
                     "(%s, 'old', 'h', now() - interval '2 hours'), (%s, 'new', 'h', now())", (token_id, token_id))
        with TestClient(build_app(settings)):
            deadline = time.monotonic() + 30
            keys = ["old", "new"]
            while time.monotonic() < deadline and "old" in keys:
                time.sleep(0.2)
                keys = [r[0] for r in conn.execute("SELECT key FROM ingest_idempotency ORDER BY key")]
        assert keys == ["new"]


@pytest.mark.parametrize(("path", "record", "field"), [
    ("/v1/readings", {"series": "a\x00b", "ts": "2025-01-01T00:00:00Z", "value": 1.0}, "0.series"),
    ("/v1/readings", {"series": "s", "ts": "2025-01-01T00:00:00Z", "value": "1.5"}, "0.value"),
    ("/v1/readings", {"series": "s", "ts": "2025-01-01T00:00:00Z", "value": True}, "0.value"),
    ("/v1/readings", {"series": "s", "ts": "9999-12-31T00:00:00Z", "value": 1.0}, "0.ts"),
    ("/v1/readings", {"series": "s", "ts": "2025-01-01T00:00:00Z", "value": 1.0, "unit": '"' * 450_000}, "0.unit"),
    ("/v1/bars", {"symbol": "X", "date": "9999-12-31", "open": 1, "high": 1, "low": 1, "close": 1}, "0.date"),
    ("/v1/counts", {"camera": "c" * 200, "period_start": "2025-01-01T00:00:00Z",
                    "period_end": "2025-01-01T00:15:00Z", "people": 1, "vehicle": 0}, "0.camera"),
])
def test_hostile_records_are_422_naming_the_field(kafka_settings, ingest_database: str, tmp_path: Path,
                                                  path: str, record: dict[str, object], field: str) -> None:
    settings = _settings(kafka_settings, ingest_database, tmp_path)
    token = TokenStore(ingest_database).create("w", ["write:readings", "write:bars", "write:counts"])
    with TestClient(build_app(settings)) as client:
        r = client.post(path, json=[record], headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]]


def test_while_publishing_is_held_a_write_is_503_with_retry_after_then_accepted_after_the_release(
        kafka_settings, ingest_database: str, tmp_path: Path) -> None:
    """`turnpoint dev up` replacing its broker holds the ingest's publishing (`<spool_dir>/hold`): nothing can be
    acknowledged, so the write API says so and publishes nothing; an ingest started while held starts held."""
    from turnpoint.ingest.hold import PublishHold

    settings = _settings(kafka_settings, ingest_database, tmp_path)
    token = TokenStore(ingest_database).create("w", ["write:readings"])
    auth = {"Authorization": f"Bearer {token}"}
    control = PublishHold(tmp_path / "spool")
    control.hold()
    with TestClient(build_app(settings)) as client:
        r = client.post("/v1/readings", json=_reading(1), headers={**auth, "Idempotency-Key": "held-1"})
        assert r.status_code == 503 and r.headers["retry-after"] == "2", r.text
        assert r.headers["content-type"] == "application/problem+json" and r.json()["title"] == "Intake held"
        assert client.get("/readyz").json()["spool"]["held"] is True
        control.release()
        deadline = time.monotonic() + 5
        while client.get("/readyz").json()["spool"]["held"] and time.monotonic() < deadline:
            time.sleep(0.1)
        ok = client.post("/v1/readings", json=_reading(1), headers={**auth, "Idempotency-Key": "held-1"})
        assert ok.status_code == 202, ok.text  # the same key: the held request reserved nothing
