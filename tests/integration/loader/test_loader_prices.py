"""The walking skeleton end to end: price bars from Kafka into PostgreSQL, offsets after the commit."""

from __future__ import annotations

from typing import Any

from loader_helpers import query, running, wait_for  # type: ignore[import-not-found]


def bar(symbol: str, day: int, close: float, interval: str = "day") -> dict[str, Any]:
    start = f"2024-01-{day:02d}"
    return {
        "symbol": symbol, "interval": interval, "start": start, "end": start, "open": close, "high": close + 1,
        "low": close - 1, "close": close, "volume": 100.0, "bars": 1,
    }


def test_prices_are_upserted_and_offsets_committed(loader_settings: Any, produce: Any, migrated_db: str) -> None:
    from turnpoint.core import topics
    from turnpoint.core.kafka import group_lag
    from turnpoint.loader.app import bootstrap

    produce(topics.PRICES, [bar("AAA", d, 10.0 + d) for d in range(1, 11)], key="AAA")
    produce(topics.PRICES, [bar("BBB", 2, 50.0)], key="BBB")
    produce(topics.PRICES, [bar("AAA", 3, 99.0)], key="AAA")  # a revision of an earlier bar

    app = bootstrap(loader_settings)
    with running(app):
        wait_for(lambda: query(migrated_db, "SELECT count(*) FROM price")[0][0] == 11)
        name = loader_settings.kafka.topic_prefix + topics.PRICES.name
        wait_for(lambda: group_lag(loader_settings.kafka, loader_settings.loader.group_id, [name]) == 0)
        import httpx

        health = httpx.get(f"http://127.0.0.1:{app.port}/healthz", timeout=5)
        metrics = httpx.get(f"http://127.0.0.1:{app.port}/metrics", timeout=5).text
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert 'turnpoint_loader_rows_total{op="upsert",table="price"}' in metrics
    rows = query(migrated_db, "SELECT symbol, start::text, close, high FROM price ORDER BY symbol, start")
    assert len(rows) == 11
    assert ("AAA", "2024-01-03", 99.0, 100.0) in rows
    assert ("BBB", "2024-01-02", 50.0, 51.0) in rows
    job = query(migrated_db, "SELECT status, rows, last_success IS NOT NULL FROM job_info WHERE job = 'loader.price'")
    assert job and job[0][0] == "ok" and job[0][1] >= 11 and job[0][2]
