"""The model's StreamWorker against in-memory fakes of its consumer and producer ports (no broker).

What the fakes give that the integration test cannot: exact control of batches, of a failing delivery (a
crash between publishing and committing) and of the moment a model version appears.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from confluent_kafka import TopicPartition
from turnpoint.core.contracts import Prediction
from turnpoint.core.dates import trading_days
from turnpoint.core.serde import decode_items, encode_items
from turnpoint.model.predictor import Predictor
from turnpoint.model.registry import Registry
from turnpoint.model.runtime import ModelStore
from turnpoint.model.sinks import InferenceLog, MemorySink
from turnpoint.model.worker import StreamWorker, Topics

T = Topics.with_prefix("")
DAYS = trading_days(dt.date(2024, 1, 2), 60)
RNG = np.random.default_rng(3)
CLOSES = 100 * np.exp(np.cumsum(RNG.normal(0, 0.01, len(DAYS))))


@dataclass
class Msg:
    _topic: str
    _partition: int
    _offset: int
    _key: bytes
    _value: bytes

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value

    def error(self) -> None:
        return None


@dataclass
class FakeConsumer:
    """One partition per topic; `consume` hands out messages from the position, `commit` remembers."""

    log: dict[str, list[Msg]] = field(default_factory=dict)
    position_: dict[str, int] = field(default_factory=dict)
    committed_: dict[str, int] = field(default_factory=dict)

    def append(self, topic: str, key: bytes, value: bytes) -> None:
        msgs = self.log.setdefault(topic, [])
        msgs.append(Msg(topic, 0, len(msgs), key, value))

    def consume(self, num_messages: int, timeout: float) -> list[Msg]:
        out: list[Msg] = []
        for topic, msgs in self.log.items():
            start = self.position_.get(topic, 0)
            out += msgs[start : start + num_messages - len(out)]
            self.position_[topic] = start + len(msgs[start : start + num_messages])
        return out

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        for tp in offsets:
            self.committed_[tp.topic] = tp.offset

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, 0, self.committed_.get(tp.topic, -1001)) for tp in partitions]

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, 0) for t in self.log]

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, 0, self.position_.get(tp.topic, 0)) for tp in partitions]

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float, cached: bool = False) -> tuple[int, int]:
        return 0, len(self.log.get(tp.topic, []))

    def seek(self, tp: TopicPartition) -> None:
        self.position_[tp.topic] = max(tp.offset, 0)


@dataclass
class FakeProducer:
    sent: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    fail_next_flush: bool = False
    _pending: list[tuple[str, bytes, bytes, Any]] = field(default_factory=list)

    def produce(self, topic: str, key: bytes, value: bytes, on_delivery: Any = None, headers: Any = None) -> None:
        self._pending.append((topic, key, value, on_delivery))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        pending, self._pending = self._pending, []
        for topic, key, value, callback in pending:
            if self.fail_next_flush:
                callback("broker gone", None)  # delivery failed: nothing reached the topic
            else:
                self.sent.append((topic, key, value))
        self.fail_next_flush = False
        return 0

    def predictions(self) -> list[Prediction]:
        return [p for t, _k, v in self.sent if t == T.predictions for p in decode_items(Prediction, v)]


def _bar(i: int, symbol: str = "AAA") -> dict[str, Any]:
    c, d = float(CLOSES[i]), DAYS[i].isoformat()
    return {"symbol": symbol, "interval": "day", "start": d, "end": d, "open": c, "high": c, "low": c,
            "close": c, "volume": 1.0, "bars": 1}


def _worker(registry: Path) -> tuple[StreamWorker, FakeConsumer, FakeProducer, ModelStore]:
    store = ModelStore(Registry(registry))
    store.refresh()
    consumer, producer = FakeConsumer(), FakeProducer()
    predictor = Predictor(store, InferenceLog([MemorySink()]))
    return StreamWorker(consumer, producer, predictor, T, poll_timeout=0.0), consumer, producer, store


def test_a_backfill_message_is_forecast_once_per_symbol_as_of_its_newest_bar(model_registry: Path) -> None:
    worker, consumer, producer, _ = _worker(model_registry)
    consumer.append(T.prices, b"AAA", encode_items([_bar(i) for i in range(40)]))
    consumer.append(T.prices, b"BBB", encode_items([_bar(i, "BBB") for i in range(30)]))
    worker.step()
    assert sorted((p.target, p.asof.date()) for p in producer.predictions()) == [("AAA", DAYS[39]),
                                                                                ("BBB", DAYS[29])]
    consumer.append(T.prices, b"AAA", encode_items([_bar(40)]))  # live: one bar, one forecast
    consumer.append(T.prices, b"AAA", encode_items([_bar(41)]))
    worker.step()
    assert [p.asof.date() for p in producer.predictions()][2:] == [DAYS[40], DAYS[41]]


def test_a_model_that_appears_later_scores_the_latest_bar_it_missed(model_registry: Path, tmp_path: Path) -> None:
    empty = tmp_path / "registry"
    empty.mkdir()
    worker, consumer, producer, store = _worker(empty)
    consumer.append(T.prices, b"AAA", encode_items([_bar(i) for i in range(30)]))
    consumer.append(T.prices, b"BBB", encode_items([_bar(i, "BBB") for i in range(25)]))
    worker.step()
    assert producer.predictions() == []  # no model yet: windows filled, nothing scored
    for name in Registry(model_registry).names():
        shutil.copytree(model_registry / name, empty / name)
    store.refresh()
    assert worker.step() == 0  # no new input, yet the new version catches up on what it missed
    assert sorted((p.target, p.asof.date()) for p in producer.predictions()) == [("AAA", DAYS[29]),
                                                                                ("BBB", DAYS[24])]
    worker.step()
    assert len(producer.predictions()) == 2  # once per version, not on every step


def test_a_failed_delivery_commits_nothing_and_the_retry_publishes_the_same_predictions(
    model_registry: Path,
) -> None:
    worker, consumer, producer, _ = _worker(model_registry)
    consumer.append(T.prices, b"AAA", encode_items([_bar(i) for i in range(25)]))
    worker.step()
    consumer.append(T.prices, b"AAA", encode_items([_bar(25)]))
    producer.fail_next_flush = True
    with pytest.raises(Exception, match="offsets not committed"):
        worker.step()
    assert consumer.committed_[T.prices] == 1  # the failed batch's offset was not committed
    worker._rewind()  # what `run` does after a failed batch
    worker.step()
    assert consumer.committed_[T.prices] == 2
    preds = producer.predictions()
    assert [p.asof.date() for p in preds] == [DAYS[24], DAYS[25]]  # the crash lost nothing, added nothing
    assert preds[1].trace_id != preds[0].trace_id


def _dead_letters(producer: FakeProducer) -> list[dict[str, Any]]:
    import orjson

    return [orjson.loads(v)["items"][0] for t, _k, v in producer.sent if t == T.dead_letters]


def test_a_close_of_zero_does_not_skip_the_other_symbols_forecasts(model_registry: Path) -> None:
    worker, consumer, producer, _ = _worker(model_registry)
    consumer.append(T.prices, b"AAA", encode_items([_bar(i) for i in range(25)]))
    consumer.append(T.prices, b"BBB", encode_items([_bar(i, "BBB") for i in range(25)]))
    worker.step()
    zero = {**_bar(25), "open": 0.0, "high": 0.0, "low": 0.0, "close": 0.0}
    consumer.append(T.prices, b"AAA", encode_items([zero]))
    consumer.append(T.prices, b"BBB", encode_items([_bar(25, "BBB")]))
    worker.step()  # raised InvalidInput for the whole batch: no forecast at all, the batch retried forever
    # AAA's window holds a 0 and cannot be forecast; BBB's forecast is published all the same
    assert [(p.target, p.asof.date()) for p in producer.predictions()][-1:] == [("BBB", DAYS[25])]
    assert {p.target for p in producer.predictions()[2:]} == {"BBB"}
    assert consumer.committed_[T.prices] == 4


def test_a_record_that_raises_is_dead_lettered_alone_and_its_batch_goes_on(
    model_registry: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import turnpoint.model.worker as module

    real, real_bulk = module.validate_item, module.validate_items

    def validate(model: Any, raw: Any) -> Any:
        if raw.get("symbol") == "BAD":
            msg = "an unexpected bug"
            raise RuntimeError(msg)
        return real(model, raw)

    def validate_bulk(model: Any, items: list[Any]) -> Any:  # a message is validated in one pass first
        for raw in items:
            validate(model, raw)
        return real_bulk(model, items)

    monkeypatch.setattr(module, "validate_item", validate)
    monkeypatch.setattr(module, "validate_items", validate_bulk)
    worker, consumer, producer, _ = _worker(model_registry)
    consumer.append(T.prices, b"AAA", encode_items([_bar(i) for i in range(20)]))
    consumer.append(T.prices, b"BAD", encode_items([_bar(i, "BAD") for i in range(25)]))
    consumer.append(T.prices, b"AAA", encode_items([_bar(i) for i in range(20, 30)]))
    worker.step()
    assert [(p.target, p.asof.date()) for p in producer.predictions()] == [("AAA", DAYS[29])]
    [dead] = _dead_letters(producer)
    assert (dead["reason"], dead["offset"], dead["key"]) == ("processing-failed", 1, "BAD")
    assert "RuntimeError: an unexpected bug" in dead["detail"]
    assert consumer.committed_[T.prices] == 3


def test_a_batch_of_forecasts_marks_model_forecast_fresh_on_the_jobs_topic(model_registry: Path) -> None:
    from turnpoint.core.contracts import JobInfo

    worker, consumer, producer, _ = _worker(model_registry)
    consumer.append(T.prices, b"AAA", encode_items([_bar(i) for i in range(40)]))
    worker.step()
    jobs = [j for t, _k, v in producer.sent if t == T.jobs for j in decode_items(JobInfo, v)]
    assert [(j.job, j.rows, j.status) for j in jobs] == [("model.forecast", 1, "ok")]


def test_a_bar_or_reading_after_the_clock_plus_the_skew_is_a_dead_letter_and_never_scored(
    model_registry: Path,
) -> None:
    import orjson
    from turnpoint.core.skew import FutureSkew

    now = dt.datetime.combine(DAYS[45], dt.time(12), dt.UTC)
    worker, consumer, producer, _ = _worker(model_registry)
    worker.skew = FutureSkew(1.0, lambda: now)
    far = {**_bar(40), "start": "2100-01-01", "end": "2100-01-01"}
    consumer.append(T.prices, b"AAA", encode_items([*(_bar(i) for i in range(40)), far]))
    ts = [now - dt.timedelta(minutes=5), now + dt.timedelta(days=365), now]
    consumer.append(T.readings, b"s", encode_items([{"series": "s", "ts": t.isoformat(), "value": 1.0} for t in ts]))
    worker.step()
    # the forecast is as of the last real bar, not of 2100; the reading a year ahead is in no window
    assert [(p.target, p.asof.date()) for p in producer.predictions() if p.kind == "forecast"] == [("AAA", DAYS[39])]
    assert worker.bars["AAA"].times[-1] == DAYS[39].isoformat()
    assert [dt.datetime.fromisoformat(t) for t in worker.readings["s"].times] == [ts[0], ts[2]]
    dead = sorted(_dead_letters(producer), key=lambda d: d["source_topic"])
    assert [(d["reason"], d["source_topic"], d["offset"], d["detail"][:7]) for d in dead] == [
        ("future", T.prices, 0, "item 40"), ("future", T.readings, 0, "item 1:")]
    assert orjson.loads(dead[0]["payload"]) == far  # the one item, not its message of 41 bars
    # the next real bar is new, not older than a pinned 2100: it is forecast
    consumer.append(T.prices, b"AAA", encode_items([_bar(40)]))
    worker.step()
    assert [p.asof.date() for p in producer.predictions() if p.kind == "forecast"][-1] == DAYS[40]


def test_bars_before_an_invalid_one_in_a_message_are_applied_and_forecast(model_registry: Path) -> None:
    """A message is validated in one pass; when that fails it is judged item by item, as before: the bars
    before the invalid one enter the window (the newest of them is forecast), the message is a dead letter."""
    worker, consumer, producer, _ = _worker(model_registry)
    bad = {**_bar(25), "close": "not a number"}
    consumer.append(T.prices, b"AAA", encode_items([*[_bar(i) for i in range(25)], bad, _bar(26)]))
    worker.step()
    assert [(p.target, p.asof.date()) for p in producer.predictions()] == [("AAA", DAYS[24])]
    [dead] = _dead_letters(producer)
    assert (dead["reason"], dead["offset"], dead["key"]) == ("invalid", 0, "AAA")
    # the next valid message continues the same window
    consumer.append(T.prices, b"AAA", encode_items([_bar(i) for i in range(25, 30)]))
    worker.step()
    assert [(p.target, p.asof.date()) for p in producer.predictions()][-1] == ("AAA", DAYS[29])
