"""Hostile records in the transform's processors: one record never takes another with it (issue 15).

Each test mixes bad records into a batch of good ones and checks that the good ones give exactly what
they give alone, and that each bad one is a dead letter with its reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from turnpoint.core.algorithms import SymbolRebounds
from turnpoint.core.dates import trading_days
from turnpoint.core.produce import ENVELOPE_MAX_BYTES
from turnpoint.core.skew import FutureSkew
from turnpoint.transform.bars import BarsProcessor
from turnpoint.transform.processing import DictStore, InMessage, Outbox, TopicNames
from turnpoint.transform.readings import CountsProcessor, ReadingsProcessor
from turnpoint.transform.settings import TransformOptions

NAMES = TopicNames("t.")
BARS, READINGS, COUNTS = "t.turnpoint.bars.v1", "t.turnpoint.readings.v1", "t.turnpoint.counts.v1"
NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


def clock() -> dt.datetime:
    return NOW


SKEW = FutureSkew(1.0, clock)


def _msg(topic: str, key: str, items: list[dict[str, Any]], offset: int) -> InMessage:
    return InMessage(topic, 0, offset, key.encode(), orjson.dumps({"v": 1, "items": items}))


def _bar(symbol: str, day: dt.date, close: float = 10.0) -> dict[str, Any]:
    return {"symbol": symbol, "date": day.isoformat(), "open": close, "high": close + 1, "low": close - 1,
            "close": close, "volume": 100.0}


def _items(out: Outbox, topic: str) -> list[dict[str, Any]]:
    return [item for _k, v in out.records.get(topic, []) for item in orjson.loads(v)["items"]]


def _dead(out: Outbox, topic: str) -> list[tuple[str, int]]:
    return sorted((d["reason"], d["offset"]) for d in _items(out, topic))


DAYS = trading_days(dt.date(2026, 1, 2), 40)


def _good_batch(symbols: list[str]) -> list[InMessage]:
    msgs, offset = [], 0
    for i, day in enumerate(DAYS):
        for s in symbols:
            msgs.append(_msg(BARS, s, [_bar(s, day, 10 + (i * 7 % 5))], offset))
            offset += 1
    return msgs


def _prices(out: Outbox) -> set[tuple[str, str, str]]:
    return {(p["symbol"], p["interval"], p["start"]) for p in _items(out, "t.turnpoint.prices.v1")}


@pytest.mark.parametrize(("day", "reason"), [
    ("9999-12-31", "invalid"),  # outside the contract's years 1000-2999 (SPEC 2)
    ("2100-01-01", "future"),
    ("2026-06-03", "future"),  # two days after the clock, one allowed
])
def test_a_bar_from_the_future_is_dead_lettered_and_the_batch_goes_on(day: str, reason: str) -> None:
    good = _good_batch(["AAA", "BBB", "CCC"])
    alone = BarsProcessor(TransformOptions(), NAMES, SKEW).process(good, DictStore())
    poison = _msg(BARS, "BBB", [{**_bar("BBB", DAYS[-1]), "date": day}], 10_000)
    store = DictStore()
    processor = BarsProcessor(TransformOptions(), NAMES, SKEW)
    out = processor.process([*good[:60], poison, *good[60:]], store)
    assert _prices(out) == _prices(alone)  # 9999-12-31 raised "year 10000 is out of range" for all of them
    assert _dead(out, "t.turnpoint.dlq.bars.v1") == [(reason, 10_000)]
    # the state's last date is not pinned: the next real bar is accepted as new
    nxt = processor.process([_msg(BARS, "BBB", [_bar("BBB", DAYS[-1] + dt.timedelta(days=3))], 10_001)], store)
    assert ("BBB", "day", (DAYS[-1] + dt.timedelta(days=3)).isoformat()) in _prices(nxt)


def test_a_bar_that_raises_is_dead_lettered_alone_and_its_symbols_other_bars_flow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = SymbolRebounds.apply

    def apply(self: SymbolRebounds, bars: Any, **kw: Any) -> Any:
        bars = list(bars)
        if any(b[4] == 13.13 for b in bars):
            msg = "an unexpected bug"
            raise RuntimeError(msg)
        return real(self, bars, **kw)

    monkeypatch.setattr(SymbolRebounds, "apply", apply)
    good = _good_batch(["AAA", "BBB"])
    alone = BarsProcessor(TransformOptions(), NAMES, SKEW).process(good[1::2], DictStore())  # BBB alone
    poison = _msg(BARS, "BBB", [_bar("BBB", DAYS[10], 13.13)], 10_000)
    # mixed into BBB's rows: BBB's batch takes the row path (a revision), which raises
    out = BarsProcessor(TransformOptions(), NAMES, SKEW).process([*good, poison], DictStore())
    assert _dead(out, "t.turnpoint.dlq.bars.v1") == [("processing-failed", 10_000)]
    assert {p for p in _prices(out) if p[0] == "BBB"} == _prices(alone)
    assert {p for p in _prices(out) if p[0] == "AAA"}  # the other symbol is untouched
    [letter] = _items(out, "t.turnpoint.dlq.bars.v1")
    assert "RuntimeError: an unexpected bug" in letter["detail"]
    headers = dict(out.headers[("t.turnpoint.dlq.bars.v1", 0)])
    assert headers["turnpoint.dlq.reason"] == b"processing-failed"


def test_a_reading_from_the_future_does_not_move_the_lateness_horizon() -> None:
    p = ReadingsProcessor(TransformOptions(), NAMES, "UTC", SKEW, lateness_days=1)
    store = DictStore()
    ahead = NOW + dt.timedelta(days=365)
    msgs = [_msg(READINGS, "s", [{"series": "s", "ts": ahead.isoformat(), "value": 1.0}], 0)]
    msgs += [_msg(READINGS, "s", [{"series": "s", "ts": (NOW - dt.timedelta(minutes=20 - i)).isoformat(),
                                   "value": float(i)}], i + 1) for i in range(20)]
    first = p.process(msgs[:1], store)
    out = p.process(msgs[1:], store)  # were all 20 `late` after the reading a year ahead
    assert _dead(first, "t.turnpoint.dlq.readings.v1") == [("future", 0)]
    assert _dead(out, "t.turnpoint.dlq.readings.v1") == []
    assert _items(out, "t.turnpoint.stats.v1")


def test_readings_and_counts_whose_key_is_not_their_series_or_camera_are_dead_lettered() -> None:
    ts = (NOW - dt.timedelta(hours=1)).isoformat()
    out = ReadingsProcessor(TransformOptions(), NAMES, "UTC", SKEW).process([
        _msg(READINGS, "s", [{"series": "s", "ts": ts, "value": 1.0}], 0),
        _msg(READINGS, "s", [{"series": "other", "ts": ts, "value": 2.0}], 1),
    ], DictStore())
    assert _dead(out, "t.turnpoint.dlq.readings.v1") == [("key-mismatch", 1)]
    count = {"period_start": ts, "period_end": NOW.isoformat(), "people": 1, "vehicle": 2}
    out = CountsProcessor(NAMES, SKEW).process([
        _msg(COUNTS, "cam1", [{"camera": "cam1", **count}], 0),
        _msg(COUNTS, "cam1", [{"camera": "cam2", **count}], 1),
        _msg(COUNTS, "cam1", [{"camera": "cam1", **count, "period_start": "2100-01-01T00:00:00Z",
                               "period_end": "2100-01-01T00:15:00Z"}], 2),
    ])
    assert _dead(out, "t.turnpoint.dlq.counts.v1") == [("future", 2), ("key-mismatch", 1)]
    assert {r["series"] for r in _items(out, "t.turnpoint.readings.v1")} == {"cam1/people", "cam1/vehicle"}


def test_thirty_thousand_daily_bars_of_one_symbol_flow_in_messages_that_fit() -> None:
    days = trading_days(dt.date(1920, 1, 2), 30_000)
    closes = [100 + 20 * ((i * 37) % 11 - 5) / 5 + i * 0.01 for i in range(30_000)]
    bars = [_bar("LONG", d, c) for d, c in zip(days, closes, strict=True)]
    msgs = [_msg(BARS, "LONG", bars[i:i + 500], i // 500) for i in range(0, len(bars), 500)]
    later = dt.datetime(2040, 1, 1, tzinfo=dt.UTC)  # 30,000 trading days from 1920 end in 2034
    out = BarsProcessor(TransformOptions(), NAMES, FutureSkew(1.0, lambda: later)).process(msgs, DictStore())
    sizes = [len(v) for records in out.records.values() for _k, v in records]
    assert max(sizes) <= ENVELOPE_MAX_BYTES
    assert len(out.records["t.turnpoint.legs.v1"]) > 1  # the legs alone were over 8 MB in one message
    expected = SymbolRebounds("LONG", threshold=0.0, revision_horizon=60).apply(
        [(d, b["open"], b["high"], b["low"], b["close"], b["volume"]) for d, b in zip(days, bars, strict=True)])
    legs = _items(out, "t.turnpoint.legs.v1")
    assert len(legs) == len(expected.legs) > 80_000
    assert [(leg["gtype"], leg["start_date"], leg["end_date"]) for leg in legs] == [
        (leg["gtype"], leg["start_date"].isoformat(), leg["end_date"].isoformat()) for leg in expected.legs]
    assert sum(1 for p in _items(out, "t.turnpoint.prices.v1") if p["interval"] == "day") == 30_000
    assert _items(out, "t.turnpoint.dlq.bars.v1") == []
