"""The ingest journal keeps acknowledged input until PostgreSQL holds it, and re-sends exactly what it lacks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg

from turnpoint.core import topics
from turnpoint.core.settings import KafkaSettings
from turnpoint.ingest.journal import Journal, prune, resend
from turnpoint.ingest.publisher import Publisher


def _bar(symbol: str, day: int, close: float) -> dict:
    return {"symbol": symbol, "date": f"2024-03-{day:02d}", "open": 10.0, "high": 12.0, "low": 9.0,
            "close": close, "volume": 100.0}


def _reading(i: int, value: float) -> dict:
    return {"series": "j/1", "ts": f"2024-03-01T00:00:{i:02d}+09:00", "value": value}


def _publish(kafka: KafkaSettings, journal: Journal, spec: topics.TopicSpec, key: str, items: list[dict]) -> None:
    pub = Publisher(kafka)
    pub.journal = journal
    pub.send(spec, key, items)
    assert pub.flush(10) == 0 and pub.stats.messages_acked == 1
    journal.spool.rotate()  # one segment per call, so pruning has something to choose from


def _store(url: str, bars: list[dict], readings: list[dict]) -> None:
    with psycopg.connect(url) as conn:
        for b in bars:
            conn.execute("INSERT INTO price (symbol, interval, start, \"end\", open, high, low, close, volume) "
                         "VALUES (%s, 'day', %s, %s, %s, %s, %s, %s, %s)",
                         (b["symbol"], b["date"], b["date"], b["open"], b["high"], b["low"], b["close"], b["volume"]))
        for r in readings:
            conn.execute("INSERT INTO reading (series, ts, value) VALUES (%s, %s, %s)", (r["series"], r["ts"], r["value"]))


def test_resend_sends_each_keys_last_value_postgres_lacks_and_prune_keeps_what_is_needed(
    tmp_path: Path, kafka_settings: KafkaSettings, ingest_database: str, topic_reader,
) -> None:
    journal = Journal(tmp_path / "journal", kafka_settings)
    loaded = [_bar("J1", d, 11.0) for d in (1, 4, 5)]
    _publish(kafka_settings, journal, topics.BARS, "J1", loaded)                       # segment 0: all loaded
    _publish(kafka_settings, journal, topics.BARS, "J1", [_bar("J1", 6, 11.0)])        # 1: revised in 3, not loaded
    _publish(kafka_settings, journal, topics.READINGS, "j/1", [_reading(i, 1.0) for i in range(4)])  # 2: half loaded
    _publish(kafka_settings, journal, topics.BARS, "J1", [_bar("J1", 6, 11.5), _bar("J1", 7, 11.0)])  # 3: not loaded
    assert len(journal.spool.segments()) == 4
    _store(ingest_database, loaded, [_reading(0, 1.0), _reading(1, 1.0)])

    done = resend(kafka_settings, ingest_database, tmp_path / "journal")
    assert (done.items, done.covered, done.superseded) == (4, 5, 1), done
    bars = [item for _, items in topic_reader(kafka_settings, topics.BARS.full_name(kafka_settings.topic_prefix), 8)
            for item in items]
    # the four acknowledged messages, then what the journal re-sent: the revision's value, never the old one
    assert [(b["date"], b["close"]) for b in bars[6:]] == [("2024-03-06", 11.5), ("2024-03-07", 11.0)]
    readings = topic_reader(kafka_settings, topics.READINGS.full_name(kafka_settings.topic_prefix), 6)
    assert [r["ts"][-11:] for _, items in readings for r in items][4:] == ["00:02+09:00", "00:03+09:00"]

    # segment 0 is covered; segment 1's bar is superseded by segment 3; segment 2 still needs two readings
    assert prune(journal, ingest_database) == 2
    assert len(journal.spool.segments()) == 2
    _store(ingest_database, [_bar("J1", 6, 11.5), _bar("J1", 7, 11.0)], [_reading(2, 1.0), _reading(3, 1.0)])
    assert prune(journal, ingest_database) == 2 and journal.spool.segments() == []
    again = resend(kafka_settings, ingest_database, tmp_path / "journal")
    assert again.items == 0


def test_segments_beyond_the_retention_are_pruned_even_when_not_loaded(
    tmp_path: Path, kafka_settings: KafkaSettings, ingest_database: str,
) -> None:
    journal = Journal(tmp_path / "journal", kafka_settings, retention_days=1)
    _publish(kafka_settings, journal, topics.BARS, "J2", [_bar("J2", 1, 11.0)])
    _publish(kafka_settings, journal, topics.BARS, "J2", [_bar("J2", 2, 11.0)])
    old = journal.spool.segments()[0]
    os.utime(old, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    assert prune(journal, ingest_database) == 1
    assert len(journal.spool.segments()) == 1


def test_dead_letters_are_not_journaled(tmp_path: Path, kafka_settings: KafkaSettings) -> None:
    journal = Journal(tmp_path / "journal", kafka_settings)
    pub = Publisher(kafka_settings)
    pub.journal = journal
    pub.dead_letter(topics.BARS, "invalid", "bad row", b"x,y", key="f.csv")
    pub.send(topics.BARS, "J3", [_bar("J3", 1, 11.0)])
    assert pub.flush(10) == 0
    journal.spool.rotate()
    lines = [line for s in journal.spool.segments() for line in journal.spool.read(s)]
    assert [topic for topic, _, _ in lines] == [topics.BARS.full_name(kafka_settings.topic_prefix)]


def test_a_late_reading_is_settled_pruned_and_never_re_sent(
    tmp_path: Path, kafka_settings: KafkaSettings, ingest_database: str,
) -> None:
    """SPEC 2: a reading later than the allowed lateness is dead-lettered and never stored; the journal must not
    wait for it (it held every later segment until the retention) nor re-send it after a restart."""
    journal = Journal(tmp_path / "journal", kafka_settings)
    newest = {"series": "j/late", "ts": "2024-03-10T00:00:00Z", "value": 1.0}
    late = {"series": "j/late", "ts": "2024-03-07T00:00:00Z", "value": 2.0}   # 3 days behind: late
    near = {"series": "j/late", "ts": "2024-03-09T00:00:00Z", "value": 3.0}   # 1 day behind: still owed
    _publish(kafka_settings, journal, topics.READINGS, "j/late", [newest])
    _publish(kafka_settings, journal, topics.READINGS, "j/late", [late])
    _publish(kafka_settings, journal, topics.READINGS, "j/late", [near])
    _store(ingest_database, [], [newest])

    # with a week of allowed lateness the same reading is owed: re-sent, and pruning stops at it
    lenient = resend(kafka_settings, ingest_database, tmp_path / "journal", lateness_days=7.0)
    assert (lenient.items, lenient.covered, lenient.late) == (2, 1, 0), lenient
    assert prune(journal, ingest_database, lateness_days=7.0) == 1
    done = resend(kafka_settings, ingest_database, tmp_path / "journal", lateness_days=2.0)
    assert (done.items, done.covered, done.late) == (1, 0, 1), done
    assert prune(journal, ingest_database, lateness_days=2.0) == 1  # the late one; `near` is still owed
    assert len(journal.spool.segments()) == 1


def test_a_reading_or_bar_journaled_in_the_future_is_settled_and_never_re_sent(
    tmp_path: Path, kafka_settings: KafkaSettings, ingest_database: str,
) -> None:
    """SPEC 2: an event more than the skew ahead of the clock is dead-lettered `future` by every consumer and
    never stored. Re-sent after a restart a day later it would be accepted: a result changed by a restart."""
    import datetime as dt

    ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).replace(microsecond=0)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=6)).replace(microsecond=0)
    journal = Journal(tmp_path / "journal", kafka_settings)
    _publish(kafka_settings, journal, topics.READINGS, "j/fut",
             [{"series": "j/fut", "ts": ahead.isoformat(), "value": 1.0}])
    bar = {**_bar("JF", 1, 11.0), "date": ahead.date().isoformat()}
    _publish(kafka_settings, journal, topics.BARS, "JF", [bar])
    _publish(kafka_settings, journal, topics.READINGS, "j/fut",  # within the skew: owed
             [{"series": "j/fut", "ts": soon.isoformat(), "value": 2.0}])

    done = resend(kafka_settings, ingest_database, tmp_path / "journal", future_skew_days=1.0)
    assert (done.items, done.future, done.covered) == (1, 2, 0), done
    # with a skew of 60 days nothing was in the future: all three are owed, and pruning stops at the first
    lenient = resend(kafka_settings, ingest_database, tmp_path / "journal", future_skew_days=60.0)
    assert (lenient.items, lenient.future) == (3, 0), lenient
    assert prune(journal, ingest_database, future_skew_days=60.0) == 0
    assert prune(journal, ingest_database, future_skew_days=1.0) == 2
    assert len(journal.spool.segments()) == 1


def _fill(journal: Journal, kafka: KafkaSettings, segments: int, bars: int, first: int = 0) -> list[dict]:
    """`segments` closed segments of `bars` bars each (symbol per segment), appended as the broker's callback
    would; the journal is read back from disk, so no broker is needed."""
    from turnpoint.core.serde import encode_items

    topic = topics.BARS.full_name(kafka.topic_prefix)
    out: list[dict] = []
    for s in range(first, first + segments):
        items = [{"symbol": f"M{s:03d}", "date": f"{2000 + d // 336}-{1 + (d // 28) % 12:02d}-{1 + d % 28:02d}",
                  "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": float(d)} for d in range(bars)]
        for i in range(0, bars, 500):
            journal.append(topic, f"M{s:03d}", encode_items(items[i:i + 500]))
        journal.spool.rotate()
        out += items
    return out


def _peak(fn) -> tuple[int, object]:  # type: ignore[no-untyped-def]
    import tracemalloc

    tracemalloc.start()
    try:
        result = fn()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_prune_holds_one_segment_at_a_time_and_an_owed_oldest_segment_costs_one_read(
    tmp_path: Path, kafka_settings: KafkaSettings, ingest_database: str, monkeypatch,
) -> None:
    """Issue 14: every prune parsed the whole journal into items at once (5.8 GB of ingest RSS in the full-size
    backfill, whose acknowledged bars wait for PostgreSQL). Now its peak is about one segment's, and while the
    oldest segment is owed a prune reads that segment alone (later segments are asked through the index)."""
    from turnpoint.ingest.spool import Spool

    one = Journal(tmp_path / "one", kafka_settings)
    _fill(one, kafka_settings, 1, 3000)
    reference, removed = _peak(lambda: prune(one, ingest_database))
    assert removed == 0

    journal = Journal(tmp_path / "journal", kafka_settings)
    bars = _fill(journal, kafka_settings, 12, 3000)
    peak, removed = _peak(lambda: prune(journal, ingest_database))  # nothing loaded: the oldest is owed
    assert removed == 0 and len(journal.spool.segments()) == 12
    assert peak < 3 * reference, (peak, reference)  # the whole journal at once was about 12x

    read: list[Path] = []
    original = Spool.read

    def counting(segment: Path):  # type: ignore[no-untyped-def]
        read.append(segment)
        return original(segment)

    monkeypatch.setattr(Spool, "read", staticmethod(counting))
    assert prune(journal, ingest_database) == 0
    assert read == journal.spool.segments()[:1], [p.name for p in read]  # was: all 12

    _fill(journal, kafka_settings, 1, 3000, first=12)  # a 13th segment: read once, for its index
    read.clear()
    assert prune(journal, ingest_database) == 0
    assert sorted(read) == [journal.spool.segments()[0], journal.spool.segments()[-1]]
    monkeypatch.undo()

    with psycopg.connect(ingest_database) as conn, conn.cursor() as cur:  # PostgreSQL loads all but the last
        with cur.copy("COPY price (symbol, interval, start, \"end\", open, high, low, close, volume) FROM STDIN") as cp:
            for b in bars:
                cp.write_row((b["symbol"], "day", b["date"], b["date"], b["open"], b["high"], b["low"], b["close"],
                              b["volume"]))
    peak, removed = _peak(lambda: prune(journal, ingest_database))
    assert removed == 12 and len(journal.spool.segments()) == 1
    assert peak < 3 * reference, (peak, reference)


def test_an_index_hit_is_confirmed_by_reading_the_segment(
    tmp_path: Path, kafka_settings: KafkaSettings, ingest_database: str, monkeypatch,
) -> None:
    """The index holds hashes; a hash shared by two identities must not pass for a superseding record."""
    from turnpoint.ingest import journal as module

    journal = Journal(tmp_path / "journal", kafka_settings)
    _fill(journal, kafka_settings, 3, 10)
    monkeypatch.setattr(module._Index, "may_hold", lambda self, segment, key: True)  # every lookup collides
    assert prune(journal, ingest_database) == 0 and len(journal.spool.segments()) == 3


def test_colliding_hashes_change_nothing(
    tmp_path: Path, kafka_settings: KafkaSettings, ingest_database: str, monkeypatch,
) -> None:
    """`resend` finds repeated identities and `prune` later ones by hash; when every hash is the same, both
    must still tell a revision from a different key (the exact check behind the hash)."""
    from turnpoint.ingest import journal as module

    journal = Journal(tmp_path / "journal", kafka_settings)
    _publish(kafka_settings, journal, topics.BARS, "JC", [_bar("JC", 1, 11.0), _bar("JC", 2, 11.0)])
    _publish(kafka_settings, journal, topics.BARS, "JC", [_bar("JC", 3, 11.0)])
    _publish(kafka_settings, journal, topics.BARS, "JC", [_bar("JC", 2, 11.5)])  # revises day 2 only
    monkeypatch.setattr(module, "hash", lambda key: 7, raising=False)
    done = resend(kafka_settings, ingest_database, tmp_path / "journal")
    assert (done.items, done.superseded, done.covered) == (3, 1, 0), done
    _store(ingest_database, [_bar("JC", 1, 11.0)], [])
    # segment 0: day 1 loaded, day 2 revised later; segment 1: day 3 owed (the same hash is no revision)
    assert prune(journal, ingest_database) == 1 and len(journal.spool.segments()) == 2
    _store(ingest_database, [_bar("JC", 3, 11.0)], [])
    assert prune(journal, ingest_database) == 1 and len(journal.spool.segments()) == 1
