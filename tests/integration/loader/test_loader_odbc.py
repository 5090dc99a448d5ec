"""The ODBC sink's real pyodbc code path, against PostgreSQL through Debian's psqlODBC driver.

Install the driver with: apt-get install -y odbc-postgresql unixodbc
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from loader_helpers import query, running, wait_for  # type: ignore[import-not-found]
from turnpoint.core import topics

DRIVER = "PostgreSQL Unicode"


@pytest.fixture
def odbc_connection_string(migrated_db: str) -> str:
    try:
        import pyodbc
    except ImportError as exc:  # libodbc.so.2 missing
        pytest.skip(f"pyodbc cannot load unixODBC ({exc}); run: apt-get install -y odbc-postgresql unixodbc")
    if DRIVER not in pyodbc.drivers():
        pytest.skip(f"ODBC driver {DRIVER!r} not installed; run: apt-get install -y odbc-postgresql unixodbc")
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(migrated_db)
    return (f"Driver={{{DRIVER}}};Server={info.get('host', '127.0.0.1')};Port={info.get('port', 5432)};"
            f"Database={info['dbname']};Uid={info.get('user', 'postgres')};Pwd={info.get('password', '')};")


def test_odbc_sink_upserts_deletes_and_isolates(odbc_connection_string: str, migrated_db: str) -> None:
    from turnpoint.loader import tables as T
    from turnpoint.loader.odbc import OdbcSink
    from turnpoint.loader.sink import isolate

    sink = OdbcSink(odbc_connection_string, dialect="postgres")
    day = dt.date(2024, 5, 1)
    rows = [("ODB", "day", day + dt.timedelta(d), day + dt.timedelta(d), 1.0, 2.0, 0.5, 1.0 + d, 9.0, 1)
            for d in range(30)]
    rows[7] = (*rows[7][:5], 0.1, 2.0, *rows[7][7:])  # high < low: rejected by a CHECK constraint
    sink.begin()
    rejected = isolate(len(rows), lambda lo, hi: sink.upsert(T.PRICE, rows[lo:hi]))
    legs = [("ODB", "close", day + dt.timedelta(d), 1.0, day + dt.timedelta(d + 1), 2.0, 1, 1.0, 100.0, "up")
            for d in range(3)]
    sink.upsert(T.REBOUND_LEG, legs)
    sink.upsert(T.PREDICTION, [("m", "1", "forecast", "ODB", dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC), 2,
                                [1.5, 2.5], "t")])
    sink.upsert(T.JOB_INFO, [("j", "running", None, 0, "")])
    sink.record_jobs({"price": 29})
    sink.commit()
    assert [i for i, _ in rejected] == [7] and rejected[0][1].sqlstate == "23514"

    sink.begin()  # a second transaction: updates, a tombstone
    sink.upsert(T.PRICE, [(*rows[0][:7], 42.0, *rows[0][8:])])
    sink.delete(T.REBOUND_LEG, [legs[1][:3]])
    sink.commit()
    sink.close()

    assert query(migrated_db, "SELECT count(*) FROM price") == [(29,)]
    assert query(migrated_db, "SELECT close FROM price WHERE start = %s", (day,)) == [(42.0,)]
    assert [r[0] for r in query(migrated_db, "SELECT start_date FROM rebound_leg ORDER BY 1")] == [
        day, day + dt.timedelta(2)]
    assert query(migrated_db, 'SELECT "values", asof FROM prediction') == [
        ([1.5, 2.5], dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC))]
    assert query(migrated_db, "SELECT rows FROM job_info WHERE job = 'loader.price'") == [(29,)]


def test_the_loader_runs_end_to_end_on_odbc(
    odbc_connection_string: str, loader_settings: Any, produce: Any, migrated_db: str,
) -> None:
    from pydantic import SecretStr
    from turnpoint.loader.app import bootstrap

    opts = loader_settings.loader.model_copy(update={
        "dialect": "odbc", "odbc_dialect": "postgres", "odbc_connection_string": SecretStr(odbc_connection_string)})
    settings = loader_settings.model_copy(update={"loader": opts})
    items = [{"symbol": "ODE", "interval": "week", "start": f"2024-01-{d:02d}", "end": f"2024-01-{d:02d}",
              "open": 1.0, "high": 2.0, "low": 0.5, "close": float(d), "volume": 3.0, "bars": 5} for d in range(1, 8)]
    produce(topics.PRICES, items, key="ODE")
    with running(bootstrap(settings)):
        wait_for(lambda: query(migrated_db, "SELECT count(*) FROM price")[0][0] == 7)
    assert query(migrated_db, "SELECT sum(close), min(bars) FROM price") == [(28.0, 5)]


def test_odbc_and_postgres_sinks_read_the_same_newest_reading_per_series(
    odbc_connection_string: str, migrated_db: str,
) -> None:
    """The allowed lateness starts from the newest stored reading: both sinks must read it as the same instant."""
    from turnpoint.loader import tables as T
    from turnpoint.loader.odbc import OdbcSink
    from turnpoint.loader.postgres import PostgresSink

    at = dt.datetime(2024, 5, 1, 23, 30, 0, 250_000, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    rows = [("n/1", at, 1.0, ""), ("n/1", at - dt.timedelta(days=3), 2.0, ""), ("n/2", at - dt.timedelta(hours=1), 3.0, "")]
    pg = PostgresSink(migrated_db)
    pg.begin()
    pg.upsert(T.READING, rows)
    pg.commit()
    expected = {"n/1": at, "n/2": at - dt.timedelta(hours=1)}
    pg.begin()
    assert pg.newest(T.READING, ["n/1", "n/2", "none"]) == expected
    pg.commit()
    pg.close()
    odbc = OdbcSink(odbc_connection_string, dialect="postgres")
    odbc.begin()
    got = odbc.newest(T.READING, ["n/1", "n/2", "none"])
    odbc.commit()
    odbc.close()
    assert got == expected and all(ts.utcoffset() == dt.timedelta(0) for ts in got.values())
