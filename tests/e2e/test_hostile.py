"""Hostile input on the whole embedded stack (issue 15): bad records straight onto every input topic, in the
middle of good traffic, then an exact account of where every record went.

For each input topic: every good record reached the database exactly once; every bad record is a dead
letter of the transform with the right reason (and of the loader and the model where they consume the topic
too); good + bad sent = stored + dead-lettered; no service restarted; `dev wait-idle` returns.

`test_random_mix` sends a random mix of the same classes for TURNPOINT_FUZZ_SECONDS (default 15) with the
same accounting. The embedded broker (Tansu) keeps every record in memory: a module sends at most
TURNPOINT_FUZZ_BIG (default 100) raw 6 MB messages, the rest of a long mix goes on without them (a 1800 s
run without that bound grew the broker to 22 GB in 12 minutes, and the kernel killed it).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from support.devstack_harness import DevStack

from turnpoint.cli.embedded import free_port
from turnpoint.core import topics
from turnpoint.core.dates import trading_days
from turnpoint.core.kafka import end_offsets
from turnpoint.core.kafkalog import client_logger

FUZZ_SECONDS = float(os.environ.get("TURNPOINT_FUZZ_SECONDS", "15"))
pytestmark = pytest.mark.timeout(900 + int(FUZZ_SECONDS))

NOW = dt.datetime.now(dt.UTC)
RAW_6MB = 6_000_000
BIG_MESSAGES = int(os.environ.get("TURNPOINT_FUZZ_BIG", "100"))


@pytest.fixture(scope="module")
def stack() -> Iterator[DevStack]:
    home = Path(tempfile.mkdtemp(prefix="turnpoint-hostile-"))
    home.chmod(0o755)
    # alerts is not among the harness's services yet: give it a free port too, not its default 8005
    s = DevStack(home, {"TURNPOINT_ALERTS__PORT": str(free_port())}, tz="UTC")
    keep = bool(os.environ.get("TURNPOINT_HOSTILE_KEEP"))  # leave a long run's stack up to look into
    try:
        s.up()
        yield s
    finally:
        if keep:
            print(f"stack kept up in {home}: `TURNPOINT_HOME={home} turnpoint dev down` ends it")
        else:
            s.down()
            shutil.rmtree(home, ignore_errors=True)


@dataclass
class Sent:
    """What went onto one input topic: good records by their identity, bad ones by offset with the reason."""

    good: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # offset -> identity of the good record
    bad: dict[int, str] = field(default_factory=dict)  # offset -> expected reason at the transform


class Sender:
    def __init__(self, bootstrap: str) -> None:
        self.producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 8 << 20,
                                  "logger": client_logger(),
                                  "linger.ms": 5, "enable.idempotence": True})
        self.sent: dict[str, Sent] = {t.name: Sent() for t in topics.INPUTS}
        self.big_left = BIG_MESSAGES  # raw 6 MB messages this sender may still send (broker memory)

    def send(self, spec: topics.TopicSpec, key: str, value: bytes, good: tuple[Any, ...] | None,
             reason: str | None) -> None:
        record = self.sent[spec.name]
        if len(value) >= RAW_6MB:
            if self.big_left <= 0:
                return
            self.big_left -= 1

        def delivered(err: Any, msg: Any) -> None:
            assert err is None, err
            pos = position(msg.partition(), msg.offset())
            if good is not None:
                record.good[pos] = good
            else:
                assert reason is not None
                record.bad[pos] = reason

        self.producer.produce(spec.name, key=key.encode(), value=value, on_delivery=delivered)
        self.producer.poll(0)

    def flush(self) -> None:
        assert self.producer.flush(60) == 0


def position(partition: int, offset: int) -> int:
    """A message's place in its topic as one number."""
    return partition * 10**9 + offset


def _envelope(items: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"v": 1, "items": items})


# ------------------------------------------------------------------------------------------ the classes


def _bad_common(rng: random.Random) -> list[tuple[bytes, str]]:
    """Bad values any input topic gets, with the transform's reason."""
    return [
        (b"{not json", "unparseable"),
        (rng.randbytes(RAW_6MB), "unparseable"),  # a raw 6 MB message
        (orjson.dumps({"v": 2, "items": []}), "bad-version"),
        (orjson.dumps([1, 2]), "bad-envelope"),
    ]


def bad_bars(rng: random.Random, symbol: str) -> list[tuple[str, bytes, str]]:
    bar = {"symbol": symbol, "date": "2024-01-02", "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5,
           "volume": 1.0}
    out = [(symbol, v, r) for v, r in _bad_common(rng)]
    out += [
        (symbol, _envelope([{**bar, "date": "9999-12-31"}]), "invalid"),  # outside 1000-2999
        (symbol, _envelope([{**bar, "date": "2100-01-01"}]), "future"),
        (symbol, _envelope([{**bar, "symbol": "OTHER"}]), "key-mismatch"),
        (symbol, _envelope([{**bar, "high": 0.1}]), "invalid"),
    ]
    return out


def bad_readings(rng: random.Random, series: str) -> list[tuple[str, bytes, str]]:
    reading = {"series": series, "ts": (NOW - dt.timedelta(hours=1)).isoformat(), "value": 1.0}
    out = [(series, v, r) for v, r in _bad_common(rng)]
    out += [
        (series, _envelope([{**reading, "ts": (NOW + dt.timedelta(days=365)).isoformat()}]), "future"),
        (series, _envelope([{**reading, "series": series + "-other"}]), "key-mismatch"),
        (series, _envelope([{**reading, "value": "NaN"}]), "invalid"),
    ]
    return out


def bad_counts(rng: random.Random, camera: str) -> list[tuple[str, bytes, str]]:
    start = NOW - dt.timedelta(hours=2)
    count = {"camera": camera, "period_start": start.isoformat(),
             "period_end": (start + dt.timedelta(minutes=15)).isoformat(), "people": 1, "vehicle": 1}
    later = NOW + dt.timedelta(days=30)
    out = [(camera, v, r) for v, r in _bad_common(rng)]
    out += [
        (camera, _envelope([{**count, "period_start": later.isoformat(),
                             "period_end": (later + dt.timedelta(minutes=15)).isoformat()}]), "future"),
        (camera, _envelope([{**count, "camera": camera + "-other"}]), "key-mismatch"),
        (camera, _envelope([{**count, "people": -1}]), "invalid"),
    ]
    return out


def send_traffic(sender: Sender, rng: random.Random, tag: str, n_good: int, bad_every: int,
                 pick_bad: Any) -> None:
    """Good records of three keys per topic, one per message, with a bad message every `bad_every`."""
    days = trading_days(dt.date(2020, 1, 2), n_good)
    symbols = [f"H{tag}{i}" for i in range(3)]
    series = [f"hostile/{tag}/s{i}" for i in range(3)]
    cameras = [f"hostile-{tag}-cam{i}" for i in range(3)]
    bad: list[tuple[topics.TopicSpec, str, bytes, str]] = []
    for i in range(3):
        bad += [(topics.BARS, *b) for b in bad_bars(rng, symbols[i])]
        bad += [(topics.READINGS, *b) for b in bad_readings(rng, series[i])]
        bad += [(topics.COUNTS, *b) for b in bad_counts(rng, cameras[i])]
    rng.shuffle(bad)
    bad_iter = iter(pick_bad(bad))
    t0 = NOW - dt.timedelta(hours=6)
    for i in range(n_good):
        k = i % 3
        day = days[i]
        close = 100 + rng.uniform(-5, 5)
        bar = {"symbol": symbols[k], "date": day.isoformat(), "open": close, "high": close + 1,
               "low": close - 1, "close": close, "volume": 10.0}
        sender.send(topics.BARS, symbols[k], _envelope([bar]), ("bar", symbols[k], day), None)
        ts = t0 + dt.timedelta(seconds=5 * i)
        sender.send(topics.READINGS, series[k], _envelope([{"series": series[k], "ts": ts.isoformat(),
                                                             "value": rng.uniform(0, 10)}]),
                    ("reading", series[k], ts), None)
        start = t0 + dt.timedelta(minutes=15 * i)
        sender.send(topics.COUNTS, cameras[k], _envelope([{
            "camera": cameras[k], "period_start": start.isoformat(),
            "period_end": (start + dt.timedelta(minutes=15)).isoformat(), "people": i, "vehicle": 1}]),
            ("count", cameras[k], start), None)
        if i % bad_every == 0:
            item = next(bad_iter, None)
            if item is not None:
                spec, key, value, reason = item
                sender.send(spec, key, value, None, reason)
    for spec, key, value, reason in bad_iter:
        sender.send(spec, key, value, None, reason)
    sender.flush()


# ------------------------------------------------------------------------------------------ the account


def dead_letters(bootstrap: str) -> list[dict[str, Any]]:
    """Every dead letter on every dead-letter topic, read from the beginning."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"hostile-{time.time_ns()}",
                         "logger": client_logger(),
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        md = consumer.list_topics(timeout=10)
        tps = [TopicPartition(t, p) for t in topics.dead_letter_topics() if t in md.topics
               for p in md.topics[t].partitions]
        # Tansu's reported high watermark can stop short of a batch's last records: end_offsets reads on
        ends = end_offsets(consumer, tps)
        consumer.assign([TopicPartition(tp.topic, tp.partition, 0) for tp in tps])
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        seen: dict[tuple[str, int], int] = {}
        while time.monotonic() < deadline and any(seen.get(k, 0) < e for k, e in ends.items()):
            for msg in consumer.consume(1000, 0.5):
                if msg.error():
                    continue
                seen[(msg.topic(), msg.partition())] = msg.offset() + 1
                for item in orjson.loads(msg.value())["items"]:
                    out.append({**item, "dlq": msg.topic(), "headers": dict(msg.headers() or [])})
        return out
    finally:
        consumer.close()


def stored(database_url: str, tag: str) -> dict[str, Counter[tuple[Any, ...]]]:
    import psycopg

    with psycopg.connect(database_url, connect_timeout=10) as conn:
        bars = Counter(("bar", s, d) for s, d in conn.execute(
            "select symbol, start from price where interval = 'day' and symbol like %s", (f"H{tag}%",)))
        # the good series only (s0..s2): the loader stores any valid Reading whatever its key, so the
        # key-mismatch ones (series ...-other) are in the table too; their dead letters are the transform's
        readings = Counter(("reading", s, ts) for s, ts in conn.execute(
            "select series, ts from reading where series like %s", (f"hostile/{tag}%/s_",)))
        # the clock rule (SPEC 2) holds in the loader too: no reading of any series a year ahead
        [[ahead]] = conn.execute(
            "select count(*) from reading where series like %s and ts > now() + interval '1 day'", (f"hostile/{tag}%",))
        assert ahead == 0, f"{ahead} readings after the clock plus the skew were stored"
        counts = Counter(conn.execute(
            "select series, ts from reading where series like %s", (f"hostile-{tag}%-cam_/people",)))
    return {"bars": bars, "readings": readings,
            "counts": Counter(("count", s.removesuffix("/people"), ts) for (s, ts), n in counts.items()
                              for _ in range(n))}


def check_account(stack: DevStack, sender: Sender, tag: str) -> dict[str, Any]:
    stack.wait_idle(timeout=240)
    assert stack.restarts() and not any(stack.restarts().values()), stack.restarts()
    letters = dead_letters(stack.bootstrap)
    db = stored(stack.database_url, tag)
    report: dict[str, Any] = {}
    for spec, kind in ((topics.BARS, "bars"), (topics.READINGS, "readings"), (topics.COUNTS, "counts")):
        sent = sender.sent[spec.name]
        ours = dict(sent.bad)
        # every good record exactly once in the database
        assert db[kind] == Counter(sent.good.values()), kind
        # every bad one a dead letter of the transform with the right reason, and nothing else dead-lettered
        transform = {position(d["partition"], d["offset"]): d["reason"] for d in letters
                     if d["source_topic"] == spec.name and d["service"] == "transform"}
        mine = {p: r for p, r in transform.items() if p in ours or p in sent.good}
        assert mine == ours, (kind, sorted(set(mine.items()) ^ set(ours.items()))[:10])
        # sent good + sent bad = stored + dead-lettered (by the transform)
        assert len(sent.good) + len(sent.bad) == sum(db[kind].values()) + len(mine)
        report[kind] = {"good": len(sent.good), "bad": len(sent.bad), "stored": sum(db[kind].values()),
                        "dead": len(mine), "reasons": dict(Counter(ours.values()))}
    # the loader and the model read readings.v1 too: what they cannot read is their dead letter, cut to fit,
    # and a reading after the clock plus the skew is their dead letter `future` (never stored nor scored)
    readings = sender.sent[topics.READINGS.name]
    unreadable = {p for p, r in readings.bad.items() if r in ("unparseable", "bad-version", "bad-envelope")}
    future = {p for p, r in readings.bad.items() if r == "future"}
    for service in ("loader", "turnpoint-model"):
        theirs = {position(d["partition"], d["offset"]): d["reason"] for d in letters
                  if d["source_topic"] == topics.READINGS.name and d["service"] == service}
        assert unreadable <= theirs.keys(), (service, sorted(unreadable - theirs.keys())[:5])
        assert {p: theirs.get(p) for p in future} == dict.fromkeys(future, "future"), service
        report.setdefault("readings_dead_letters_of", {})[service] = dict(Counter(theirs.values()))
    big = [d for d in letters if d.get("original_size") == RAW_6MB]
    assert big and all(d["truncated"] and d["headers"]["turnpoint.dlq.truncated"] == b"true" for d in big)
    return report


def test_each_hostile_class_on_every_input_topic(stack: DevStack) -> None:
    sender = Sender(stack.bootstrap)
    send_traffic(sender, random.Random(15), "a", n_good=90, bad_every=1, pick_bad=lambda bad: bad)
    report = check_account(stack, sender, "a")
    print("hostile classes:", orjson.dumps(report).decode())


def test_random_mix(stack: DevStack) -> None:
    rng = random.Random(1515)
    sender = Sender(stack.bootstrap)
    deadline = time.monotonic() + FUZZ_SECONDS
    rounds = 0
    while time.monotonic() < deadline:
        tag = f"f{rounds}"
        send_traffic(sender, rng, tag, n_good=rng.randint(3, 30), bad_every=rng.randint(1, 5),
                     pick_bad=lambda bad: [b for b in bad if rng.random() < 0.3])
        rounds += 1
    report = check_account(stack, sender, "f")
    print(f"random mix, {FUZZ_SECONDS:.0f}s, {rounds} rounds:", orjson.dumps(report).decode())
