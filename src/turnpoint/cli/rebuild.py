"""Rebuilding the transform's state from PostgreSQL after the broker came back empty.

The embedded broker (Tansu, memory storage) loses every topic, changelog and committed offset when it
stops. PostgreSQL keeps every final daily bar (`price`, interval `day`) and every distinct reading
(`reading`), so it is the system of record: before any new input is taken, `republish` sends that history
back onto the input topics, each symbol's bars in date order and each series' readings in time order,
with the producer and keys the ingest uses (so the same key lands on the same partition as new input).
The transform then rebuilds its tables from them through its ordinary path, and re-sends the same
absolute results, which the loader upserts unchanged:

- no double counting: a reading is identified by (series, ts) and the table holds one row per key;
- no `late` dead letters: each series is re-sent in time order, so no re-sent reading is behind the
  newest one of its series;
- new input, published after `republish` returned, follows the history in every partition, so revisions
  of dates before the restart apply on top of it.

The one result the replay cannot restore by itself is a leg withdrawal that was published but not loaded
when the broker died (the price revision loaded, its `deleted: true` leg not): the rebuilt transform never
knew that leg. `republish` therefore runs the zigzag over each symbol's bars (the batch algorithm) and
withdraws the database's legs that the final bars no longer produce.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any

from confluent_kafka import KafkaError, Message

from turnpoint.core import topics
from turnpoint.core.algorithms import SymbolRebounds
from turnpoint.core.kafka import make_producer
from turnpoint.core.observability import get_logger
from turnpoint.core.produce import envelopes, produce
from turnpoint.core.settings import KafkaSettings

log = get_logger(__name__)

Progress = Callable[[str, int, int], None]
"""`progress(kind, done, total)`: kind is "bars" or "readings"."""

BATCH = 1000  # items per message: the transform's fast path takes a whole message of one symbol at once
_ITERSIZE = 20_000
_LEG_COLUMNS = ("symbol", "gtype", "start_date", "start_value", "end_date", "end_value", "bars", "change", "pct",
                "direction")


class RebuildFailed(RuntimeError):
    """The broker did not acknowledge the re-published history."""


@dataclass
class RebuildReport:
    symbols: int = 0
    bars: int = 0
    series: int = 0
    readings: int = 0
    legs_withdrawn: int = 0
    messages: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"rebuilt from PostgreSQL: {self.bars:,} bars of {self.symbols:,} symbols, {self.readings:,} "
                f"readings of {self.series:,} series, {self.legs_withdrawn} stale legs withdrawn, "
                f"in {self.seconds:.1f}s")


class _Sender:
    """A librdkafka producer that counts failed deliveries instead of raising per record."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.producer = make_producer(kafka, **{"linger.ms": 20, "message.max.bytes": 8 << 20,
                                                "client.id": f"{kafka.client_id}-rebuild"})
        self.failures: list[str] = []
        self.sent = 0

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.failures.append(f"{msg.topic()}: {err}")

    def send(self, topic: str, key: str, items: list[dict[str, Any]]) -> None:
        for value in envelopes(items):  # the core kit: envelopes that fit, one back-pressure policy
            produce(self.producer, topic, value, key.encode(), on_delivery=self._on_delivery)
            self.sent += 1
        self.producer.poll(0)

    def flush(self, timeout: float = 120.0) -> None:
        left = self.producer.flush(timeout)
        if left or self.failures:
            detail = "; ".join(self.failures[:3]) or f"{left} messages unacknowledged after {timeout:.0f}s"
            msg = f"re-publishing the history failed: {detail}"
            raise RebuildFailed(msg)


def _rows(conn: Any, query: str, name: str) -> Iterator[tuple[Any, ...]]:
    """Rows of `query` through a server-side cursor (a long history never sits in memory at once)."""
    with conn.cursor(name=name) as cur:
        cur.itersize = _ITERSIZE
        cur.execute(query)
        yield from cur


def republish(
    kafka: KafkaSettings, database_url: str, *, threshold: float = 0.0, progress: Progress | None = None,
    batch: int = BATCH,
) -> RebuildReport:
    """Send PostgreSQL's bars and readings back onto the input topics (see the module docstring)."""
    import psycopg

    t0 = time.perf_counter()
    report = RebuildReport()
    sender = _Sender(kafka)
    prefix = kafka.topic_prefix
    bars_topic, readings_topic = topics.BARS.full_name(prefix), topics.READINGS.full_name(prefix)
    legs_topic = topics.LEGS.full_name(prefix)
    with psycopg.connect(database_url, autocommit=False) as conn, psycopg.connect(database_url) as side:
        conn.execute("SET TIME ZONE 'UTC'")
        n_bars = conn.execute("SELECT count(*) FROM price WHERE interval = 'day'").fetchone()[0]  # type: ignore[index]
        n_readings = conn.execute("SELECT count(*) FROM reading").fetchone()[0]  # type: ignore[index]
        query = ("SELECT symbol, start, open, high, low, close, volume FROM price WHERE interval = 'day' "
                 "ORDER BY symbol, start")
        for symbol, group in groupby(_rows(conn, query, "rebuild_bars"), key=itemgetter(0)):
            rows = list(group)
            items = [{"symbol": symbol, "date": d.isoformat(), "open": o, "high": h, "low": lo, "close": c,
                      "volume": v} for _, d, o, h, lo, c, v in rows]
            for i in range(0, len(items), batch):
                sender.send(bars_topic, symbol, items[i:i + batch])
            for leg in _stale_legs(side, symbol, rows, threshold):
                sender.send(legs_topic, symbol, [leg])
                report.legs_withdrawn += 1
            report.symbols += 1
            report.bars += len(rows)
            if progress is not None:
                progress("bars", report.bars, n_bars)
        query = "SELECT series, ts, value, unit FROM reading ORDER BY series, ts"
        for series, group in groupby(_rows(conn, query, "rebuild_readings"), key=itemgetter(0)):
            items = [_reading(series, ts, value, unit) for _, ts, value, unit in group]
            for i in range(0, len(items), batch):
                sender.send(readings_topic, series, items[i:i + batch])
            report.series += 1
            report.readings += len(items)
            if progress is not None:
                progress("readings", report.readings, n_readings)
        conn.rollback()
    sender.flush()
    if progress is not None:
        progress("bars", report.bars, n_bars)
        progress("readings", report.readings, n_readings)
    report.messages = sender.sent
    report.seconds = time.perf_counter() - t0
    log.info("history re-published from PostgreSQL", symbols=report.symbols, bars=report.bars,
             series=report.series, readings=report.readings, legs_withdrawn=report.legs_withdrawn,
             seconds=round(report.seconds, 2))
    return report


def _reading(series: str, ts: dt.datetime, value: float, unit: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"series": series, "ts": ts.isoformat().replace("+00:00", "Z"), "value": value}
    if unit is not None:
        item["unit"] = unit
    return item


def _stale_legs(conn: Any, symbol: str, rows: list[tuple[Any, ...]], threshold: float) -> list[dict[str, Any]]:
    """The database's legs of `symbol` that its final bars no longer produce, as withdrawals."""
    stored = conn.execute(f"SELECT {', '.join(_LEG_COLUMNS)} FROM rebound_leg WHERE symbol = %s",
                          (symbol,)).fetchall()
    if not stored:
        return []
    update = SymbolRebounds(symbol, threshold=threshold).apply([r[1:] for r in rows])
    wanted = {(leg["gtype"], leg["start_date"]) for leg in update.legs if not leg.get("deleted")}
    out = []
    for row in stored:
        leg = dict(zip(_LEG_COLUMNS, row, strict=True))
        if (leg["gtype"], leg["start_date"]) not in wanted:
            leg["start_date"], leg["end_date"] = leg["start_date"].isoformat(), leg["end_date"].isoformat()
            out.append({**leg, "deleted": True})
    return out
