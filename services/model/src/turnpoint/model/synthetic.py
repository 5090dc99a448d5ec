"""Generated training data (tests, the demo and the benchmark train on it; nothing large is committed).

Bars follow a geometric random walk whose daily returns have mild AR(1) momentum; readings follow a daily
cycle plus noise with rare spikes. Both write the SPEC section 4 CSV columns.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np

from turnpoint.core.dates import trading_days


def bars_rows(symbols: int = 5, days: int = 300, seed: int = 0, phi: float = 0.2) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    dates = trading_days(dt.date(2023, 1, 2), days)
    rows: list[dict[str, object]] = []
    for s in range(symbols):
        eps = rng.normal(0, 0.015, days)
        r = np.empty(days)
        r[0] = eps[0]
        for i in range(1, days):
            r[i] = phi * r[i - 1] + eps[i]
        close = 100.0 * (1 + s) * np.exp(np.cumsum(r))
        for d, c in zip(dates, close, strict=True):
            spread = c * 0.01
            rows.append({
                "symbol": f"SYM{s:03d}", "date": d.isoformat(), "open": c, "high": c + spread,
                "low": c - spread, "close": c, "volume": float(rng.integers(1000, 100000)),
            })
    return rows


def readings_rows(series: int = 3, hours: int = 24 * 60, seed: int = 0, spike_rate: float = 0.002) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows: list[dict[str, object]] = []
    t = np.arange(hours)
    for s in range(series):
        v = 20 + 5 * s + 3 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.5, hours)
        spikes = rng.random(hours) < spike_rate
        v[spikes] += rng.choice([-1, 1], spikes.sum()) * rng.uniform(4, 8, spikes.sum())
        for i in range(hours):
            ts = start + dt.timedelta(hours=int(i))
            rows.append({"series": f"sensor/{s}", "ts": ts.isoformat().replace("+00:00", "Z"), "value": float(v[i])})
    return rows


def write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: repr(float(v)) if isinstance(v, float) else v for k, v in row.items()})
    return path
