"""The loader's clock rule (SPEC 2, issue 15): a reading or a price after the clock plus the allowed skew is a
dead letter `future`, never a row, and the other items of its message are loaded."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from support.messages import Message
from turnpoint.core import topics
from turnpoint.core.skew import FutureSkew
from turnpoint.loader import tables as T
from turnpoint.loader.batch import Batch

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
SKEW = FutureSkew(1.0, lambda: NOW)


def _batch(topic: str, items: list[dict[str, Any]], skew: FutureSkew | None = SKEW) -> Batch:
    b = Batch(T.BY_TOPIC, skew)
    b.add(Message(topic, orjson.dumps({"v": 1, "items": items})), topic)
    return b


def _reading(ts: dt.datetime, value: float = 1.0) -> dict[str, Any]:
    return {"series": "s", "ts": ts.isoformat(), "value": value}


def _price(day: dt.date) -> dict[str, Any]:
    return {"symbol": "AAA", "interval": "day", "start": day.isoformat(), "end": day.isoformat(), "open": 1.0,
            "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0, "bars": 1}


def test_a_reading_a_year_ahead_is_a_dead_letter_future_and_its_neighbours_are_loaded() -> None:
    ahead = NOW + dt.timedelta(days=365)
    edge = NOW + dt.timedelta(days=1)  # exactly the clock plus the skew: accepted
    b = _batch(topics.READINGS.name, [_reading(NOW - dt.timedelta(hours=1)), _reading(ahead, 2.0), _reading(edge)])
    rows, _ = b.tables["reading"].upserts()
    assert sorted(r[1] for r in rows) == [NOW - dt.timedelta(hours=1), edge]
    [rejected] = b.rejected
    assert rejected.reason == "future"
    assert rejected.detail.startswith(f"item 1: ts {ahead.isoformat()} is after {edge.isoformat()}")
    assert orjson.loads(rejected.payload) == _reading(ahead, 2.0)  # the item, not the whole message
    assert len(b) == 2


def test_a_price_after_tomorrow_is_a_dead_letter_and_pins_no_latest_bar() -> None:
    tomorrow, later = dt.date(2026, 6, 2), dt.date(2100, 1, 1)
    b = _batch(topics.PRICES.name, [_price(dt.date(2026, 5, 29)), _price(later), _price(tomorrow)])
    rows, _ = b.tables["price"].upserts()
    assert [r[2] for r in rows] == [dt.date(2026, 5, 29), tomorrow]
    assert [(r.reason, r.detail) for r in b.rejected] == [
        ("future", "item 1: start 2100-01-01 is after 2026-06-02 (the clock plus the allowed skew)")]
    assert [r[1] for r in T.latest_daily_bars(rows)] == [tomorrow]


def test_results_of_the_pipeline_have_no_clock_rule_and_no_skew_means_none() -> None:
    ahead = NOW + dt.timedelta(days=365)
    assert not _batch(topics.READINGS.name, [_reading(ahead)], skew=None).rejected
    stat = {"series": "s", "period": "day", "start": "2100-01-01", "count": 1, "mean": 1.0, "std": 0.0,
            "min": 1.0, "max": 1.0}
    assert not _batch(topics.STATS.name, [stat]).rejected  # a period start is not an event time


def test_a_rebuilt_batch_keeps_the_rule() -> None:
    b = _batch(topics.READINGS.name, [_reading(NOW + dt.timedelta(days=365))])
    again = b.followed_by(_batch(topics.READINGS.name, [_reading(NOW)]), lambda t: t)
    assert [r.reason for r in again.rejected] == ["future"]
    assert len(again) == 1
