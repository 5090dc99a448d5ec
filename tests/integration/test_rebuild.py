"""Re-publishing PostgreSQL's history onto an empty broker: key order, every row once, stale legs withdrawn,
and the transform's processors rebuild from it without a single `late` dead letter."""

from __future__ import annotations

import datetime as dt
import random
import time

import orjson
import psycopg

from turnpoint.core import topics
from turnpoint.core.kafka import make_consumer
from turnpoint.core.settings import KafkaSettings
from turnpoint.transform.processing import DictStore, InMessage, TopicNames
from turnpoint.transform.readings import ReadingsProcessor
from turnpoint.cli.rebuild import republish
from turnpoint.transform.settings import TransformOptions


def _messages(kafka: KafkaSettings, topic: str, n_items: int, timeout: float = 30) -> list[InMessage]:
    consumer = make_consumer(kafka, f"rebuild-reader-{time.monotonic_ns()}")
    consumer.subscribe([topic])
    out: list[InMessage] = []
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while seen < n_items and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            out.append(InMessage(topic, msg.partition(), msg.offset(), msg.key(), msg.value()))
            seen += len(orjson.loads(msg.value())["items"])
    finally:
        consumer.close()
    return out


def _items(msgs: list[InMessage]) -> list[dict]:
    return [item for m in msgs for item in orjson.loads(m.value)["items"]]


def test_history_goes_back_in_key_order_and_stale_legs_are_withdrawn(
    kafka_settings: KafkaSettings, fresh_database: str,
) -> None:
    from turnpoint.loader.migrations import migrate

    migrate(fresh_database)
    rng = random.Random(7)
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(30)]
    bars = [(s, d, c, c + 1, c - 1, c, 10.0) for s in ("RB1", "RB2") for d in days
            for c in [round(rng.uniform(10, 20), 2)]]
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    readings = [("rb/s", t0 + dt.timedelta(hours=i), float(i % 7)) for i in range(24 * 10)]
    with psycopg.connect(fresh_database) as conn:
        for s, d, o, h, lo, c, v in rng.sample(bars, len(bars)):  # stored in no particular order
            conn.execute("INSERT INTO price (symbol, interval, start, \"end\", open, high, low, close, volume) "
                         "VALUES (%s, 'day', %s, %s, %s, %s, %s, %s, %s)", (s, d, d, o, h, lo, c, v))
        for series, ts, value in rng.sample(readings, len(readings)):
            conn.execute("INSERT INTO reading (series, ts, value, unit) VALUES (%s, %s, %s, 'V')", (series, ts, value))
        # a leg the final bars do not produce (its withdrawal was lost with the broker)
        conn.execute("INSERT INTO rebound_leg VALUES ('RB1', 'close', '2023-12-01', 5, '2023-12-05', 6, 4, 1, 20, "
                     "'up', now())")

    report = republish(kafka_settings, fresh_database, batch=7)
    assert (report.symbols, report.bars, report.series, report.readings, report.legs_withdrawn) == (2, 60, 1, 240, 1)

    names = TopicNames(kafka_settings.topic_prefix)
    got_bars = _items(_messages(kafka_settings, names.bars, 60))
    for symbol in ("RB1", "RB2"):
        dates = [b["date"] for b in got_bars if b["symbol"] == symbol]
        assert dates == [d.isoformat() for d in days]
    withdrawn = _items(_messages(kafka_settings, names.legs, 1))
    assert [(w["symbol"], w["start_date"], w["deleted"]) for w in withdrawn] == [("RB1", "2023-12-01", True)]

    msgs = _messages(kafka_settings, names.readings, 240)
    assert [r["ts"] for r in _items(msgs)] == [ts.isoformat().replace("+00:00", "Z") for _, ts, _ in readings]
    assert {r["unit"] for r in _items(msgs)} == {"V"}
    # the transform rebuilds from them: after the newest reading was seen, nothing older comes, so no `late`
    processor = ReadingsProcessor(TransformOptions(), names, "UTC", lateness_days=0.5)
    store = DictStore()
    out = processor.process(msgs, store)
    assert dict(out.dead) == {}
    assert topics.READINGS.dead_letter is not None
    assert out.count(names.dlq(topics.READINGS)) == 0
