"""Loader throughput: Kafka messages -> committed PostgreSQL rows, against an executemany upsert baseline.

    python bench/loader.py [--quick] [--rows 1000000] [--items-per-message 100]

Starts an embedded Tansu broker and PostgreSQL 16 (default settings), publishes N bar rows and N leg rows
(100 items per message, as transform's backfills do), then runs the real loader (`bootstrap(settings)`)
in-process twice: a first load into empty tables, and a full re-upsert where every row changed. The time
runs from the first message consumed to the last offset commit (the consumer group join is excluded and
reported separately); the writer thread's seconds in each sink call are printed too (database side vs the
consume loop's Python). Baseline: psycopg 3 `executemany` of a single-row INSERT … ON CONFLICT DO UPDATE
(pipelined, one commit per 5,000 rows) over already-decoded rows, so it pays neither Kafka nor decoding.
The COPY ceiling is a plain binary COPY of the same rows into the empty keyed table.
`--quick` runs the baseline and the ceiling on a 200k-row sample of each table (rows/s barely depends
on the size at this scale; the full baseline alone would take minutes).
Beside each run: how much the process's RSS grew while the loader ran (the benchmark's own data is in
the RSS before). The last line is JSON with the first-load figures for bars and legs together.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg.conninfo import make_conninfo
from turnpoint.core import topics
from turnpoint.core.kafka import ensure_topics, make_producer
from turnpoint.core.settings import KafkaSettings
from turnpoint.loader import tables as T
from turnpoint.loader.app import bootstrap, make_sink
from turnpoint.loader.migrations import migrate
from turnpoint.loader.settings import LoaderOptions, LoaderSettings

from turnpoint.cli.embedded import free_port, start_broker, start_postgres, stop_pid, stop_postgres

ITEMS_PER_MESSAGE = 100  # --items-per-message (the transform's backfill envelopes hold up to ~4,000)
DAY0 = dt.date(2000, 1, 3)


def bar_items(n: int, bump: float) -> list[tuple[str, list[dict[str, Any]]]]:
    """n daily bars over 1,000 symbols, as (key, items) messages."""
    symbols = 1000
    per = n // symbols
    out = []
    for s in range(symbols):
        sym = f"S{s:04d}"
        items = []
        for d in range(per):
            day = (DAY0 + dt.timedelta(days=d)).isoformat()
            c = 100.0 + (d % 50) + bump
            items.append({"symbol": sym, "interval": "day", "start": day, "end": day, "open": c, "high": c + 1.0,
                          "low": c - 1.0, "close": c, "volume": 1000.0 + d, "bars": 1})
        out += [(sym, items[i:i + ITEMS_PER_MESSAGE]) for i in range(0, len(items), ITEMS_PER_MESSAGE)]
    return out


def leg_items(n: int, bump: float) -> list[tuple[str, list[dict[str, Any]]]]:
    """n legs over 250 symbols × 4 graph types."""
    keys = [(f"L{s:03d}", g) for s in range(250) for g in ("open", "high", "low", "close")]
    per = n // len(keys)
    out = []
    for sym, g in keys:
        items = []
        for k in range(per):
            start = DAY0 + dt.timedelta(days=2 * k)
            up = k % 2 == 0
            a, b = 100.0 + bump, (110.0 if up else 90.0) + bump
            items.append({"symbol": sym, "gtype": g, "start_date": start.isoformat(), "start_value": a,
                          "end_date": (start + dt.timedelta(days=2)).isoformat(), "end_value": b, "bars": 2,
                          "change": b - a, "pct": (b / a - 1) * 100, "direction": "up" if up else "down",
                          "deleted": False})
        out += [(sym, items[i:i + ITEMS_PER_MESSAGE]) for i in range(0, len(items), ITEMS_PER_MESSAGE)]
    return out


def publish(kafka: KafkaSettings, spec: topics.TopicSpec, messages: list[tuple[str, list[dict[str, Any]]]]) -> None:
    producer = make_producer(kafka, **{"compression.type": "lz4"})
    name = kafka.topic_prefix + spec.name
    for key, items in messages:
        value = orjson.dumps({"v": 1, "items": items})
        while True:
            try:
                producer.produce(name, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(120) == 0


class TimedSink:
    """The loader's own sink, timed: seconds spent in each call (the writer thread's busy time)."""

    def __init__(self, sink: Any) -> None:
        self._sink = sink
        self.seconds: dict[str, float] = {}

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._sink, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t

        return timed


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_loader(settings: LoaderSettings, expect_rows: int, timeout: float = 600) -> dict[str, Any]:
    sink = TimedSink(make_sink(settings))
    app = bootstrap(settings, sink=sink)  # type: ignore[arg-type]
    stop = threading.Event()
    started = time.monotonic()
    rss_before = peak = rss_mib()  # the benchmark's own data is in it: the loader's share is the growth
    thread = threading.Thread(target=app.run, args=(stop,), daemon=True)
    thread.start()
    loader = app.loader
    while loader.rows_written < expect_rows:
        if time.monotonic() - started > timeout or not thread.is_alive():
            msg = f"loader wrote {loader.rows_written} of {expect_rows} rows"
            raise RuntimeError(msg)
        time.sleep(0.05)
        peak = max(peak, rss_mib())
    stop.set()
    thread.join(30)
    assert loader.first_message_at is not None and loader.last_commit_at is not None
    seconds = loader.last_commit_at - loader.first_message_at
    return {"rows": expect_rows, "seconds": seconds, "rows_per_s": expect_rows / seconds,
            "join_s": loader.first_message_at - started, "flushes": loader.flushes,
            "rss_growth_mib": round(peak - rss_before),
            "writer_s": {k: round(v, 2) for k, v in sorted(sink.seconds.items()) if v >= 0.01}}


def rows_of(spec: T.TableSpec, messages: list[tuple[str, list[dict[str, Any]]]], limit: int) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for _key, items in messages:
        out += [spec.convert(i) for i in items]
        if len(out) >= limit:
            break
    return out[:limit]


def baseline(url: str, spec: T.TableSpec, rows: list[tuple[Any, ...]]) -> float:
    """executemany of one-row INSERT … ON CONFLICT DO UPDATE, pipelined, one commit per 5,000 rows."""
    cols = ", ".join(f'"{c}"' for c in spec.column_names)
    marks = ", ".join(["%s"] * len(spec.columns))
    sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in spec.value_columns)
    keys = ", ".join(f'"{k}"' for k in spec.key)
    stmt = (f'INSERT INTO "{spec.name}" ({cols}) VALUES ({marks}) ON CONFLICT ({keys}) DO UPDATE SET {sets}, '
            '"updated_at" = now()')
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        t = time.perf_counter()
        for i in range(0, len(rows), 5000):
            cur.executemany(stmt, rows[i:i + 5000])  # type: ignore[arg-type]
            conn.commit()
        return len(rows) / (time.perf_counter() - t)


def copy_ceiling(url: str, spec: T.TableSpec, rows: list[tuple[Any, ...]]) -> float:
    cols = ", ".join(f'"{c}"' for c in spec.column_names)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        t = time.perf_counter()
        with cur.copy(f'COPY "{spec.name}" ({cols}) FROM STDIN (FORMAT BINARY)') as cp:  # type: ignore[arg-type]
            cp.set_types([c.pgtype for c in spec.columns])
            for r in rows:
                cp.write_row(r)
        conn.commit()
        return len(rows) / (time.perf_counter() - t)


def new_database(admin_url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    url = make_conninfo(admin_url, dbname=name)
    migrate(url)
    return url


def main() -> None:
    global ITEMS_PER_MESSAGE  # --items-per-message: read by bar_items and leg_items
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="baseline and ceiling on a 200k-row sample")
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows per table (bars and legs)")
    ap.add_argument("--batch-size", type=int, default=50_000)
    ap.add_argument("--items-per-message", type=int, default=ITEMS_PER_MESSAGE)
    args = ap.parse_args()
    ITEMS_PER_MESSAGE = args.items_per_message
    sample = 200_000 if args.quick else args.rows

    root = Path(tempfile.mkdtemp(prefix="bench-loader-"))
    broker = start_broker(free_port(), root / "broker.log")
    pg = start_postgres(root / "pg", free_port())
    try:
        t = time.perf_counter()
        data = {
            "bars": (T.PRICE, topics.PRICES, bar_items(args.rows, 0.0), bar_items(args.rows, 0.5)),
            "legs": (T.REBOUND_LEG, topics.LEGS, leg_items(args.rows, 0.0), leg_items(args.rows, 0.5)),
        }
        print(f"generated {2 * args.rows:,} rows in {time.perf_counter() - t:.1f}s")
        results: dict[str, dict[str, Any]] = {}
        for name, (spec, topic, first, second) in data.items():
            # a prefix per table: each loader run sees only its own table's messages
            kafka = KafkaSettings(bootstrap_servers=broker.bootstrap, topic_prefix=f"bench.{name}.", partitions=4)
            ensure_topics(kafka)
            n = sum(len(items) for _k, items in first)
            t = time.perf_counter()
            publish(kafka, topic, first)
            print(f"{name}: published {n:,} rows in {len(first):,} messages in {time.perf_counter() - t:.1f}s")
            url = new_database(pg.url)  # a database per table: no autovacuum of the other table's load
            settings = LoaderSettings(
                kafka=kafka, database_url=url,
                loader=LoaderOptions(port=0, batch_size=args.batch_size, flush_interval_ms=1000,
                                     group_id=f"bench-{name}"),
            )
            before = _count(url, spec.name)
            _checkpoint(pg.url)
            r1 = run_loader(settings, n)
            assert _count(url, spec.name) - before == n
            publish(kafka, topic, second)
            _checkpoint(pg.url)
            r2 = run_loader(settings, n)
            rows = rows_of(spec, first, sample)
            changed = rows_of(spec, second, sample)
            scratch = new_database(pg.url)
            _checkpoint(pg.url)
            b1 = baseline(scratch, spec, rows)
            _checkpoint(pg.url)
            b2 = baseline(scratch, spec, changed)
            ceiling_db = new_database(pg.url)
            _checkpoint(pg.url)
            ceiling = copy_ceiling(ceiling_db, spec, rows)
            results[name] = {"first": r1, "reupsert": r2, "baseline_first": b1, "baseline_reupsert": b2,
                             "copy_ceiling": ceiling}
            print(f"{name}: loader first load {r1['rows_per_s']:,.0f} rows/s ({r1['seconds']:.1f}s, "
                  f"{r1['flushes']} flushes, group join {r1['join_s']:.1f}s excluded); "
                  f"re-upsert {r2['rows_per_s']:,.0f} rows/s ({r2['seconds']:.1f}s); process RSS while loading "
                  f"+{r1['rss_growth_mib']} / +{r2['rss_growth_mib']} MiB")
            print(f"{name}: writer thread busy (s): first load {r1['writer_s']}, re-upsert {r2['writer_s']}")
            print(f"{name}: baseline executemany upsert {b1:,.0f} rows/s first, {b2:,.0f} rows/s re-upsert "
                  f"({len(rows):,} rows); plain COPY ceiling {ceiling:,.0f} rows/s")
            print(f"{name}: ratio first {r1['rows_per_s'] / b1:.2f}x, re-upsert {r2['rows_per_s'] / b2:.2f}x; "
                  f"first load at {100 * r1['rows_per_s'] / ceiling:.0f}% of the COPY ceiling")
        total_rows = sum(r["first"]["rows"] for r in results.values())
        total_s = sum(r["first"]["seconds"] for r in results.values())
        throughput = total_rows / total_s
        base = 2 / sum(1 / r["baseline_first"] for r in results.values())  # rows/s over equal row counts
        re_rows = sum(r["reupsert"]["rows"] for r in results.values())
        re_s = sum(r["reupsert"]["seconds"] for r in results.values())
        re_base = 2 / sum(1 / r["baseline_reupsert"] for r in results.values())
        print(f"all: re-upsert {re_rows / re_s:,.0f} rows/s vs baseline {re_base:,.0f} ({re_rows / re_s / re_base:.2f}x)")
        print(orjson.dumps({
            "bench": "loader", "throughput": round(throughput), "unit": "rows/s",
            "baseline_name": "executemany upsert", "baseline": round(base), "ratio": round(throughput / base, 2),
            "loader_rss_growth_mib": max(r[k]["rss_growth_mib"] for r in results.values() for k in ("first", "reupsert")),
            "items_per_message": ITEMS_PER_MESSAGE,
        }).decode())
    finally:
        stop_pid(broker.pid)
        stop_postgres(pg.pgdata, mode="immediate")


def _checkpoint(url: str) -> None:
    """Start each measurement without the previous one's dirty pages and WAL to write."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # type: ignore[arg-type]
        return int(row[0]) if row else 0


if __name__ == "__main__":
    main()
