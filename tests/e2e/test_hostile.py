"""Hostile input on the whole embedded stack (issue 15): bad records straight onto every input topic, in the
middle of good traffic, then an exact account of where every record went.

For each input topic: every good record reached the database exactly once; every bad record is a dead
letter of the transform with the right reason (and of the loader and the model where they consume the topic
too); good + bad sent = stored + dead-lettered; no service restarted; `dev wait-idle` returns.

`test_random_mix` sends a random mix of the same classes for TURNPOINT_FUZZ_SECONDS (default 15) with the
same accounting. `test_hostile_posts_through_the_write_api` posts hostile bodies (oversize, bad JSON, wrong
types, NaN/Inf, dates outside 1000-2999, duplicate keys, control characters, bad or short tokens, ...) among
good posts of other clients, concurrently: each bad one is a 4xx problem+json and publishes nothing, every
good one lands exactly once, and an accepted reading a year ahead is a `future` dead letter everywhere.
`test_thirty_thousand_bars_of_one_symbol_through_the_stack`: one file of 30,000 daily bars of one symbol (a
single output message of its legs was over 8 MB and crash-looped the transform) through the drop folder.
The embedded broker (Tansu) keeps every record in memory: a module sends at most
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from support.devstack_harness import DevStack

from turnpoint.cli.embedded import free_port
from turnpoint.core import topics
from turnpoint.core.algorithms import SymbolRebounds
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
        # hundreds of MB when many 6 MB originals were cut to fit: give up only after 60 s without progress,
        # and never return a partial read (a missing dead letter would then look like the service's fault)
        stalled_at = time.monotonic() + 60
        seen: dict[tuple[str, int], int] = {}
        while any(seen.get(k, 0) < e for k, e in ends.items()):
            assert time.monotonic() < stalled_at, {k: (seen.get(k, 0), e) for k, e in ends.items()
                                                   if seen.get(k, 0) < e}
            for msg in consumer.consume(1000, 0.5):
                if msg.error():
                    continue
                stalled_at = time.monotonic() + 60
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
        missing = sorted(unreadable - theirs.keys())
        assert not missing, (service, missing[:5], _trail(stack, service, missing[:5]))
        assert {p: theirs.get(p) for p in future} == dict.fromkeys(future, "future"), service
        report.setdefault("readings_dead_letters_of", {})[service] = dict(Counter(theirs.values()))
    big = [d for d in letters if d.get("original_size") == RAW_6MB]
    assert big and all(d["truncated"] and d["headers"]["turnpoint.dlq.truncated"] == b"true" for d in big)
    return report


def _trail(stack: DevStack, service: str, missing: list[int]) -> str:
    """What the service's log says about records it should have dead-lettered: lines naming their partition
    and offset, and every line but the routine ones (assignments, rebalances, errors)."""
    name = "model" if service == "turnpoint-model" else service
    path = stack.home / "logs" / f"{name}.log"
    wanted = [(f'"partition":{p // 10**9}', f'"offset":{p % 10**9}') for p in missing]
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    kept = [line for line in lines
            if any(a in line and b in line for a, b in wanted) or "record dead-lettered" not in line]
    return f"{path.name}: {len(lines)} lines, of which\n" + "\n".join(kept[-60:])


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


# ------------------------------------------------------------------------------------------ the write API

Post = tuple[str, str, bytes, dict[str, str], set[int]]  # name, path, body, headers, the statuses expected


def _good_posts(tag: str, rng: random.Random, auth: dict[str, str]) -> tuple[list[Post], list[tuple[Any, ...]]]:
    """Posts of 1-4 records of three keys per route (each key once: stored exactly once), and their identities."""
    posts: list[Post] = []
    expected: list[tuple[Any, ...]] = []
    days = iter(trading_days(dt.date(2021, 1, 4), 200))
    t0 = NOW - dt.timedelta(hours=3)
    n = 0
    for i in range(24):
        k = i % 3
        readings, bars, counts = [], [], []
        for _ in range(rng.randint(1, 4)):
            n += 1
            ts = t0 + dt.timedelta(seconds=7 * n)
            readings.append({"series": f"hostile/{tag}/s{k}", "ts": ts.isoformat(), "value": rng.uniform(0, 9)})
            expected.append(("reading", f"hostile/{tag}/s{k}", ts))
            day, close = next(days), rng.uniform(50, 60)
            bars.append({"symbol": f"H{tag}{k}", "date": day.isoformat(), "open": close, "high": close + 1,
                         "low": close - 1, "close": close, "volume": 5.0})
            expected.append(("bar", f"H{tag}{k}", day))
            start = t0 + dt.timedelta(minutes=15 * n)
            counts.append({"camera": f"hostile-{tag}-cam{k}", "period_start": start.isoformat(),
                           "period_end": (start + dt.timedelta(minutes=15)).isoformat(), "people": n, "vehicle": 1})
            expected.append(("count", f"hostile-{tag}-cam{k}", start))
        wrap = rng.choice([lambda r: r, lambda r: {"items": r}, lambda r: r[0] if len(r) == 1 else r])
        posts += [(f"good readings {i}", "/v1/readings", orjson.dumps(wrap(readings)), auth, {202}),
                  (f"good bars {i}", "/v1/bars", orjson.dumps(wrap(bars)), auth, {202}),
                  (f"good counts {i}", "/v1/counts", orjson.dumps(wrap(counts)), auth, {202})]
    return posts, expected


def _bad_posts(tag: str, auth: dict[str, str], bars_only: dict[str, str]) -> list[Post]:
    """Hostile bodies and headers. Their records use keys the database check counts (`s9`, `H..9`, `cam9`):
    one that leaked would be an extra row."""
    series, ts = f"hostile/{tag}/s9", (NOW - dt.timedelta(minutes=30)).isoformat()
    reading = {"series": series, "ts": ts, "value": 1.0}
    bar = {"symbol": f"H{tag}9", "date": "2021-06-01", "open": 2.0, "high": 3.0, "low": 1.0, "close": 2.5,
           "volume": 1.0}
    start = NOW - dt.timedelta(hours=1)
    count = {"camera": f"hostile-{tag}-cam9", "period_start": start.isoformat(),
             "period_end": (start + dt.timedelta(minutes=15)).isoformat(), "people": 1, "vehicle": 1}
    R, B, C = "/v1/readings", "/v1/bars", "/v1/counts"
    js = orjson.dumps
    big = js([{**reading, "ts": (NOW - dt.timedelta(seconds=i)).isoformat()} for i in range(60_000)])
    assert len(big) > 4 * 1024 * 1024
    ten_and_one = [{**reading, "ts": (NOW - dt.timedelta(seconds=i)).isoformat()} for i in range(10)]
    ten_and_one.append({**reading, "unit": '"' * 450_000})  # the 900 KB record
    raw = js(reading).decode()
    return [
        ("oversize body", R, big, auth, {413}),
        ("too many records", R, js([{**reading, "ts": (NOW - dt.timedelta(seconds=i)).isoformat()}
                                    for i in range(10_001)]), auth, {413}),
        ("10 good records and one of 900 KB", R, js(ten_and_one), auth, {413, 422}),
        ("not JSON", R, b"{not json", auth, {422}),
        ("not UTF-8", R, b'\xff\xfe{"series": 1}', auth, {422}),
        ("NaN", R, raw.replace("1.0", "NaN").encode(), auth, {422}),
        ("Infinity", R, raw.replace("1.0", "-Infinity").encode(), auth, {422}),
        ("1e999", R, raw.replace("1.0", "1e999").encode(), auth, {422}),
        ("value as a string", R, js({**reading, "value": "1.5"}), auth, {422}),
        ("value as a boolean", R, js({**reading, "value": True}), auth, {422}),
        ("ts as a number", R, js({**reading, "ts": 1_700_000_000}), auth, {422}),
        ("ts without an offset", R, js({**reading, "ts": "2025-01-01T00:00:00"}), auth, {422}),
        ("ts in 9999", R, js({**reading, "ts": "9999-12-31T23:59:59Z"}), auth, {422}),
        ("ts in year 0", R, js({**reading, "ts": "0001-01-01T00:00:00+01:00"}), auth, {422}),
        ("bar in 9999", B, js({**bar, "date": "9999-12-31"}), auth, {422}),
        ("count in 9999", C, js({**count, "period_start": "9999-12-31T00:00:00Z",
                                 "period_end": "9999-12-31T00:15:00Z"}), auth, {422}),
        ("duplicate key", R, raw.replace('"ts"', f'"series":"hostile/{tag}/s0","ts"').encode(), auth, {422}),
        ("NUL in a series", R, js({**reading, "series": series + "\x00x"}), auth, {422}),
        ("a bell in a unit", R, js({**reading, "unit": "k\x07W"}), auth, {422}),
        ("an unknown field", R, js({**reading, "extra": 1}), auth, {422}),
        ("an empty batch", R, b"[]", auth, {422}),
        ("a number", R, b"42", auth, {422}),
        ("items that are no objects", R, b"[1, 2]", auth, {422}),
        ("nested 1,000 deep", R, b"[" * 1000 + b"]" * 1000, auth, {422}),
        ("high below low", B, js({**bar, "high": 0.5}), auth, {422}),
        ("a price of 0", B, js({**bar, "close": 0.0}), auth, {422}),
        ("negative people", C, js({**count, "people": -1}), auth, {422}),
        ("a count that ends before it starts", C, js({**count, "period_end": count["period_start"]}), auth, {422}),
        ("a camera too long for its series", C, js({**count, "camera": "c" * 200}), auth, {422}),
        ("no token", R, js(reading), {}, {401}),
        ("an unknown token", R, js(reading), {"Authorization": "Bearer tp_not_a_token"}, {401}),
        ("not a bearer token", R, js(reading), {"Authorization": "Basic dXNlcjpwdw=="}, {401}),
        ("a token without the scope", R, js(reading), bars_only, {403}),
    ]


def _post(client: httpx.Client, post: Post) -> tuple[Post, int, str, str]:
    _name, path, body, headers, _want = post
    for _ in range(20):  # a client retries 503 (Retry-After): a loaded machine may miss the ack timeout
        r = client.post(path, content=body, headers={"Content-Type": "application/json", **headers})
        if r.status_code != 503:
            break
        time.sleep(float(r.headers.get("retry-after", "1")))
    return post, r.status_code, r.headers.get("content-type", ""), r.text[:300]


def test_hostile_posts_through_the_write_api(stack: DevStack) -> None:
    tag = "w"
    token = stack.create_token("hostile-writer", "write:readings", "write:bars", "write:counts")
    short = stack.create_token("hostile-bars-only", "write:bars")
    auth, bars_only = {"Authorization": f"Bearer {token}"}, {"Authorization": f"Bearer {short}"}
    rng = random.Random(1516)
    good, expected = _good_posts(tag, rng, auth)
    ahead = {"series": f"hostile/{tag}/ahead", "ts": (NOW + dt.timedelta(days=365)).isoformat(), "value": 1.0}
    posts = [*good, *_bad_posts(tag, auth, bars_only),
             ("a reading a year ahead (valid: the stream's clock rule)", "/v1/readings", orjson.dumps(ahead), auth,
              {202})]
    # an idempotency key used again with another body
    key = {**auth, "Idempotency-Key": f"hostile-{time.time_ns()}"}
    first = good[0]
    rng.shuffle(posts)
    with httpx.Client(base_url=stack.url("ingest"), timeout=60) as client:
        assert _post(client, (first[0], first[1], first[2], key, {202}))[1] == 202
        with ThreadPoolExecutor(4) as pool:  # bad bodies arrive while good posts of other clients are in flight
            results = list(pool.map(lambda p: _post(client, p), posts))
        again = _post(client, ("same key, other body", "/v1/readings", good[3][2], key, {422}))
        results.append(again)
        assert client.get("/healthz").status_code == 200
    wrong = [(p[0], status, text) for p, status, _ct, text in results if status not in p[4]]
    assert not wrong, wrong
    problems = [(p[0], ct) for p, status, ct, _t in results if status >= 400 and ct != "application/problem+json"]
    assert not problems, problems
    stack.wait_idle(timeout=240)
    assert stack.restarts() and not any(stack.restarts().values()), stack.restarts()
    # every good record exactly once; nothing of a refused request (the s9/H..9/cam9 keys would be extra rows)
    db = stored(stack.database_url, tag)
    want = Counter(expected)
    for kind in ("bars", "readings", "counts"):
        assert db[kind] == Counter(e for e in want if e[0] == kind[:-1]), kind
    # the accepted reading a year ahead: a dead letter `future` of the transform, the loader and the model
    ahead_letters = {d["service"]: d["reason"] for d in dead_letters(stack.bootstrap)
                     if d["source_topic"] == topics.READINGS.name and f"hostile/{tag}/ahead" in d["payload"]}
    assert ahead_letters == dict.fromkeys(("transform", "loader", "turnpoint-model"), "future")
    statuses = Counter(str(status) for _p, status, _ct, _t in results)
    print("write API:", orjson.dumps({"posts": len(results), "statuses": statuses,
                                      "good_records": sum(want.values())}).decode())


# ------------------------------------------------------------------------------------------ a long history


def test_thirty_thousand_bars_of_one_symbol_through_the_stack(stack: DevStack) -> None:
    import psycopg

    symbol = "HLONG30K"
    days = trading_days(dt.date(1905, 1, 2), 30_000)
    assert days[-1] < NOW.date()  # all of them before the clock (SPEC 2)
    closes = [100 + 20 * ((i * 37) % 11 - 5) / 5 + i * 0.001 for i in range(len(days))]
    rows = [(d, c, c + 1, c - 1, c, 10.0) for d, c in zip(days, closes, strict=True)]
    drop = stack.home / "drop"
    part = drop / f"{symbol}.part"
    part.write_text("symbol,date,open,high,low,close,volume\n" + "".join(
        f"{symbol},{d.isoformat()},{o!r},{h!r},{lo!r},{c!r},{v!r}\n" for d, o, h, lo, c, v in rows))
    part.rename(drop / f"{symbol}.csv")  # the ingest's drop folder takes whole *.csv files
    stack.wait_idle(timeout=300)
    assert stack.restarts() and not any(stack.restarts().values()), stack.restarts()
    expected = {(leg["gtype"], leg["start_date"]): leg["end_date"]
                for leg in SymbolRebounds(symbol, threshold=0.0, revision_horizon=60).apply(rows).legs}
    with psycopg.connect(stack.database_url, connect_timeout=10) as conn:
        [[prices]] = conn.execute("select count(*) from price where symbol = %s and interval = 'day'", (symbol,))
        legs = {(g, s): e for g, s, e in conn.execute(
            "select gtype, start_date, end_date from rebound_leg where symbol = %s", (symbol,))}
    assert prices == 30_000
    assert len(legs) == len(expected) > 80_000  # one message of them was over 8 MB
    assert legs == expected
    assert not [d for d in dead_letters(stack.bootstrap) if d.get("key") == symbol]
