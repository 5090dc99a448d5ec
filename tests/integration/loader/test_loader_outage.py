"""The database stops in the middle of a load and comes back: nothing is lost, offsets wait for the commit."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from loader_helpers import query, running, wait_for  # type: ignore[import-not-found]
from turnpoint.core import topics


def bars(symbol: str, days: range) -> list[dict[str, Any]]:
    out = []
    for d in days:
        start = f"2023-{1 + d // 28:02d}-{1 + d % 28:02d}"
        out.append({"symbol": symbol, "interval": "day", "start": start, "end": start, "open": 10.0, "high": 11.0,
                    "low": 9.0, "close": 10.0 + d, "volume": 1.0, "bars": 1})
    return out


def test_a_database_restart_mid_load_loses_nothing(
    pg_server: dict[str, Any], loader_settings: Any, produce: Any, migrated_db: str,
) -> None:
    from turnpoint.core.kafka import group_lag
    from turnpoint.loader import metrics

    from turnpoint.cli.embedded import start_postgres, stop_postgres

    if pg_server["pgdata"] is None:
        pytest.skip("needs the embedded PostgreSQL (DATABASE_URL names an external server that this test cannot restart)")
    pgdata, port = Path(str(pg_server["pgdata"])), int(str(pg_server["port"]))
    from turnpoint.loader.app import bootstrap

    name = loader_settings.kafka.topic_prefix + topics.PRICES.name
    retries_before = metrics.RETRIES._value.get()
    produce(topics.PRICES, bars("OUT", range(0, 100)), key="OUT")
    app = bootstrap(loader_settings)
    try:
        with running(app):
            wait_for(lambda: query(migrated_db, "SELECT count(*) FROM price")[0][0] == 100)
            stop_postgres(pgdata, mode="immediate")
            produce(topics.PRICES, bars("OUT", range(100, 200)), key="OUT")
            produce(topics.PRICES, bars("OUT", range(50, 60)), key="OUT")  # revisions while down
            wait_for(lambda: app.loader.state == "retrying", timeout=15)
            time.sleep(1.0)  # a few failed attempts while the database is down
            # nothing was committed for the messages that could not be written
            assert group_lag(loader_settings.kafka, loader_settings.loader.group_id, [name]) == 2
            health_ok, detail = app.health()
            assert not health_ok and detail["state"] == "retrying" and detail["last_error"]
            start_postgres(pgdata, port)
            wait_for(lambda: group_lag(loader_settings.kafka, loader_settings.loader.group_id, [name]) == 0, timeout=30)
            assert app.loader.state == "running"
    finally:
        start_postgres(pgdata, port)  # whatever happened, leave the session's database running
    assert query(migrated_db, "SELECT count(*), sum(close) FROM price") == [(200, sum(10.0 + d for d in range(200)))]
    assert metrics.RETRIES._value.get() > retries_before
