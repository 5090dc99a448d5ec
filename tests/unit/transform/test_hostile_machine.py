"""A hypothesis state machine over the transform's processors (issue 15): good and hostile messages of every
class on bars, readings and counts, processed in batches of any size; after every batch, each bad message is
a dead letter with its reason and no good one is, and every good record gave its output. The seeded e2e mix
(tests/e2e/test_hostile.py::test_random_mix) is the same game through the whole stack."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from turnpoint.core.skew import FutureSkew
from turnpoint.transform.bars import BarsProcessor
from turnpoint.transform.processing import DictStore, InMessage, Outbox, TopicNames
from turnpoint.transform.readings import CountsProcessor, ReadingsProcessor
from turnpoint.transform.settings import TransformOptions

NAMES = TopicNames("m.")
TOPIC = {k: f"m.turnpoint.{k}.v1" for k in ("bars", "readings", "counts")}
DLQ = {k: f"m.turnpoint.dlq.{k}.v1" for k in TOPIC}
NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
SKEW = FutureSkew(1.0, lambda: NOW)
KEYS = ("k0", "k1", "k2")


def _env(items: Any) -> bytes:
    return orjson.dumps({"v": 1, "items": items})


# what a bad message of each class is, per topic: (reason, the value given the key and a valid item)
BAD: dict[str, Any] = {
    "unparseable": lambda key, item: b"{not json",
    "bad-version": lambda key, item: orjson.dumps({"v": 2, "items": [item]}),
    "bad-envelope": lambda key, item: orjson.dumps([item]),
    "key-mismatch": lambda key, item: _env([{**item, _KEY_FIELD[_kind(item)]: key + "x"}]),
}
_KEY_FIELD = {"bar": "symbol", "reading": "series", "count": "camera"}


def _kind(item: dict[str, Any]) -> str:
    return "bar" if "close" in item else "count" if "camera" in item else "reading"


class HostileMix(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.stores = {"bars": DictStore(), "readings": DictStore()}  # the worker's two tables
        self.bars = BarsProcessor(TransformOptions(), NAMES, SKEW)
        self.readings = ReadingsProcessor(TransformOptions(), NAMES, "UTC", SKEW)
        self.counts = CountsProcessor(NAMES, SKEW)
        self.pending: dict[str, list[InMessage]] = {k: [] for k in TOPIC}
        self.offset = 0
        self.step = 0  # distinct dates and instants for every good record, in time order
        self.bad: dict[str, dict[int, str]] = {k: {} for k in TOPIC}
        self.good: dict[str, set[int]] = {k: set() for k in TOPIC}
        self.dead: dict[str, dict[int, str]] = {k: {} for k in TOPIC}
        self.want_prices: set[tuple[str, str]] = set()
        self.prices: set[tuple[str, str]] = set()
        self.want_derived = 0
        self.derived = 0

    def _item(self, topic: str, key: str) -> dict[str, Any]:
        self.step += 1
        if topic == "bars":
            day = dt.date(2020, 1, 1) + dt.timedelta(days=self.step)
            return {"symbol": key, "date": day.isoformat(), "open": 2.0, "high": 3.0, "low": 1.0,
                    "close": 2.5}
        ts = (NOW - dt.timedelta(days=1) + dt.timedelta(seconds=self.step)).isoformat()
        if topic == "readings":
            return {"series": key, "ts": ts, "value": float(self.step % 7)}
        end = (NOW - dt.timedelta(days=1) + dt.timedelta(seconds=self.step + 60)).isoformat()
        return {"camera": key, "period_start": ts, "period_end": end, "people": 1, "vehicle": 2}

    def _send(self, topic: str, key: str, value: bytes) -> int:
        self.offset += 1
        self.pending[topic].append(InMessage(TOPIC[topic], 0, self.offset, key.encode(), value))
        return self.offset

    @rule(topic=st.sampled_from(sorted(TOPIC)), key=st.sampled_from(KEYS))
    def good(self, topic: str, key: str) -> None:
        item = self._item(topic, key)
        self.good[topic].add(self._send(topic, key, _env([item])))
        if topic == "bars":
            self.want_prices.add((key, item["date"]))
        elif topic == "counts":
            self.want_derived += 2

    @rule(topic=st.sampled_from(sorted(TOPIC)), key=st.sampled_from(KEYS),
          reason=st.sampled_from([*BAD, "future", "invalid", "invalid-instant", "raw"]))
    def bad(self, topic: str, key: str, reason: str) -> None:
        item = self._item(topic, key)
        field = {"bars": "date", "readings": "ts", "counts": "period_start"}[topic]
        if reason == "future":
            value = _env([{**item, field: "2100-01-01" if topic == "bars" else "2100-01-01T00:00:00Z",
                           **({"period_end": "2100-01-01T00:15:00Z"} if topic == "counts" else {})}])
        elif reason == "invalid":
            value = _env([{**item, field: "9999-12-31" if topic == "bars" else "9999-12-31T00:00:00Z"}])
        elif reason == "invalid-instant":  # a number where ISO-8601 text belongs
            value, reason = _env([{**item, field: 1_700_000_000}]), "invalid"
        elif reason == "raw":
            value, reason = bytes(range(256)) * 8, "unparseable"
        else:
            value = BAD[reason](key, item)
        self.bad[topic][self._send(topic, key, value)] = reason

    @rule(topic=st.sampled_from(sorted(TOPIC)), take=st.integers(1, 12))
    def process(self, topic: str, take: int) -> None:
        batch, self.pending[topic] = self.pending[topic][:take], self.pending[topic][take:]
        out: Outbox
        if topic == "bars":
            out = self.bars.process(batch, self.stores["bars"])
        elif topic == "readings":
            out = self.readings.process(batch, self.stores["readings"])
        else:
            out = self.counts.process(batch)
        for records_topic, records in out.records.items():
            for _key, value in records:
                for item in orjson.loads(value)["items"]:
                    if records_topic == DLQ[topic]:
                        assert item["offset"] not in self.dead[topic], "dead-lettered twice"
                        self.dead[topic][item["offset"]] = item["reason"]
                    elif records_topic == "m.turnpoint.prices.v1" and item["interval"] == "day":
                        self.prices.add((item["symbol"], item["start"]))
                    elif topic == "counts" and records_topic == "m.turnpoint.readings.v1":
                        self.derived += 1

    @invariant()
    def every_processed_record_is_accounted_for(self) -> None:
        for topic in TOPIC:
            processed = self.offset_processed(topic)
            # every bad message processed so far is a dead letter with its reason, and nothing else is
            assert self.dead[topic] == {o: r for o, r in self.bad[topic].items() if o <= processed}, topic
            assert not self.dead[topic].keys() & self.good[topic]

    def offset_processed(self, topic: str) -> int:
        return min((m.offset for m in self.pending[topic]), default=self.offset + 1) - 1

    def teardown(self) -> None:
        for topic in TOPIC:
            if self.pending[topic]:
                self.process(topic, len(self.pending[topic]))
        for topic in TOPIC:
            assert self.dead[topic] == self.bad[topic], topic
        assert self.prices == self.want_prices
        assert self.derived == self.want_derived


HostileMix.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_hostile_mix = HostileMix.TestCase
