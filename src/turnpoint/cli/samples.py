"""Deterministic sample data for the demo: market bars and sensor readings that look like the real thing."""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
from pathlib import Path

from turnpoint.core.dates import trading_days

SYMBOLS = ("005930", "000660", "035420", "051910", "AAPL", "MSFT", "NVDA", "TSLA")
SERIES = ("plant0/people", "plant0/temp", "plant1/people", "plant1/temp")


def write_bars(path: Path, symbols: tuple[str, ...] = SYMBOLS, days: int = 750, seed: int = 7) -> int:
    """Random-walk daily bars (SPEC section 4 columns); returns the number of rows written."""
    rng = random.Random(seed)
    calendar = trading_days(dt.date(2022, 1, 3), days)
    rows = 0
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["symbol", "date", "open", "high", "low", "close", "volume"])
        for symbol in symbols:
            price = rng.uniform(20, 400)
            for day in calendar:
                o = price
                c = max(0.5, o * math.exp(rng.gauss(0.0003, 0.02)))
                h = max(o, c) * (1 + abs(rng.gauss(0, 0.006)))
                lo = min(o, c) * (1 - abs(rng.gauss(0, 0.006)))
                w.writerow([symbol, day.isoformat(), round(o, 2), round(h, 2), round(lo, 2), round(c, 2),
                            rng.randint(100_000, 9_000_000)])
                price = c
                rows += 1
    return rows


def reading_value(series: str, ts: dt.datetime, rng: random.Random) -> float:
    hour = ts.hour + ts.minute / 60
    if series.endswith("people"):
        base = 40 + 15 * math.sin((hour - 9) / 24 * 2 * math.pi)
        return round(max(0.0, base + rng.gauss(0, 3) + (25 if rng.random() < 0.005 else 0)), 3)
    return round(21 + 3 * math.sin((hour - 14) / 24 * 2 * math.pi) + rng.gauss(0, 0.4), 3)


def write_readings(path: Path, end: dt.datetime, days: int = 45, step_minutes: int = 15, seed: int = 11) -> int:
    """Readings every `step_minutes` for `days` days up to `end` (UTC instants with Z)."""
    rng = random.Random(seed)
    start = end - dt.timedelta(days=days)
    rows = 0
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["series", "ts", "value"])
        t = start
        while t < end:
            for series in SERIES:
                w.writerow([series, t.strftime("%Y-%m-%dT%H:%M:%SZ"), reading_value(series, t, rng)])
                rows += 1
            t += dt.timedelta(minutes=step_minutes)
    return rows
