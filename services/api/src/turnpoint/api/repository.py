"""Every SQL statement of the API, each a single round trip backed by a primary key or an index.

Pages are keyset-based: the lower bound is the last key of the previous page, so rows inserted while a
client pages never shift or repeat what it sees. Dates are inclusive ranges on the key column.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from turnpoint.api import cursor, symbol_list
from turnpoint.api.db import Database
from turnpoint.api.errors import NotFound
from turnpoint.api.pages import page

DATE_MIN, DATE_MAX = dt.date(1, 1, 1), dt.date(9999, 12, 31)
INSTANT_MIN = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
INSTANT_MAX = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
ONE_DAY = dt.timedelta(days=1)
ONE_MICROSECOND = dt.timedelta(microseconds=1)

SYMBOL_KNOWN = """
SELECT EXISTS (SELECT 1 FROM symbol WHERE symbol = $1)
    OR EXISTS (SELECT 1 FROM price WHERE symbol = $1)
    OR EXISTS (SELECT 1 FROM rebound_state WHERE symbol = $1)
"""
SERIES_KNOWN = """
SELECT EXISTS (SELECT 1 FROM reading WHERE series = $1)
    OR EXISTS (SELECT 1 FROM calendar_stat WHERE series = $1)
    OR EXISTS (SELECT 1 FROM outlier WHERE series = $1)
"""
BARS = """
SELECT start, "end", open, high, low, close, volume, bars FROM price
WHERE symbol = $1 AND interval = $2 AND start >= $3 AND start <= $4
ORDER BY start LIMIT $5
"""
LEGS = """
SELECT symbol, gtype, start_date, start_value, end_date, end_value, bars, change, pct, direction FROM rebound_leg
WHERE symbol = $1 AND gtype = $2 AND start_date >= $3 AND start_date <= $4
ORDER BY start_date LIMIT $5
"""
STATE = """
SELECT symbol, gtype, threshold, direction, pivot_date, pivot_value, extreme_date, extreme_value, last_date,
       last_value, bars_since_pivot, pct_from_pivot, pct_from_extreme, updated_at
FROM rebound_state WHERE symbol = $1 AND gtype = $2
"""
WINDOW = """
WITH days AS (
    SELECT start FROM price WHERE symbol = $1 AND interval = 'day' ORDER BY start DESC LIMIT $3
), w AS (SELECT min(start) AS lo, max(start) AS hi, count(*) AS n FROM days)
SELECT w.lo, w.hi, w.n,
       count(*) FILTER (WHERE l.direction = 'up') AS up_legs,
       avg(l.pct) FILTER (WHERE l.direction = 'up') AS up_mean_pct,
       count(*) FILTER (WHERE l.direction = 'down') AS down_legs,
       avg(l.pct) FILTER (WHERE l.direction = 'down') AS down_mean_pct
FROM w LEFT JOIN rebound_leg l
  ON l.symbol = $1 AND l.gtype = $2 AND l.end_date >= w.lo AND l.end_date <= w.hi
GROUP BY w.lo, w.hi, w.n
"""
STATS = """
SELECT series, period, start, NULLIF(weekday, 0) AS weekday, count, mean, std, min, max, tz,
       (SELECT unit FROM reading WHERE series = $1 ORDER BY ts DESC LIMIT 1) AS unit
FROM calendar_stat
WHERE series = $1 AND period = $2 AND (start, weekday) > ($3, $4) AND start <= $5
ORDER BY start, weekday LIMIT $6
"""
OUTLIERS = """
SELECT series, ts, value, mean, std, direction, k, window_days,
       (SELECT unit FROM reading WHERE series = $1 ORDER BY ts DESC LIMIT 1) AS unit
FROM outlier
WHERE series = $1 AND ts >= $2 AND ts < $3
ORDER BY ts LIMIT $4
"""
READINGS = """
SELECT series, ts, value, unit FROM reading
WHERE series = $1 AND ts >= $2 AND ts < $3
ORDER BY ts LIMIT $4
"""
# Distinct series by a loose index scan over reading's primary key, then each one's latest reading.
SERIES = """
WITH RECURSIVE s(series) AS (
    (SELECT series FROM reading WHERE series > $1 ORDER BY series LIMIT 1)
    UNION ALL
    SELECT (SELECT r.series FROM reading r WHERE r.series > s.series ORDER BY r.series LIMIT 1)
    FROM s WHERE s.series IS NOT NULL
)
SELECT s.series, l.ts, l.value, l.unit
FROM s CROSS JOIN LATERAL (
    SELECT ts, value, unit FROM reading r WHERE r.series = s.series ORDER BY ts DESC LIMIT 1
) l
WHERE s.series IS NOT NULL
LIMIT $2
"""
PREDICTIONS = """
SELECT model, version, kind, target, asof, horizon, "values", trace_id FROM prediction
WHERE target = $1 AND asof >= $2 AND asof < $3 AND ($4::text IS NULL OR model = $4)
  AND (asof, model, version) > ($5, $6, $7)
ORDER BY asof, model, version LIMIT $8
"""


def _after(bound: dt.date, last: dt.date | None) -> dt.date:
    return bound if last is None else max(bound, last + ONE_DAY)


class Repository:
    """Read queries over the shared schema; returns plain dicts ready for JSON."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def require_symbol(self, symbol: str) -> None:
        if not await self.db.fetchval(SYMBOL_KNOWN, symbol, generic=True):
            msg = f"symbol {symbol!r} is unknown; GET /v1/symbols lists the known ones"
            raise NotFound(msg)

    async def require_series(self, series: str) -> None:
        if not await self.db.fetchval(SERIES_KNOWN, series, generic=True):
            msg = f"series {series!r} is unknown; GET /v1/series lists the known ones"
            raise NotFound(msg)

    async def bars(self, symbol: str, interval: str, lo: dt.date | None, hi: dt.date | None, limit: int,
                   token: str | None) -> dict[str, Any]:
        kind = f"bars:{interval}"
        last = cursor.decode(token, kind, [cursor.as_date])[0] if token else None
        rows = await self.db.fetch(BARS, symbol, interval, _after(lo or DATE_MIN, last), hi or DATE_MAX, limit + 1,
                                   generic=True)
        if not rows and last is None:
            await self.require_symbol(symbol)
        return page(rows, limit, kind, lambda r: [r["start"]])

    async def legs(self, symbol: str, gtype: str, lo: dt.date | None, hi: dt.date | None, limit: int,
                   token: str | None) -> dict[str, Any]:
        kind = f"legs:{gtype}"
        last = cursor.decode(token, kind, [cursor.as_date])[0] if token else None
        rows = await self.db.fetch(LEGS, symbol, gtype, _after(lo or DATE_MIN, last), hi or DATE_MAX, limit + 1,
                                   generic=True)
        if not rows and last is None:
            await self.require_symbol(symbol)
        return page(rows, limit, kind, lambda r: [r["start_date"]])

    async def state(self, symbol: str, gtype: str) -> dict[str, Any]:
        row = await self.db.fetchrow(STATE, symbol, gtype, generic=True)
        if row is None:
            await self.require_symbol(symbol)
            msg = f"symbol {symbol!r} has no rebound state for gtype {gtype!r} yet (no bars processed)"
            raise NotFound(msg)
        return dict(row)

    async def window(self, symbol: str, gtype: str, days: int) -> dict[str, Any]:
        row = await self.db.fetchrow(WINDOW, symbol, gtype, days, generic=True)
        if row is None or row["n"] == 0:
            await self.require_symbol(symbol)
            msg = f"symbol {symbol!r} has no daily bars yet, so it has no trading-day window"
            raise NotFound(msg)
        return {
            "symbol": symbol, "gtype": gtype, "days": days, "trading_days": row["n"],
            "from": row["lo"], "to": row["hi"],
            "up": {"legs": row["up_legs"], "mean_pct": row["up_mean_pct"]},
            "down": {"legs": row["down_legs"], "mean_pct": row["down_mean_pct"]},
        }

    async def stats(self, series: str, period: str, lo: dt.date | None, hi: dt.date | None, limit: int,
                    token: str | None) -> dict[str, Any]:
        kind = f"stats:{period}"
        start, weekday = lo or DATE_MIN, -1
        if token:
            last_start, last_weekday = cursor.decode(token, kind, [cursor.as_date, cursor.as_int])
            if (last_start, last_weekday) >= (start, weekday):
                start, weekday = last_start, last_weekday
        rows = await self.db.fetch(STATS, series, period, start, weekday, hi or DATE_MAX, limit + 1, generic=True)
        if not rows and not token:
            await self.require_series(series)
        return page(rows, limit, kind, lambda r: [r["start"], r["weekday"] or 0])

    async def outliers(self, series: str, lo: dt.datetime | None, hi: dt.datetime | None, limit: int,
                       token: str | None) -> dict[str, Any]:
        rows, last = await self._by_instant(OUTLIERS, "outliers", series, lo, hi, limit, token)
        if not rows and last is None:
            await self.require_series(series)
        return page(rows, limit, "outliers", lambda r: [r["ts"]])

    async def readings(self, series: str, lo: dt.datetime | None, hi: dt.datetime | None, limit: int,
                       token: str | None) -> dict[str, Any]:
        rows, last = await self._by_instant(READINGS, "readings", series, lo, hi, limit, token)
        if not rows and last is None:
            await self.require_series(series)
        return page(rows, limit, "readings", lambda r: [r["ts"]])

    async def _by_instant(self, sql: str, kind: str, series: str, lo: dt.datetime | None,
                          hi: dt.datetime | None, limit: int, token: str | None) -> tuple[list[Any], Any]:
        last = cursor.decode(token, kind, [cursor.as_instant])[0] if token else None
        start = lo or INSTANT_MIN
        if last is not None:
            start = max(start, last + ONE_MICROSECOND)
        return await self.db.fetch(sql, series, start, hi or INSTANT_MAX, limit + 1), last

    async def series(self, limit: int, token: str | None) -> dict[str, Any]:
        after = cursor.decode(token, "series", [cursor.as_str])[0] if token else ""
        rows = await self.db.fetch(SERIES, after, limit + 1)
        return page(rows, limit, "series", lambda r: [r["series"]], _latest_reading)

    async def predictions(self, target: str, model: str | None, lo: dt.datetime | None, hi: dt.datetime | None,
                          limit: int, token: str | None) -> dict[str, Any]:
        key: list[Any] = [INSTANT_MIN, "", ""]
        if token:
            key = cursor.decode(token, "predictions", [cursor.as_instant, cursor.as_str, cursor.as_str])
        rows = await self.db.fetch(PREDICTIONS, target, lo or INSTANT_MIN, hi or INSTANT_MAX, model, *key, limit + 1)
        return page(rows, limit, "predictions", lambda r: [r["asof"], r["model"], r["version"]], labelled_prediction)


def labelled_prediction(r: Any) -> dict[str, Any]:
    """A prediction with its `values` named: an anomaly's `[score, threshold, flag]` as
    `{"score", "threshold", "flagged"}`, a forecast's closes as `[{"trading_days_ahead", "value"}]`
    (the stored row and the predictions topic keep the compact list)."""
    item = dict(r)
    values = list(item["values"])
    if item["kind"] == "anomaly" and len(values) == 3:
        item["values"] = {"score": values[0], "threshold": values[1], "flagged": values[2] >= 0.5}
    else:
        item["values"] = [{"trading_days_ahead": i, "value": v} for i, v in enumerate(values, 1)]
    return item


def _latest_reading(r: Any) -> dict[str, Any]:
    return {"series": r["series"], "latest": {"ts": r["ts"], "value": r["value"], "unit": r["unit"]}}


async def symbol_page(db: Database, f: symbol_list.SymbolFilter, limit: int, token: str | None) -> dict[str, Any]:
    """One page of the symbols list: the rows with a value in the sort column, then (only when those ran out)
    the rows without one (see symbol_list)."""
    after = symbol_list.decode_cursor(f, token) if token else None
    in_tail = f.sort != "symbol" and after is not None and after[0] is None
    rows: list[Any] = []
    if not in_tail:
        sql, args = symbol_list.build(f, limit, after)
        rows = await db.fetch(sql, *args, generic=symbol_list.generic_plan_fits(f))
    if len(rows) <= limit:
        tail = symbol_list.build_tail(f, limit - len(rows), after[1] if in_tail and after else None)
        if tail is not None:
            rows += await db.fetch(tail[0], *tail[1])
    return symbol_list.to_page(f, rows, limit)
