"""The stream worker on a real broker: bars and readings in, predictions, inference logs and dead letters out."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
import pytest
from turnpoint.core import topics
from turnpoint.core.contracts import Prediction
from turnpoint.core.kafka import group_lag, make_consumer, make_producer
from turnpoint.core.serde import decode_items, encode_items
from turnpoint.model.bootstrap import Service, bootstrap
from turnpoint.model.ecs import stable_id
from turnpoint.model.settings import ModelConfig, ModelSettings
from turnpoint.model.synthetic import trading_days
from turnpoint.model.training import ANOMALY_MODEL, FORECAST_MODEL
from turnpoint.model.worker import DLQ_NAME

DAYS = trading_days(dt.date(2024, 1, 2), 31)
SYMBOLS = ("AAA", "BBB")
RNG = np.random.default_rng(11)
CLOSES = {s: 50 * (i + 1) * np.exp(np.cumsum(RNG.normal(0, 0.01, len(DAYS)))) for i, s in enumerate(SYMBOLS)}
READINGS = 20 + np.sin(np.arange(40) / 3) + RNG.normal(0, 0.1, 40)


def _bar(symbol: str, i: int, interval: str = "day") -> dict[str, Any]:
    c = float(CLOSES[symbol][i])
    d = DAYS[i].isoformat()
    return {"symbol": symbol, "interval": interval, "start": d, "end": d, "open": c, "high": c, "low": c,
            "close": c, "volume": 1.0, "bars": 1}


def _reading(i: int) -> dict[str, Any]:
    ts = dt.datetime(2024, 3, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i)
    return {"series": "plant/t1", "ts": ts.isoformat(), "value": float(READINGS[i])}


def _start(settings: ModelSettings) -> Service:
    service = bootstrap(settings)
    service.start()
    return service


def _drain(settings, topic: str, group: str, until, timeout: float = 60.0) -> list[Any]:
    consumer = make_consumer(settings.kafka, group)
    consumer.subscribe([topic])
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(got):
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                got.append(msg)
    finally:
        consumer.close()
    return got


@pytest.fixture
def settings(kafka_settings, model_registry: Path, tmp_path: Path) -> ModelSettings:
    registry = Path(shutil.copytree(model_registry, tmp_path / "registry"))
    cfg = ModelConfig(registry_dir=registry, log_dir=tmp_path / "logs", poll_timeout_s=0.1)
    return ModelSettings(kafka=kafka_settings, model=cfg)


def test_stream_worker_publishes_batched_predictions_and_logs(settings: ModelSettings, unique: str) -> None:
    prefix = settings.kafka.topic_prefix
    prices, readings = topics.PRICES.full_name(prefix), topics.READINGS.full_name(prefix)
    producer = make_producer(settings.kafka)
    for s in SYMBOLS:  # a backfill of 25 bars in one message, then one bar per message
        producer.produce(prices, key=s.encode(), value=encode_items([_bar(s, i) for i in range(25)]))
        for i in range(25, 30):
            producer.produce(prices, key=s.encode(), value=encode_items([_bar(s, i)]))
        producer.produce(prices, key=s.encode(), value=encode_items([_bar(s, 29, "week")]))  # ignored
    producer.produce(prices, key=b"AAA", value=b"{not json")
    producer.produce(readings, key=b"plant/t1", value=encode_items([_reading(i) for i in range(40)]))
    assert producer.flush(10) == 0

    service = _start(settings)
    try:
        # the backfill message is forecast once per symbol, as of its newest bar; each live bar after it
        n_forecasts = len(SYMBOLS) * (1 + 5)
        n_scores = 40 - 32 + 1
        msgs = _drain(settings, topics.PREDICTIONS.full_name(prefix), f"check-{unique}",
                      lambda got: sum(len(decode_items(Prediction, m.value())) for m in got) >= n_forecasts + n_scores)
        preds = [p for m in msgs for p in decode_items(Prediction, m.value())]
        assert all(m.key().decode() == decode_items(Prediction, m.value())[0].target for m in msgs)
        forecasts = [p for p in preds if p.kind == "forecast"]
        scores = [p for p in preds if p.kind == "anomaly"]
        assert len(forecasts) == n_forecasts and len(scores) == n_scores
        assert {(p.model, p.version) for p in forecasts} == {(FORECAST_MODEL, "v1")}
        assert {(p.model, p.version) for p in scores} == {(ANOMALY_MODEL, "v1")}

        session = ort.InferenceSession(str(settings.model.registry_dir / FORECAST_MODEL / "v1" / "model.onnx"))
        for p in forecasts:
            i = DAYS.index(p.asof.date())
            window = CLOSES[p.target][i - 20 : i + 1].astype(np.float32)[None, :]
            np.testing.assert_allclose(p.values, session.run(["forecast"], {"closes": window})[0][0], rtol=1e-6)
            assert p.horizon == 5 and p.trace_id == stable_id(FORECAST_MODEL, "v1", p.target, p.asof.isoformat().replace("+00:00", "Z"))
        assert max(p.asof.date() for p in forecasts) == DAYS[29]

        logs = _drain(settings, topics.INFERENCE_LOG.full_name(prefix), f"logs-{unique}",
                      lambda got: sum(len(orjson.loads(m.value())["items"]) for m in got) >= n_forecasts + n_scores)
        docs = [d for m in logs for d in orjson.loads(m.value())["items"]]
        assert {m.key().decode() for m in logs} == {FORECAST_MODEL, ANOMALY_MODEL}
        assert {d["turnpoint"]["source"] for d in docs} == {"stream"}
        assert {d["trace"]["id"] for d in docs} == {p.trace_id for p in preds}
        realised = [d["turnpoint"]["realised"] for d in docs if "realised" in d["turnpoint"]]
        assert len(realised) == n_forecasts - len(SYMBOLS)  # every forecast but each symbol's first
        assert all(r["actual"] > 0 and r["predicted"] > 0 for r in realised)

        dead = _drain(settings, f"{prefix}{DLQ_NAME}", f"dlq-{unique}", lambda got: len(got) >= 1)
        (item,) = orjson.loads(dead[0].value())["items"]
        assert item["reason"] == "unparseable" and item["source_topic"] == prices and item["payload"] == "{not json"

        deadline = time.monotonic() + 30
        while group_lag(settings.kafka, topics.MODEL_GROUP.group_id, [prices, readings]) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert group_lag(settings.kafka, topics.MODEL_GROUP.group_id, [prices, readings]) == 0
        health = service.health()
        assert health[0] and health[1]["stream"]["alive"]
    finally:
        service.close()

    # A restarted worker rebuilds its windows from the partitions' recent history without republishing:
    # the next bar is forecast at once, and nothing older is published again.
    producer.produce(prices, key=b"AAA", value=encode_items([_bar("AAA", 30)]))
    assert producer.flush(10) == 0
    service = _start(settings)
    try:
        def preds_in(got: list[Any]) -> list[Prediction]:
            return [p for m in got for p in decode_items(Prediction, m.value())]

        msgs = _drain(settings, topics.PREDICTIONS.full_name(prefix), f"again-{unique}",
                      lambda got: any(p.asof.date() == DAYS[30] for p in preds_in(got)), timeout=45)
        time.sleep(1.0)
        msgs += _drain(settings, topics.PREDICTIONS.full_name(prefix), f"again-{unique}", lambda got: False, timeout=2)
        after = preds_in(msgs)
        assert sorted((p.target, p.asof.date()) for p in after) == sorted(
            [(p.target, p.asof.date()) for p in preds] + [("AAA", DAYS[30])]
        )
    finally:
        service.close()
