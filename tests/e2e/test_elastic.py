"""Elastic transform workers on the embedded stack: 1 -> 3 -> 1 workers while data flows.

A second and a third `turnpoint transform worker` join the stack's group mid-stream and two of them leave
again (SIGTERM). The run ends with the database equal to `turnpoint batch` over every input, no worker
crash (supervisor restart counts, exit codes), no `late` dead letter (the readings are fed in time order),
and no partition read again from offset 0: no seek back to 0, and every partition taken over resumes at
where its recovered state ends, or at the group's commit, never at 0 (the workers' "partition resumes"
log records).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from support.devstack_harness import DevStack
from support.feeders import HttpFeeder, drop_market_file
from support.pipeline_check import Inputs, check_database, market_rows, reading_rows
from support.transform import Worker

from turnpoint.core import topics
from turnpoint.core.dates import trading_days
from turnpoint.core.kafka import end_offsets

pytestmark = pytest.mark.timeout(1200)

SERIES = [f"el/s{i}" for i in range(6)]
SYMBOLS = [f"E{i:03d}" for i in range(16)]
INPUTS = {topics.BARS.name, topics.READINGS.name}
PARTITIONS = 6


@pytest.fixture(scope="module")
def stack(stack_home: Path) -> Iterator[DevStack]:
    # 6 partitions per topic: three workers hold 2 each (with Faust's default 4 a third worker gets none)
    s = DevStack(stack_home, {"TURNPOINT_KAFKA__PARTITIONS": str(PARTITIONS)})
    try:
        s.up()
        yield s
    finally:
        s.down()
        if os.environ.get("TURNPOINT_KEEP_LOGS"):  # a folder to keep the stack's logs in, for a post-mortem
            shutil.copytree(s.home / "logs", os.environ["TURNPOINT_KEEP_LOGS"], dirs_exist_ok=True)


def _worker(stack: DevStack, n: int) -> Worker:
    env = {
        "TURNPOINT_KAFKA__BOOTSTRAP_SERVERS": stack.bootstrap,
        "TURNPOINT_TZ": stack.tz,
        "TURNPOINT_TRANSFORM__DATA_DIR": str(stack.home / f"transform-{n}"),
        "TURNPOINT_HOME": str(stack.home),
        "TURNPOINT_KAFKA__PARTITIONS": str(PARTITIONS),
    }
    return Worker(env, stack.home / "logs" / f"transform-extra-{n}.log")


def _records(path: Path, message: str) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if message not in line:
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if doc.get("message") == message or doc.get("event") == message:
            out.append(doc)
    return out


def _dead_letter_reasons(bootstrap: str, topic: str) -> dict[str, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "elastic-dlq-reader",
                         "enable.auto.commit": False})
    try:
        md = consumer.list_topics(topic, timeout=10)
        parts = [TopicPartition(topic, p) for p in md.topics[topic].partitions]
        ends = end_offsets(consumer, parts)
        consumer.assign([TopicPartition(topic, p.partition, 0) for p in parts])
        seen = dict.fromkeys(ends, 0)
        reasons: dict[str, int] = {}
        deadline = time.monotonic() + 60
        while any(seen[k] < end for k, end in ends.items()) and time.monotonic() < deadline:
            for m in consumer.consume(1000, 0.5):
                if m.error() is None:
                    seen[(m.topic(), m.partition())] = m.offset() + 1
                    for item in orjson.loads(m.value())["items"]:
                        reasons[item["reason"]] = reasons.get(item["reason"], 0) + 1
        return reasons
    finally:
        consumer.close()


def test_workers_join_and_leave_while_data_flows(stack: DevStack) -> None:
    rng = random.Random(20261201)
    token = stack.create_token("elastic-writer", "write:readings", "write:bars")
    inputs = Inputs(stack.home / "inputs")
    feeder = HttpFeeder(stack.url("ingest"), token, timeout=300)
    readings = reading_rows(SERIES, dt.datetime(2024, 1, 1, tzinfo=dt.UTC), 120, 48, rng)  # in time order
    bars = market_rows(SYMBOLS, trading_days(dt.date(2022, 1, 3), 160), rng)
    by_symbol = {s: [r for r in bars if r["symbol"] == s] for s in SYMBOLS}
    before = stack.restarts()

    # a first share with the stack's one worker, so that every input partition has commits
    head = 2400
    for i in range(0, head, 400):
        feeder.post("/v1/readings", readings[i:i + 400])
        inputs.add_readings(readings[i:i + 400])
    first = [r for s in SYMBOLS for r in by_symbol[s][:40]]
    inputs.add_bars(first)
    drop_market_file(stack.home / "drop", "elastic-0", first)
    stack.wait_idle(timeout=300)
    joined_at = time.time()

    extra = {n: _worker(stack, n) for n in (2, 3)}
    membership: list[tuple[str, float]] = []
    failure: list[BaseException] = []

    def change_membership() -> None:
        try:
            t0 = time.monotonic()
            for action, n in (("start", 2), ("start", 3), ("stop", 3), ("stop", 2)):
                time.sleep(6)
                if action == "start":
                    extra[n].start()
                    _wait_for_partitions(extra[n])
                else:
                    extra[n].stop()
                membership.append((f"{action} {n}", round(time.monotonic() - t0, 1)))
        except BaseException as exc:
            failure.append(exc)

    try:
        changer = threading.Thread(target=change_membership, daemon=True)
        changer.start()
        # data keeps flowing while workers come and go: readings in time order, bars in files per date range
        i, day0, step = head, 40, 0
        while i < len(readings) or day0 < 160:
            if i < len(readings):
                feeder.post("/v1/readings", readings[i:i + 200])
                inputs.add_readings(readings[i:i + 200])
                i += 200
            step += 1
            if day0 < 160 and step % 4 == 0:
                part = [r for s in SYMBOLS for r in by_symbol[s][day0:day0 + 5]]
                inputs.add_bars(part)
                drop_market_file(stack.home / "drop", f"elastic-{day0}", part)
                day0 += 5
            if changer.is_alive():
                time.sleep(0.8)
        changes_done_while_fed = not changer.is_alive()
        changer.join(600)
        assert not failure, failure
        assert changes_done_while_fed, f"the data ran out before the last worker left: {membership}"
        assert [m for m, _ in membership] == ["start 2", "start 3", "stop 3", "stop 2"]
    finally:
        for w in extra.values():
            w.stop()
    exit_codes = {n: w.proc.returncode if w.proc is not None else None for n, w in extra.items()}

    stack.wait_all_healthy()
    stack.wait_idle(timeout=600)
    counts = check_database(stack.database_url, inputs, stack.home / "check-elastic", stack.tz)
    print(f"\nelastic: membership {membership}; database equals batch over inputs: {counts}")
    assert counts["calendar_stat"] > 0 and counts["rebound_leg"] > 0

    # no worker crashed: the supervisor restarted nothing, the extra workers stopped cleanly
    after = stack.restarts()
    assert after.get("transform", 0) == before.get("transform", 0), (before, after)
    assert exit_codes == {2: 0, 3: 0}, exit_codes

    # no good reading dead-lettered as late
    reasons = _dead_letter_reasons(stack.bootstrap, str(topics.READINGS.dead_letter))
    assert reasons.get("late", 0) == 0, reasons

    # no partition read again from 0: no seek back to 0, and every take-over resumes at the commit or later
    logs = [stack.home / "logs" / "transform.log", *(w.log for w in extra.values())]
    seeks = [r for p in logs for r in _records(p, "input messages went missing inside the consumer; seeking "
                                                   "back to reprocess them")]
    # (a seek back to 0 before the first join is the first reading of a partition, not a re-reading)
    assert not [s for s in seeks if s.get("offset") == 0 and _at(s) >= joined_at], _brief(seeks)
    resumes = [r for p in logs for r in _records(p, "partition resumes")
               if r.get("topic") in INPUTS and _at(r) >= joined_at]
    assert resumes, "no partition changed hands"
    # where the recovered state ends (exact, above or below the commit), never at the log start of a
    # partition that holds messages (one no key hashed to is empty: nothing to re-read there)
    ends = _ends(stack.bootstrap, sorted(INPUTS))
    taken = [r for r in resumes if ends[(r["topic"], r["partition"])] > 0]
    assert taken, "no partition holding messages changed hands"
    assert all(r["committed"] is not None and r["offset"] > 0 for r in taken), _brief(taken)
    resumes = taken
    by_source = {"above the commit": 0, "at the commit": 0, "below the commit": 0}
    for r in resumes:
        side = "above" if r["offset"] > r["committed"] else "at" if r["offset"] == r["committed"] else "below"
        by_source[f"{side} the commit"] += 1
    print(f"elastic: {len(resumes)} take-overs after the first join {by_source}; seeks back {len(seeks)}; "
          f"dead letters {reasons}\n{_brief(seeks)}")


def _ends(bootstrap: str, names: list[str]) -> dict[tuple[str, int], int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "elastic-ends", "enable.auto.commit": False})
    try:
        md = consumer.list_topics(timeout=10)
        return end_offsets(consumer, [TopicPartition(n, p) for n in names for p in md.topics[n].partitions])
    finally:
        consumer.close()


def _wait_for_partitions(worker: Worker, timeout: float = 120) -> None:
    """Until the joined worker took over a partition (its first "partition resumes" record)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _records(worker.log, "partition resumes"):
            return
        time.sleep(0.5)
    msg = f"{worker.log.name}: no partition taken over in {timeout:.0f}s"
    raise AssertionError(msg)


def _at(record: dict[str, Any]) -> float:
    stamp = record.get("@timestamp") or record.get("timestamp")
    if not stamp:
        return 0.0
    return dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()


def _brief(records: list[dict[str, Any]]) -> str:
    keys = ("@timestamp", "topic", "partition", "offset", "why", "committed", "processed", "log_start")
    return "\n".join(str({k: r.get(k) for k in keys if k in r}) for r in records)
