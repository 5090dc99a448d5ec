"""Inputs for whole-pipeline runs and the row-for-row check of the database against `turnpoint batch`.

`Inputs` accumulates every bar and reading fed to a stack (in feeding order); `check_database` runs the
SPEC §4 batch commands over them and compares each result table with the database rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BAR_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "volume")
READING_COLUMNS = ("series", "ts", "value")
REL = 1e-9


def trading_days(start: dt.date, n: int) -> list[dt.date]:
    days, d = [], start
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d += dt.timedelta(days=1)
    return days


def market_rows(symbols: list[str], days: list[dt.date], rng: random.Random) -> list[dict[str, Any]]:
    """A random walk per symbol (2 decimals, so equal values happen), rows ordered by symbol then date."""
    rows = []
    for symbol in symbols:
        close = rng.uniform(20, 200)
        for day in days:
            close = max(1.0, close * math.exp(rng.gauss(0, 0.02)))
            o = round(close * math.exp(rng.gauss(0, 0.01)), 2)
            c = round(close, 2)
            h = round(max(o, c) * (1 + abs(rng.gauss(0, 0.01))), 2)
            lo = round(min(o, c) * (1 - abs(rng.gauss(0, 0.01))), 2)
            rows.append({"symbol": symbol, "date": day.isoformat(), "open": o, "high": h, "low": max(lo, 0.01),
                         "close": c, "volume": float(rng.randrange(1000, 10**6))})
    return rows


def revisions(rows: list[dict[str, Any]], last_days: int, rng: random.Random) -> list[dict[str, Any]]:
    """Daily re-sends: the last `last_days` bars of every symbol again, closes nudged inside [low, high]."""
    by_symbol: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_symbol.setdefault(row["symbol"], []).append(row)
    out = []
    for bars in by_symbol.values():
        for row in bars[-last_days:]:
            c = round(min(row["high"], max(row["low"], row["close"] * (1 + rng.uniform(-0.03, 0.03)))), 2)
            out.append({**row, "close": c})
    return out


def reading_rows(series: list[str], start: dt.datetime, days: int, per_day: int,
                 rng: random.Random) -> list[dict[str, Any]]:
    """Readings in time order (interleaved across series), with occasional spikes so outliers exist."""
    step = dt.timedelta(days=1) / per_day
    rows = []
    base = {s: rng.uniform(10, 50) for s in series}
    for i in range(days * per_day):
        ts = start + i * step
        for s in series:
            value = base[s] + 5 * math.sin(i / per_day * 2 * math.pi) + rng.gauss(0, 1)
            if rng.random() < 0.01:
                value += rng.choice((-1, 1)) * rng.uniform(8, 15)
            rows.append({"series": s, "ts": ts.isoformat().replace("+00:00", "Z"), "value": round(value, 6)})
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for row in rows:
            w.writerow([row[c] for c in columns])
    return path


@dataclass
class Inputs:
    """Everything fed to a stack, in feeding order (later bars for a symbol+date revise earlier ones)."""

    bars: list[dict[str, Any]] = field(default_factory=list)
    readings: list[dict[str, Any]] = field(default_factory=list)

    def final_bars(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["symbol"], r["date"]): r for r in self.bars}

    def distinct_readings(self) -> dict[tuple[str, str], float]:
        return {(r["series"], _instant(r["ts"])): float(r["value"]) for r in self.readings}


def _instant(ts: str) -> str:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(dt.UTC).isoformat()


def run_batch(kind: str, input_csv: Path, output: Path, *args: str) -> list[dict[str, str]]:
    done = subprocess.run([sys.executable, "-m", "turnpoint.cli.main", "batch", kind, "--input", str(input_csv),
                           "--output", str(output), *args], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        msg = f"turnpoint batch {kind} failed: {done.stderr}"
        raise AssertionError(msg)
    with output.open() as f:
        return list(csv.DictReader(f))


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-9)


def _diff(name: str, want: dict[Any, tuple[Any, ...]], got: dict[Any, tuple[Any, ...]]) -> list[str]:
    problems = []
    missing, extra = want.keys() - got.keys(), got.keys() - want.keys()
    if missing:
        problems.append(f"{name}: {len(missing)} rows missing in the database, e.g. {sorted(missing)[:3]}")
    if extra:
        problems.append(f"{name}: {len(extra)} rows in the database the batch does not have, e.g. {sorted(extra)[:3]}")
    wrong = [k for k in want.keys() & got.keys()
             if not all(_close(a, b) if isinstance(a, float) or isinstance(b, float) else a == b
                        for a, b in zip(want[k], got[k], strict=True))]
    if wrong:
        k = sorted(wrong)[0]
        problems.append(f"{name}: {len(wrong)} rows differ, e.g. {k}: batch {want[k]} vs database {got[k]}")
    return problems


def _f(text: str) -> float:
    return float(text)


def check_database(database_url: str, inputs: Inputs, workdir: Path, tz: str) -> dict[str, int]:
    """Compare price(day), rebound_leg, calendar_stat, outlier and reading with the batch results.

    Returns the row counts compared; raises AssertionError listing every difference.
    """
    import psycopg

    workdir.mkdir(parents=True, exist_ok=True)
    bars_csv = write_csv(workdir / "bars.csv", inputs.bars, BAR_COLUMNS)
    readings_csv = write_csv(workdir / "readings.csv", inputs.readings, READING_COLUMNS)
    want: dict[str, dict[Any, tuple[Any, ...]]] = {}
    want["price"] = {(s, d): tuple(float(r[c]) for c in ("open", "high", "low", "close", "volume"))
                     for (s, d), r in inputs.final_bars().items()}
    want["reading"] = {k: (v,) for k, v in inputs.distinct_readings().items()}
    legs = run_batch("rebounds", bars_csv, workdir / "legs.csv") if inputs.bars else []
    want["rebound_leg"] = {(r["symbol"], r["gtype"], r["start_date"]): (
        _f(r["start_value"]), r["end_date"], _f(r["end_value"]), int(r["bars"]), _f(r["change"]), _f(r["pct"]),
        r["direction"]) for r in legs}
    stats = run_batch("stats", readings_csv, workdir / "stats.csv", "--tz", tz) if inputs.readings else []
    want["calendar_stat"] = {(r["series"], r["period"], r["start"], int(r["weekday"] or 0)): (
        int(r["count"]), _f(r["mean"]), _f(r["std"]), _f(r["min"]), _f(r["max"])) for r in stats}
    outliers = run_batch("outliers", readings_csv, workdir / "outliers.csv", "--tz", tz) if inputs.readings else []
    want["outlier"] = {(r["series"], _instant(r["ts"])): (_f(r["value"]), _f(r["mean"]), _f(r["std"]), r["direction"])
                       for r in outliers}

    got: dict[str, dict[Any, tuple[Any, ...]]] = {}
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        got["price"] = {(s, d.isoformat()): (o, h, lo, c, v) for s, d, o, h, lo, c, v in conn.execute(
            "SELECT symbol, start, open, high, low, close, volume FROM price WHERE interval = 'day'")}
        got["reading"] = {(s, ts.astimezone(dt.UTC).isoformat()): (v,) for s, ts, v in conn.execute(
            "SELECT series, ts, value FROM reading")}
        got["rebound_leg"] = {(s, g, sd.isoformat()): (sv, ed.isoformat(), ev, b, ch, pct, d) for
                              s, g, sd, sv, ed, ev, b, ch, pct, d in conn.execute(
            "SELECT symbol, gtype, start_date, start_value, end_date, end_value, bars, change, pct, direction "
            "FROM rebound_leg")}
        got["calendar_stat"] = {(s, p, st.isoformat(), wd): (n, mean, std, mn, mx) for
                                s, p, st, wd, n, mean, std, mn, mx in conn.execute(
            "SELECT series, period, start, weekday, count, mean, std, min, max FROM calendar_stat")}
        got["outlier"] = {(s, ts.astimezone(dt.UTC).isoformat()): (v, m, sd, d) for s, ts, v, m, sd, d in conn.execute(
            "SELECT series, ts, value, mean, std, direction FROM outlier")}
    problems = [p for name in want for p in _diff(name, want[name], got[name])]
    if problems:
        raise AssertionError("the database differs from the batch computation:\n" + "\n".join(problems))
    return {name: len(rows) for name, rows in want.items()}
