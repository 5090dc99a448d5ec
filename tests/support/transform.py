"""Helpers for tests that run real transform workers and read topics from the beginning."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from turnpoint.cli.embedded import free_port


class Worker:
    def __init__(self, env: dict[str, str], log: Path, args: tuple[str, ...] = ()) -> None:
        self.env = env
        self.log = log
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    def start(self) -> None:
        port = self.port = free_port()
        env = {**os.environ, **self.env, "TURNPOINT_TRANSFORM__PORT": str(port)}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "turnpoint.cli.main", "transform", "worker", *self.args],
                                         env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("transform worker did not become healthy:\n" + self.log.read_text()[-3000:])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def read_topic(bootstrap: str, topic: str, done: Any, timeout: float = 90.0, quiet: float = 2.0) -> list[dict[str, Any]]:
    """Every item on `topic` in partition order, once `done(items)` holds and nothing new came for `quiet` s."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    md = consumer.list_topics(topic, timeout=10)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in md.topics[topic].partitions])
    items: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    last_new = time.monotonic()
    try:
        while time.monotonic() < deadline:
            msgs = consumer.consume(1000, 0.5)
            for m in msgs:
                if m.error() is None:
                    items.extend(orjson.loads(m.value())["items"])
            if msgs:
                last_new = time.monotonic()
            elif done(items) and time.monotonic() - last_new > quiet:
                return items
    finally:
        consumer.close()
    raise AssertionError(f"{topic}: condition not reached in {timeout}s ({len(items)} items)")


def market_messages(path: Path, per_message: int = 50) -> list[tuple[str, list[dict[str, Any]]]]:
    """market.csv in file order, consecutive rows of one symbol grouped into messages."""
    with path.open() as f:
        rows = [{"symbol": r["symbol"], "date": r["date"],
                 **{k: float(r[k]) for k in ("open", "high", "low", "close", "volume")}} for r in csv.DictReader(f)]
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for row in rows:
        if out and out[-1][0] == row["symbol"] and len(out[-1][1]) < per_message:
            out[-1][1].append(row)
        else:
            out.append((row["symbol"], [row]))
    return out


def final_legs(items: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    legs: dict[tuple[str, str, str], dict[str, Any]] = {}
    for leg in items:
        key = (leg["symbol"], leg["gtype"], leg["start_date"])
        if leg["deleted"]:
            legs.pop(key, None)
        else:
            legs[key] = leg
    return legs


def expected_legs(path: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    with path.open() as f:
        return {(r["symbol"], r["gtype"], r["start_date"]): r for r in csv.DictReader(f)}


def assert_legs_equal(got: dict[tuple[str, str, str], dict[str, Any]], expected: dict[tuple[str, str, str], dict[str, str]]) -> None:
    assert got.keys() == expected.keys(), (len(got), len(expected), sorted(set(got) ^ set(expected))[:5])
    for key, row in expected.items():
        leg = got[key]
        assert (leg["end_date"], leg["bars"], leg["direction"]) == (row["end_date"], int(row["bars"]), row["direction"]), key
        for col in ("start_value", "end_value", "change", "pct"):
            assert leg[col] == pytest.approx(float(row[col]), rel=1e-9, abs=1e-9), (key, col)
