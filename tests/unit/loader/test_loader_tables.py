"""Row converters, batch semantics (last item per key wins, tombstones) and row isolation, without I/O."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from turnpoint.core import topics
from turnpoint.loader import tables as T
from turnpoint.loader.batch import Batch
from turnpoint.loader.errors import RowRejected
from turnpoint.loader.sink import isolate


@dataclass
class FakeMessage:
    _topic: str
    _value: bytes | None
    _offset: int = 0
    _partition: int = 0
    _key: bytes | None = None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def error(self) -> None:
        return None


def price(day: int, close: float = 10.0, **extra: Any) -> dict[str, Any]:
    d = f"2024-03-{day:02d}"
    return {"symbol": "AAA", "interval": "day", "start": d, "end": d, "open": close, "high": close,
            "low": close, "close": close, "volume": 5.0, "bars": 1, **extra}


def leg(day: int, deleted: bool = False) -> dict[str, Any]:
    return {"symbol": "AAA", "gtype": "close", "start_date": f"2024-03-{day:02d}", "start_value": 1.0,
            "end_date": f"2024-03-{day + 1:02d}", "end_value": 2.0, "bars": 1, "change": 1.0, "pct": 100.0,
            "direction": "up", "deleted": deleted}


def envelope(*items: Any) -> bytes:
    return orjson.dumps({"v": 1, "items": list(items)})


def batch_of(topic: str, *values: bytes) -> Batch:
    b = Batch(T.BY_TOPIC)
    for off, v in enumerate(values):
        b.add(FakeMessage(topic, v, off), topic)
    return b


def test_price_row_is_in_column_order_with_real_dates() -> None:
    row = T.PRICE.convert(price(4, 12.5))
    assert row == ("AAA", "day", dt.date(2024, 3, 4), dt.date(2024, 3, 4), 12.5, 12.5, 12.5, 12.5, 5.0, 1)
    assert T.PRICE.key_of(row) == ("AAA", "day", dt.date(2024, 3, 4))


def test_integers_are_accepted_for_float_columns_but_strings_are_not() -> None:
    assert T.PRICE.convert(price(4, volume=7))[8] == 7.0
    with pytest.raises(T.BadItem, match="close: expected a number"):
        T.PRICE.convert({**price(4), "close": "12"})


@pytest.mark.parametrize(
    ("spec", "item", "error"),
    [
        (T.PRICE, {"symbol": "A"}, "interval"),
        (T.PRICE, price(1, interval="hour"), "interval"),
        (T.OUTLIER, {"series": "s", "ts": "2024-01-01T00:00:00", "value": 1.0, "mean": 1.0, "std": 0.0,
                     "direction": "high", "k": 1.5, "window_days": 28}, "no UTC offset"),
        (T.READING, {"series": "s", "ts": "2024-01-01T00:00:00Z", "value": float("nan")}, "value"),
        (T.READING, {"series": "", "ts": "2024-01-01T00:00:00Z", "value": 1.0}, "series"),
        (T.REBOUND_LEG, {**leg(1), "start_date": "2024-13-01"}, "start_date"),
    ],
)
def test_bad_items_are_refused_with_the_field_named(spec: T.TableSpec, item: dict[str, Any], error: str) -> None:
    with pytest.raises(T.BadItem, match=error):
        spec.convert(item)


def test_stat_rows_without_weekday_get_zero_and_timestamps_stay_aware() -> None:
    row = T.CALENDAR_STAT.convert({"series": "s", "period": "day", "start": "2024-01-01", "count": 2, "mean": 1.0,
                                   "std": 0.5, "min": 0.5, "max": 1.5, "tz": "UTC"})
    assert row[3] == 0
    out = T.OUTLIER.convert({"series": "s", "ts": "2024-01-01T09:00:00+09:00", "value": 1.0, "mean": 1.0,
                             "std": 0.0, "direction": "high", "k": 1.5, "window_days": 28})
    assert out[1] == dt.datetime(2024, 1, 1, 0, 0, tzinfo=dt.UTC)


def test_later_items_for_a_key_win_within_a_batch() -> None:
    b = batch_of(topics.PRICES.name, envelope(price(1, 10.0), price(2, 20.0)), envelope(price(1, 11.0)))
    rows, origins = b.tables["price"].upserts()
    assert sorted((r[2].day, r[7]) for r in rows) == [(1, 11.0), (2, 20.0)]
    assert (1, 0) in origins  # the revision came from the second message
    assert b.positions == {(topics.PRICES.name, 0): 1}


def test_a_tombstone_after_an_upsert_deletes_and_an_upsert_after_a_tombstone_restores() -> None:
    b = batch_of(topics.LEGS.name, envelope(leg(1), leg(2)), envelope(leg(1, deleted=True), leg(3, deleted=True)),
                 envelope(leg(3)))
    rows, _ = b.tables["rebound_leg"].upserts()
    keys, _ = b.tables["rebound_leg"].deletions()
    assert sorted(r[2].day for r in rows) == [2, 3]
    assert [k[2].day for k in keys] == [1]


def test_malformed_messages_and_items_are_rejected_not_dropped() -> None:
    b = batch_of(topics.PRICES.name, b"{not json", envelope(price(1), {"symbol": "A"}, 5), orjson.dumps({"v": 2}))
    reasons = sorted(r.reason for r in b.rejected)
    assert reasons == ["bad-version", "invalid", "invalid", "unparseable"]
    assert len(b) == 1
    item_reject = next(r for r in b.rejected if r.reason == "invalid" and b"symbol" in r.payload)
    assert orjson.loads(item_reject.payload) == {"symbol": "A"} and "item 1" in item_reject.detail


def test_dropping_revoked_partitions_keeps_the_others() -> None:
    b = Batch(T.BY_TOPIC)
    b.add(FakeMessage("p.t", envelope(price(1)), 5, 0), topics.PRICES.name)
    b.add(FakeMessage("p.t", envelope(price(2)), 9, 1), topics.PRICES.name)
    kept = b.drop_partitions({("p.t", 1)}, lambda _t: topics.PRICES.name)
    assert kept.positions == {("p.t", 0): 5}
    assert len(kept) == 1


@given(st.lists(st.booleans(), max_size=200))
def test_isolate_rejects_exactly_the_bad_rows(bad: list[bool]) -> None:
    written: list[int] = []

    def attempt(lo: int, hi: int) -> None:
        if any(bad[lo:hi]):
            raise RowRejected(sqlstate="23514", detail="check")
        written.extend(range(lo, hi))

    rejected = isolate(len(bad), attempt)
    assert [i for i, _ in rejected] == [i for i, b in enumerate(bad) if b]
    assert sorted(written) == [i for i, b in enumerate(bad) if not b]


def test_latest_daily_bars_keep_each_symbols_greatest_start_of_interval_day() -> None:
    def price(sym: str, interval: str, day: int, close: float) -> T.Row:
        d = dt.date(2024, 1, day)
        return (sym, interval, d, d, close, close + 1, close - 1, close, 10.0, 1)

    rows = [price("A", "day", 3, 3.0), price("A", "day", 5, 5.0), price("A", "week", 9, 9.0),
            price("A", "day", 4, 4.0), price("B", "month", 1, 1.0), price("C", "day", 2, 2.0)]
    latest = sorted(T.latest_daily_bars(rows))
    assert latest == [("A", dt.date(2024, 1, 5), 5.0, 6.0, 4.0, 5.0, 10.0), ("C", dt.date(2024, 1, 2), 2.0, 3.0, 1.0, 2.0, 10.0)]
    assert [c.name for c in T.LATEST_BAR.columns] == ["symbol", "start", "open", "high", "low", "close", "volume"]
    assert T.PRICE.derived[0][0] is T.LATEST_BAR


def test_an_item_that_is_no_object_is_rejected_with_its_message_and_the_next_bad_item_too() -> None:
    msg = FakeMessage("p.t", envelope(5, price(1), {"symbol": "A"}), 7)
    b = Batch(T.BY_TOPIC)
    b.add(msg, topics.PRICES.name)
    assert sorted(r.detail.split(":")[0] for r in b.rejected) == ["item 0", "item 2"]
    assert all(r.message is msg for r in b.rejected)  # the dead letter names the message's topic and offset
    assert len(b) == 1
