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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BAR_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "volume")
READING_COLUMNS = ("series", "ts", "value")
REL = 1e-9


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


class Inputs:
    """Everything fed to a stack, recorded on disk in feeding order (a later bar for a symbol+date, or a later
    reading for a series+instant, replaces the earlier one). A full-size run feeds millions of bars: only the
    CSV files and the counts stay, not the rows."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.bars_csv = write_csv(workdir / "bars.csv", [], BAR_COLUMNS)
        self.readings_csv = write_csv(workdir / "readings.csv", [], READING_COLUMNS)
        self.n_bars = 0
        self.n_readings = 0

    def add_bars(self, rows: Iterable[dict[str, Any]]) -> None:
        self.n_bars += self._append(self.bars_csv, rows, BAR_COLUMNS)

    def add_readings(self, rows: Iterable[dict[str, Any]]) -> None:
        self.n_readings += self._append(self.readings_csv, rows, READING_COLUMNS)

    @staticmethod
    def _append(path: Path, rows: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> int:
        n = 0
        with path.open("a", newline="") as f:
            w = csv.writer(f)
            for row in rows:
                w.writerow([row[c] for c in columns])
                n += 1
        return n


def run_batch(kind: str, input_csv: Path, output: Path, *args: str) -> Path:
    """`turnpoint batch KIND` over `input_csv`; an output newer than its input is reused."""
    if output.exists() and output.stat().st_mtime_ns > input_csv.stat().st_mtime_ns:
        return output
    done = subprocess.run([sys.executable, "-m", "turnpoint.cli.main", "batch", kind, "--input", str(input_csv),
                           "--output", str(output), *args], capture_output=True, text=True, timeout=3600,
                          check=False)
    if done.returncode != 0:
        msg = f"turnpoint batch {kind} failed: {done.stderr}"
        raise AssertionError(msg)
    return output


# Each compared table: the batch side (a temporary table loaded from CSV, as text, then typed by `want`), the
# database side (`got`), the key and the value columns; floats compare with a relative tolerance.
_TEXT_TABLES = {
    "in_bars": ("seq", *BAR_COLUMNS),
    "in_readings": ("seq", *READING_COLUMNS),
    "b_legs": ("seq", "symbol", "gtype", "start_date", "start_value", "end_date", "end_value", "bars", "change",
               "pct", "direction"),
    "b_stats": ("seq", "series", "period", "start", "weekday", "count", "mean", "std", "min", "max"),
    "b_outliers": ("seq", "series", "ts", "value", "mean", "std", "direction"),
}


@dataclass(frozen=True)
class _Table:
    want: str
    got: str
    keys: tuple[str, ...]
    floats: tuple[str, ...]
    others: tuple[str, ...] = ()


_COMPARED = {
    "price": _Table(
        want="SELECT DISTINCT ON (symbol, date::date) symbol, date::date AS start, open::float8 AS open, "
             "high::float8 AS high, low::float8 AS low, close::float8 AS close, volume::float8 AS volume "
             "FROM in_bars ORDER BY symbol, date::date, seq DESC",
        got="SELECT symbol, start, open, high, low, close, volume FROM price WHERE interval = 'day'",
        keys=("symbol", "start"), floats=("open", "high", "low", "close", "volume")),
    "reading": _Table(
        want="SELECT DISTINCT ON (series, ts::timestamptz) series, ts::timestamptz AS ts, value::float8 AS value "
             "FROM in_readings ORDER BY series, ts::timestamptz, seq DESC",
        got="SELECT series, ts, value FROM reading",
        keys=("series", "ts"), floats=("value",)),
    "rebound_leg": _Table(
        want="SELECT symbol, gtype, start_date::date AS start_date, start_value::float8 AS start_value, "
             "end_date::date AS end_date, end_value::float8 AS end_value, bars::int AS bars, "
             "change::float8 AS change, pct::float8 AS pct, direction FROM b_legs",
        got="SELECT symbol, gtype, start_date, start_value, end_date, end_value, bars, change, pct, direction "
            "FROM rebound_leg",
        keys=("symbol", "gtype", "start_date"), floats=("start_value", "end_value", "change", "pct"),
        others=("end_date", "bars", "direction")),
    "calendar_stat": _Table(
        want="SELECT series, period, start::date AS start, coalesce(nullif(weekday, ''), '0')::smallint AS weekday, "
             "count::bigint AS count, mean::float8 AS mean, std::float8 AS std, min::float8 AS min, "
             "max::float8 AS max FROM b_stats",
        got="SELECT series, period, start, weekday, count, mean, std, min, max FROM calendar_stat",
        keys=("series", "period", "start", "weekday"), floats=("mean", "std", "min", "max"), others=("count",)),
    "outlier": _Table(
        want="SELECT series, ts::timestamptz AS ts, value::float8 AS value, mean::float8 AS mean, "
             "std::float8 AS std, direction FROM b_outliers",
        got="SELECT series, ts, value, mean, std, direction FROM outlier",
        keys=("series", "ts"), floats=("value", "mean", "std"), others=("direction",)),
}


def _load_csv(conn: Any, table: str, path: Path | None) -> None:
    """A temporary table of text columns plus `seq` (the row's position in the file, so later rows win)."""
    from psycopg import sql

    columns = _TEXT_TABLES[table]
    conn.execute(sql.SQL("CREATE TEMPORARY TABLE {} (seq bigint, {})").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in columns[1:])))
    if path is None:
        return
    with path.open(newline="") as f, conn.cursor().copy(
            sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(table))) as copy:
        reader = csv.reader(f)
        header = next(reader)
        if tuple(header) != columns[1:]:
            msg = f"{path}: header {header} is not {list(columns[1:])}"
            raise AssertionError(msg)
        for seq, row in enumerate(reader):
            copy.write_row((seq, *(cell if cell != "" else None for cell in row)))


def _compare(conn: Any, name: str, t: _Table) -> tuple[int, list[str]]:
    """Full outer join of the batch rows and the database rows on the key; returns the batch's row count and the
    differences (missing, extra, different), each with up to three examples."""
    key = ", ".join(t.keys)
    same = [f"(w.{c} = g.{c} OR abs(w.{c} - g.{c}) <= greatest({REL} * greatest(abs(w.{c}), abs(g.{c})), 1e-9))"
            for c in t.floats] + [f"w.{c} IS NOT DISTINCT FROM g.{c}" for c in t.others]
    shown = ", ".join(f"w.{c} AS w_{c}, g.{c} AS g_{c}" for c in (*t.floats, *t.others))
    query = (
        f"WITH w AS ({t.want}), g AS ({t.got}), j AS ("
        f"SELECT {', '.join(f'coalesce(w.{k}, g.{k}) AS {k}' for k in t.keys)}, w.{t.keys[0]} IS NOT NULL AS in_w, "
        f"g.{t.keys[0]} IS NOT NULL AS in_g, {shown} FROM w FULL JOIN g ON "
        f"{' AND '.join(f'w.{k} = g.{k}' for k in t.keys)} WHERE w.{t.keys[0]} IS NULL OR g.{t.keys[0]} IS NULL "
        f"OR NOT ({' AND '.join(same)})) "
        f"SELECT CASE WHEN NOT in_g THEN 'missing in the database' WHEN NOT in_w THEN "
        f"'in the database, not in the batch' ELSE 'different' END AS what, count(*), "
        f"(array_agg(row_to_json(j)::text ORDER BY {key}))[1:3] FROM j GROUP BY 1 ORDER BY 1")
    problems = [f"{name}: {n} rows {what}, e.g. {'; '.join(examples)}" for what, n, examples in conn.execute(query)]
    wanted = conn.execute(f"SELECT count(*) FROM ({t.want}) w").fetchone()[0]
    return wanted, problems


def check_database(database_url: str, inputs: Inputs, workdir: Path, tz: str) -> dict[str, int]:
    """Compare price(day), rebound_leg, calendar_stat, outlier and reading with the batch results.

    The batch commands run over the recorded inputs; their outputs and the inputs are loaded into temporary
    tables of the same database and joined there, so a run of millions of rows needs no memory here.
    Returns the row counts compared; raises AssertionError listing every difference.
    """
    import psycopg

    workdir.mkdir(parents=True, exist_ok=True)
    bars, readings = (inputs.bars_csv if inputs.n_bars else None), (inputs.readings_csv if inputs.n_readings else None)
    legs = run_batch("rebounds", bars, workdir / "legs.csv") if bars else None
    stats = run_batch("stats", readings, workdir / "stats.csv", "--tz", tz) if readings else None
    outliers = run_batch("outliers", readings, workdir / "outliers.csv", "--tz", tz) if readings else None
    counts: dict[str, int] = {}
    problems: list[str] = []
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        for table, path in (("in_bars", bars), ("in_readings", readings), ("b_legs", legs), ("b_stats", stats),
                            ("b_outliers", outliers)):
            _load_csv(conn, table, path)
        for name, t in _COMPARED.items():
            counts[name], found = _compare(conn, name, t)
            problems += found
        conn.rollback()  # the temporary tables go with the transaction
    if problems:
        raise AssertionError("the database differs from the batch computation:\n" + "\n".join(problems))
    return counts
