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
        ready = httpx.get(f"http://127.0.0.1:{app.port}/readyz", timeout=5)
        metrics = httpx.get(f"http://127.0.0.1:{app.port}/metrics", timeout=5).text
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert ready.status_code == 200 and ready.json()["state"] == "running"
    assert 'turnpoint_loader_rows_total{op="upsert",table="price"}' in metrics
    rows = query(migrated_db, "SELECT symbol, start::text, close, high FROM price ORDER BY symbol, start")
    assert len(rows) == 11
    assert ("AAA", "2024-01-03", 99.0, 100.0) in rows
    assert ("BBB", "2024-01-02", 50.0, 51.0) in rows
    job = query(migrated_db, "SELECT status, rows, last_success IS NOT NULL FROM job_info WHERE job = 'loader.price'")
    assert job and job[0][0] == "ok" and job[0][1] >= 11 and job[0][2]


def test_latest_bar_holds_each_symbols_newest_daily_bar_and_older_resends_never_regress_it(
        loader_settings: Any, produce: Any, migrated_db: str) -> None:
    from turnpoint.core import topics
    from turnpoint.loader.app import bootstrap

    latest = "SELECT symbol, start::text, close FROM latest_bar ORDER BY symbol"
    produce(topics.PRICES, [bar("AAA", d, 10.0 + d) for d in (3, 7, 5)], key="AAA")
    produce(topics.PRICES, [bar("BBB", 2, 50.0), bar("BBB", 20, 500.0, interval="week")], key="BBB")
    app = bootstrap(loader_settings)
    with running(app):
        wait_for(lambda: query(migrated_db, latest) == [("AAA", "2024-01-07", 17.0), ("BBB", "2024-01-02", 50.0)])
        stamp = query(migrated_db, "SELECT updated_at FROM latest_bar WHERE symbol = 'AAA'")[0][0]
        # an older bar re-sent in a later flush, then a replay of the latest one: neither changes the row
        produce(topics.PRICES, [bar("AAA", 5, 99.0)], key="AAA")
        wait_for(lambda: query(migrated_db, "SELECT close FROM price WHERE symbol = 'AAA' AND start = '2024-01-05'")
                 == [(99.0,)])
        produce(topics.PRICES, [bar("AAA", 7, 17.0)], key="AAA")
        produce(topics.PRICES, [bar("ZZZ", 1, 1.0)], key="ZZZ")  # a marker: the replay's flush is done
        wait_for(lambda: len(query(migrated_db, latest)) == 3)
        assert query(migrated_db, latest)[0] == ("AAA", "2024-01-07", 17.0)
        assert query(migrated_db, "SELECT updated_at FROM latest_bar WHERE symbol = 'AAA'")[0][0] == stamp
        # a correction of the latest day replaces it; a newer day moves it forward
        produce(topics.PRICES, [bar("AAA", 7, 70.0), bar("BBB", 9, 90.0)], key="AAA")
        wait_for(lambda: query(migrated_db, latest)[:2] == [("AAA", "2024-01-07", 70.0), ("BBB", "2024-01-09", 90.0)])
        produce(topics.PRICES, [bar("AAA", 8, 80.0), bar("AAA", 1, 1.0)], key="AAA")
        wait_for(lambda: query(migrated_db, latest)[0] == ("AAA", "2024-01-08", 80.0))
    assert query(migrated_db, "SELECT open, high, low, volume FROM latest_bar WHERE symbol = 'AAA'") == [
        (80.0, 81.0, 79.0, 100.0)]
