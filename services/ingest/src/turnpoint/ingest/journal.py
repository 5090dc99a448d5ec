"""The ingest journal: every input record the broker acknowledged, kept on disk until PostgreSQL holds it.

The embedded broker keeps its topics in memory. A record the ingest had accepted (HTTP 202, a drop file
moved to `done/`, a serial line sent) but that the pipeline had not loaded yet dies with a killed broker.
With `TURNPOINT_INGEST__JOURNAL=true` (set by `turnpoint dev up`) every acknowledged message of an input
topic (bars, readings, counts, symbols) is appended here, in acknowledgement order, as spool segments
(`turnpoint.ingest.spool`, same format).

- `prune` (the ingest's maintenance thread, every `JOURNAL_PRUNE_SECONDS`) deletes the oldest segments
  whose every item PostgreSQL already holds with the same value, or that a later journal record for the
  same key supersedes, or that is a reading later than the allowed lateness behind the newest stored
  reading of its series (SPEC 2: the pipeline dead-letters it as `late`, now and after any re-send, so it
  is settled; without this one late reading would hold every later segment until the retention), or that
  is a reading or bar more than the future skew ahead of the time its segment was last written (the
  pipeline dead-letters it as `future`; re-sent a day later it would be accepted, and a restart would
  change a result); it stops at the first segment that is still needed, so what stays is a suffix of
  the acknowledgement order. Segments older than `spool_retention_days` go regardless.
  It reads one segment at a time; whether a later record supersedes a key is asked of an in-memory index
  of each segment's identity hashes (8 bytes an identity), so an owed oldest segment costs its own read.
- `resend` (`turnpoint dev up` and the supervisor, after the transform's history was re-published onto an
  empty broker, before the ingest starts) sends the journal's last value of every key that PostgreSQL
  does not hold yet and that is neither late by then nor was in the future when journaled, in
  acknowledgement order. It reads one segment at a time, and finds the keys that occur more than once from
  their hashes first (8 bytes an identity), so it keeps no map of every key.

Identity: a bar is (symbol, date), a reading (series, ts), a count the two readings it becomes
(camera/people and camera/vehicle at its period start), a symbol its name.
"""

from __future__ import annotations

import datetime as dt
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson

from turnpoint.core import topics
from turnpoint.core.kafka import make_producer
from turnpoint.core.lateness import Horizons
from turnpoint.core.observability import get_logger
from turnpoint.core.produce import envelopes, produce
from turnpoint.core.settings import KafkaSettings
from turnpoint.core.skew import Bound
from turnpoint.ingest.spool import Spool

log = get_logger("turnpoint.ingest.journal")

JOURNAL_PRUNE_SECONDS = 30.0
Key = tuple[str, ...]
Progress = Callable[[str, int, int], None]
_BAR_VALUES = ("open", "high", "low", "close", "volume")


class Journal:
    """Thread-safe append of acknowledged input records (called from delivery callbacks)."""

    def __init__(self, folder: Path, kafka: KafkaSettings, segment_bytes: int = 16 << 20,
                 retention_days: int = 7) -> None:
        self.spool = Spool(folder, segment_bytes, retention_days)
        self.topics = {t.full_name(kafka.topic_prefix): t.name for t in topics.INPUTS}
        self.index = _Index(self)  # used by `prune` only (the maintenance thread)

    def append(self, topic: str | None, key: bytes | str | None, value: bytes | None) -> None:
        if topic in self.topics and value is not None:
            self.spool.append(topic, key, value)

    def sync(self) -> None:
        self.spool.sync()

    def close(self) -> None:
        self.spool.close()


def _ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC)


def _identities(kind: str, item: dict[str, Any]) -> list[tuple[Key, Any]]:
    """(identity, value) pairs of one journal item; the value is what PostgreSQL must hold to cover it."""
    try:
        if kind == topics.BARS.name:
            values = tuple(float(item.get(f, 0.0)) for f in _BAR_VALUES)
            return [(("bar", item["symbol"], item["date"]), values)]
        if kind == topics.READINGS.name:
            return [(("reading", item["series"], _ts(item["ts"]).isoformat()), float(item["value"]))]
        if kind == topics.COUNTS.name:
            start = _ts(item["period_start"]).isoformat()
            return [(("reading", f"{item['camera']}/{k}", start), float(item[k])) for k in ("people", "vehicle")]
        if kind == topics.SYMBOLS.name:
            return [(("symbol", item["symbol"]), None)]
    except (KeyError, TypeError, ValueError):
        pass
    return []  # not identifiable: the pipeline dead-letters it anyway; never re-sent, never blocks pruning


@dataclass(slots=True)
class _Entry:
    seq: int
    topic: str
    key: str | None
    item: dict[str, Any] | None  # None when the caller asked for identities only
    ids: list[tuple[Key, Any]]


def _entries(journal: Journal, segment: Path, seq: int = 0, items: bool = True) -> Iterator[_Entry]:
    """The items of one segment in order, numbered from `seq` (one segment at a time: never the journal)."""
    for topic, key, value in Spool.read(segment):
        kind = journal.topics.get(topic)
        if kind is None:
            continue
        try:
            parsed = orjson.loads(value).get("items", [])
        except (orjson.JSONDecodeError, AttributeError):
            continue
        for item in parsed if isinstance(parsed, list) else []:
            if isinstance(item, dict):
                yield _Entry(seq, topic, key, item if items else None, _identities(kind, item))
                seq += 1


def _stored(conn: Any, ids: Iterable[Key]) -> dict[Key, Any]:
    """What PostgreSQL holds for these identities (missing ones absent)."""
    bars: list[Key] = []
    readings: list[Key] = []
    symbols: list[Key] = []
    for k in ids:
        {"bar": bars, "reading": readings, "symbol": symbols}[k[0]].append(k)
    out: dict[Key, Any] = {}
    if bars:
        rows = conn.execute(
            "SELECT p.symbol, p.start, p.open, p.high, p.low, p.close, p.volume FROM price p "
            "JOIN unnest(%s::text[], %s::date[]) AS k(symbol, start) USING (symbol, start) WHERE p.interval = 'day'",
            ([k[1] for k in bars], [k[2] for k in bars])).fetchall()
        for symbol, start, *values in rows:
            out[("bar", symbol, start.isoformat())] = tuple(values)
    if readings:
        rows = conn.execute(
            "SELECT r.series, r.ts, r.value FROM reading r "
            "JOIN unnest(%s::text[], %s::timestamptz[]) AS k(series, ts) USING (series, ts)",
            ([k[1] for k in readings], [k[2] for k in readings])).fetchall()
        for series, ts, value in rows:
            out[("reading", series, ts.astimezone(dt.UTC).isoformat())] = value
    if symbols:
        for (symbol,) in conn.execute("SELECT symbol FROM symbol WHERE symbol = ANY(%s)", ([k[1] for k in symbols],)):
            out[("symbol", symbol)] = None
    return out


def _newest(conn: Any, ids: Iterable[Key]) -> dict[str, dt.datetime]:
    """The newest stored reading per series of these identities (the start of each one's lateness horizon)."""
    series = sorted({k[1] for k in ids if k[0] == "reading"})
    if not series:
        return {}
    rows = conn.execute("SELECT series, max(ts) FROM reading WHERE series = ANY(%s) GROUP BY series", (series,))
    return {name: ts for name, ts in rows.fetchall()}


@dataclass(frozen=True)
class _Settled:
    """What PostgreSQL holds for one segment's identities, the lateness horizons it implies, and SPEC 2's future
    bound when the segment was last written: which of its items need nothing more."""

    stored: dict[Key, Any]
    horizons: Horizons
    bound: Bound

    def late(self, entry: _Entry) -> bool:
        """Every identity of `entry` is a reading the allowed lateness refuses now (and so forever)."""
        return bool(entry.ids) and all(k[0] == "reading" and self.horizons.behind(k[1], _ts(k[2])) for k, _ in entry.ids)

    def future(self, entry: _Entry) -> bool:
        """Every identity of `entry` was more than the skew ahead of the clock when it was journaled. The
        segment's last write bounds the append from above, so an item within seconds of the bound may be
        kept (and re-sent, to be judged again), never the reverse."""
        bound = self.bound

        def ahead(k: Key) -> bool:
            if k[0] == "reading":
                return bound.instant("ts", _ts(k[2])) is not None
            return k[0] == "bar" and bound.date("date", dt.date.fromisoformat(k[2])) is not None

        return bool(entry.ids) and all(ahead(k) for k, _ in entry.ids)

    def covered(self, entry: _Entry) -> bool:
        return all(k in self.stored and self.stored[k] == v for k, v in entry.ids)

    def done(self, entry: _Entry) -> bool:
        return self.covered(entry) or self.late(entry) or self.future(entry)


def _settled(conn: Any, ids: Iterable[Key], segment: Path, lateness_days: float,
             future_skew_days: float) -> _Settled:
    ids = list(ids)
    bound = Bound(dt.datetime.fromtimestamp(segment.stat().st_mtime, dt.UTC) + dt.timedelta(days=future_skew_days))
    return _Settled(_stored(conn, ids), Horizons(lateness_days, _newest(conn, ids)), bound)


class _Index:
    """Which identities each closed segment holds, as a sorted array of their hashes (8 bytes an identity).

    It answers "may a later segment supersede this key?" without reading the later segments: a key whose hash
    no later segment holds is not superseded. A hit is confirmed by reading that segment (a hash can collide),
    so an answer is exact. Closed segments never change; each is read once for its index, by the prune that
    first needs it. Hashes are Python's (`hash`), so the index lives in memory, in this process only."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.hashes: dict[Path, array[int]] = {}

    def keep(self, segments: list[Path]) -> None:
        alive = set(segments)
        for p in [p for p in self.hashes if p not in alive]:
            del self.hashes[p]

    def of(self, segment: Path) -> array[int]:
        found = self.hashes.get(segment)
        if found is None:
            found = array("q", sorted({hash(k) for e in _entries(self.journal, segment, items=False) for k, _ in e.ids}))
            self.hashes[segment] = found
        return found

    def may_hold(self, segment: Path, key: Key) -> bool:
        hashes = self.of(segment)
        h = hash(key)
        i = bisect_left(hashes, h)
        return i < len(hashes) and hashes[i] == h


def _superseded(index: _Index, later: list[Path], owed: list[list[Key]]) -> bool:
    """Whether every item of `owed` (each the identities of one item still owed) is superseded: each of its
    identities is in one of the `later` segments. Stops at the first identity that no later segment holds."""
    candidate: dict[Key, int] = {}  # identity -> the first later segment whose index holds its hash

    def next_hit(key: Key, start: int) -> int | None:
        return next((i for i in range(start, len(later)) if index.may_hold(later[i], key)), None)

    for keys in owed:
        for k in keys:
            if k in candidate:
                continue
            i = next_hit(k, 0)
            if i is None:
                return False
            candidate[k] = i
    while candidate:  # confirm the hits, oldest segment first (a hash collision moves a key to its next hit)
        i = min(candidate.values())
        held = {k for e in _entries(index.journal, later[i], items=False) for k, _ in e.ids}
        for k in [k for k, at in candidate.items() if at == i]:
            if k in held:
                del candidate[k]
                continue
            following = next_hit(k, i + 1)
            if following is None:
                return False
            candidate[k] = following
    return True


def prune(journal: Journal, database_url: str, now: float | None = None, lateness_days: float = 2.0,
          future_skew_days: float = 1.0) -> int:
    """Delete the oldest closed segments PostgreSQL covers (see the module docstring); return how many.

    One segment at a time, oldest first: its items, one query for their identities, and for the items still
    owed, whether a later segment supersedes every one of their identities (asked of the index, so a segment
    owed during a backfill costs its own parse and query, not a read of the whole journal). Memory is one
    segment's identities plus the index, never the journal's items."""
    import psycopg

    journal.spool.rotate()
    segments = journal.spool.segments()
    index = journal.index
    index.keep(segments)
    if not segments:
        return 0
    cutoff = (now if now is not None else time.time()) - journal.spool.retention_days * 86400
    removed = 0
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        for n, segment in enumerate(segments):
            old = segment.stat().st_mtime < cutoff
            entries = list(_entries(journal, segment, items=False))
            settled = _settled(conn, {k for e in entries for k, _ in e.ids}, segment, lateness_days,
                               future_skew_days)
            owed = [[k for k, _ in e.ids] for e in entries if not settled.done(e)]
            del entries, settled
            needed = bool(owed) and not _superseded(index, segments[n + 1:], owed)
            if needed and not old:
                break
            if needed:
                log.warning("journal segment older than the retention deleted while not all loaded",
                            segment=segment.name)
            segment.unlink(missing_ok=True)
            index.hashes.pop(segment, None)
            removed += 1
    return removed


@dataclass
class Resent:
    messages: int = 0
    items: int = 0
    covered: int = 0
    superseded: int = 0
    late: int = 0
    future: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (f"journal: {self.items} accepted records not yet in PostgreSQL re-sent ({self.covered} already "
                f"there, {self.superseded} superseded, {self.late} late, {self.future} future)")


def _repeated(journal: Journal, segments: list[Path], parts: int = 64) -> tuple[set[int], int]:
    """The hashes of the identities that occur more than once in the journal, and how many items have an
    identity. An identity whose hash occurs once occurs once: nothing supersedes it. The hashes are kept
    in arrays (8 bytes an occurrence), split in `parts` by their low bits so that sorting one part at a
    time needs little more; for 5M bars a map of every identity to its last sequence number took 1.2 GB."""
    hashes = [array("q") for _ in range(parts)]
    identified = 0
    for segment in segments:
        for e in _entries(journal, segment, items=False):
            for k, _ in e.ids:
                h = hash(k)
                hashes[h % parts].append(h)
            identified += bool(e.ids)
    repeated: set[int] = set()
    for i in range(parts):
        part = sorted(hashes[i])
        hashes[i] = array("q")
        repeated.update(a for a, b in pairwise(part) if a == b)
    return repeated, identified


def resend(kafka: KafkaSettings, database_url: str, folder: Path, progress: Progress | None = None,
           batch: int = 1000, lateness_days: float = 2.0, future_skew_days: float = 1.0) -> Resent:
    """Send each key's last journal value that PostgreSQL does not hold, in acknowledgement order.

    Passes over the segments, one segment at a time: the hashes of every identity (to find those that occur
    more than once); if some do, each of those identities' last sequence number; then each segment again:
    PostgreSQL is asked about its items that nothing later supersedes, and those it lacks are sent. Memory
    is 8 bytes an identity, the repeated identities, and one segment's items."""
    import psycopg

    t0 = time.perf_counter()
    journal = Journal(folder, kafka)
    report = Resent()
    segments = journal.spool.segments()
    repeated, identified = _repeated(journal, segments)
    last: dict[Key, int] = {}  # the last sequence number of each identity whose hash occurs more than once
    if repeated:
        seq = 0
        for segment in segments:
            for e in _entries(journal, segment, seq, items=False):
                for k, _ in e.ids:
                    if hash(k) in repeated:
                        last[k] = e.seq
                seq = e.seq + 1
    failures: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err:
            failures.append(str(err))

    producer = make_producer(kafka, **{"client.id": f"{kafka.client_id}-journal", "on_delivery": on_delivery})
    run: list[_Entry] = []  # consecutive items of one topic and key go out as one envelope

    def send() -> None:
        for value in envelopes([e.item for e in run if e.item is not None]):  # the core kit: envelopes that fit
            produce(producer, run[0].topic, value, run[0].key)
            report.messages += 1
        producer.poll(0)
        report.items += len(run)
        run.clear()
        if progress is not None:  # the total shrinks to the exact count as segments are judged
            settled_ = report.superseded + report.covered + report.late + report.future
            progress("journal", report.items, identified - settled_)

    seq = 0
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        for segment in segments:
            entries: list[_Entry] = []
            for e in _entries(journal, segment, seq):
                seq = e.seq + 1
                if not e.ids:
                    continue
                if any(last.get(k, e.seq) != e.seq for k, _ in e.ids):
                    report.superseded += 1
                else:
                    entries.append(e)
            settled = _settled(conn, {k for e in entries for k, _ in e.ids}, segment, lateness_days,
                               future_skew_days)
            for e in entries:
                if settled.covered(e):
                    report.covered += 1
                elif settled.late(e):
                    report.late += 1
                elif settled.future(e):
                    report.future += 1
                else:
                    if run and (len(run) >= batch or (e.topic, e.key) != (run[0].topic, run[0].key)):
                        send()
                    run.append(e)
            del entries, settled
    if run:
        send()
    left = producer.flush(120)
    if left or failures:
        msg = f"re-sending the ingest journal failed: {failures[:3] or f'{left} unacknowledged'}"
        raise RuntimeError(msg)
    report.seconds = time.perf_counter() - t0
    log.info("ingest journal re-sent", items=report.items, covered=report.covered, superseded=report.superseded,
             late=report.late, future=report.future)
    return report
