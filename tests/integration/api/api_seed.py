"""Seed data of the API's integration tests: a small, fully known data set on the real schema."""

from __future__ import annotations

import datetime as dt

import psycopg
from turnpoint.api.auth import token_hash
from turnpoint.api.settings import ApiOptions, ApiSettings

SYMBOLS = ("AAA", "BBB", "CCC.KS")
DAY0 = dt.date(2024, 1, 1)
N_DAYS = 30
SERIES = "plant/line-1/temp"
READ_TOKEN, WRITE_TOKEN = "read-token-" + "x" * 20, "write-token-" + "y" * 20


def migrate(url: str) -> None:
    from turnpoint.loader.migrations import migrate as run_migrations

    run_migrations(url)


def seed(conn: psycopg.Connection) -> None:
    """A small, fully known data set: three symbols, one series with `/`, tokens."""
    for i, sym in enumerate(SYMBOLS):
        conn.execute("INSERT INTO symbol (symbol, name, market, status, designations) VALUES (%s, %s, %s, 'listed', %s)",
                     (sym, f"{sym} Corp", "KOSPI" if i % 2 else "KOSDAQ", ["kospi200"] if i == 0 else []))
        for d in range(N_DAYS):
            day = DAY0 + dt.timedelta(days=d)
            close = 100.0 + i * 10 + (d % 7) - (d % 3)
            conn.execute(
                "INSERT INTO price (symbol, interval, start, \"end\", open, high, low, close, volume, bars)"
                " VALUES (%s, 'day', %s, %s, %s, %s, %s, %s, %s, 1)",
                (sym, day, day, close, close + 1, close - 1, close, 1000.0 * (d + 1)),
            )
        for leg in range(5):
            start = DAY0 + dt.timedelta(days=leg * 5)
            up = leg % 2 == 0
            sv, ev = 100.0 + leg, (110.0 if up else 90.0) + leg
            conn.execute(
                "INSERT INTO rebound_leg (symbol, gtype, start_date, start_value, end_date, end_value, bars, change,"
                " pct, direction) VALUES (%s, 'close', %s, %s, %s, %s, 5, %s, %s, %s)",
                (sym, start, sv, start + dt.timedelta(days=5), ev, ev - sv, (ev / sv - 1) * 100, "up" if up else "down"),
            )
        for g, gtype in enumerate(("open", "high", "low", "close")):
            conn.execute(
                "INSERT INTO rebound_state (symbol, gtype, threshold, direction, pivot_date, pivot_value, extreme_date,"
                " extreme_value, last_date, last_value, bars_since_pivot, pct_from_pivot, pct_from_extreme)"
                " VALUES (%s, %s, 0, %s, %s, 100, %s, 120, %s, 110, 4, %s, %s)",
                (sym, gtype, "down" if i == 1 else "up", DAY0 + dt.timedelta(days=25), DAY0 + dt.timedelta(days=27),
                 DAY0 + dt.timedelta(days=29), -5.0 * i + g, 1.5 * i),
            )
    fill_latest_bar(conn)
    t0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    for h in range(48):
        conn.execute("INSERT INTO reading (series, ts, value, unit) VALUES (%s, %s, %s, 'C')",
                     (SERIES, t0 + dt.timedelta(hours=h), 20.0 + h % 5))
    conn.execute("INSERT INTO reading (series, ts, value, unit) VALUES ('other', %s, 1.0, NULL)", (t0,))
    for d in range(10):
        conn.execute("INSERT INTO calendar_stat (series, period, start, weekday, count, mean, std, min, max, tz)"
                     " VALUES (%s, 'day', %s, 0, 24, 22.0, 1.4, 20.0, 24.0, 'UTC')", (SERIES, t0.date() + dt.timedelta(days=d)))
        for wd in (1, 2, 3):
            conn.execute("INSERT INTO calendar_stat (series, period, start, weekday, count, mean, std, min, max, tz)"
                         " VALUES (%s, 'month-weekday', %s, %s, 4, 21.0, 1.0, 20.0, 22.0, 'UTC')",
                         (SERIES, dt.date(2024, 1 + d, 1), wd))
    for h in range(12):
        conn.execute("INSERT INTO outlier (series, ts, value, mean, std, direction, k, window_days)"
                     " VALUES (%s, %s, 40, 22, 2, 'high', 1.5, 28)", (SERIES, t0 + dt.timedelta(hours=h * 2)))
    for h in range(3):
        conn.execute("INSERT INTO prediction (model, version, kind, target, asof, horizon, \"values\", trace_id)"
                     " VALUES ('arima', '1', 'forecast', 'AAA', %s, 3, %s, 'tr')",
                     (t0 + dt.timedelta(days=h), [1.0, 2.0, 3.0]))
    conn.execute("INSERT INTO job_info (job, status, last_success, rows, detail) VALUES ('loader.price', 'ok', %s, 90, '')",
                 (t0,))
    conn.execute("INSERT INTO api_token (name, token_hash, scopes) VALUES ('reader', %s, '{read}')", (token_hash(READ_TOKEN),))
    conn.execute("INSERT INTO api_token (name, token_hash, scopes) VALUES ('writer', %s, '{write:readings}')",
                 (token_hash(WRITE_TOKEN),))


def fill_latest_bar(conn: psycopg.Connection) -> None:
    """What the loader keeps with every daily bar it writes (the seed writes price directly)."""
    conn.execute("DELETE FROM latest_bar")
    conn.execute("INSERT INTO latest_bar (symbol, start, open, high, low, close, volume)"
                 " SELECT DISTINCT ON (symbol) symbol, start, open, high, low, close, volume FROM price"
                 " WHERE interval = 'day' ORDER BY symbol, start DESC")


def api_settings(url: str, **options: object) -> ApiSettings:
    return ApiSettings(database_url=url, environment="test", api=ApiOptions(**options))  # type: ignore[arg-type]
