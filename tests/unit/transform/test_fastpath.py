"""The bar fast path accepts only what the `Bar` contract accepts, with the same values."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from turnpoint.core.contracts import Bar
from turnpoint.transform.fastpath import fast_columns, fast_rows

BAR = TypeAdapter(Bar)
prices = st.floats(min_value=0.01, max_value=1e6, allow_nan=False)
odd_values = st.sampled_from(["1.5", None, [], 0, -0.0, -1, 1e308, math.inf, -math.inf, math.nan, True, 3, 2**70])


@st.composite
def items(draw: st.DrawFn) -> dict[str, Any]:
    """A valid bar, then up to two mutations of the kinds a producer gets wrong."""
    lo, hi = sorted((draw(prices), draw(prices)))
    item: dict[str, Any] = {
        "symbol": draw(st.sampled_from(["AAPL", "005930", "BRK.B", "^KS11"])),
        "date": draw(st.one_of(st.dates(), st.sampled_from([dt.date(9999, 12, 31), dt.date(999, 12, 31),
                                                                    dt.date(1000, 1, 1), dt.date(2999, 12, 31),
                                                                    dt.date(3000, 1, 1)]))).isoformat(),
        "open": draw(st.floats(min_value=lo, max_value=hi)), "high": hi, "low": lo,
        "close": draw(st.floats(min_value=lo, max_value=hi)),
    }
    if draw(st.booleans()):
        item["volume"] = draw(st.one_of(st.integers(0, 10**9), st.floats(0, 1e12)))
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["value", "swap", "symbol", "date", "extra", "missing", "source"]))
        if kind == "value":
            item[draw(st.sampled_from(["open", "high", "low", "close", "volume"]))] = draw(odd_values)
        elif kind == "swap" and "high" in item and "low" in item:
            item["high"], item["low"] = item["low"], item["high"]
        elif kind == "symbol":
            item["symbol"] = draw(st.one_of(st.sampled_from(["", "a b", "x" * 33, 7]), st.text(max_size=4)))
        elif kind == "date":
            item["date"] = draw(st.sampled_from(["9999-12-31", "0999-12-31", "2024-02-30", "2024-1-2", "2024-01-02T00:00:00", "20240102", 20240102]))
        elif kind == "extra":
            item["extra"] = 1
        elif kind == "missing":
            item.pop(draw(st.sampled_from(["symbol", "date", "open", "high", "low", "close", "volume"])), None)
        else:
            item["source"] = draw(st.one_of(st.none(), st.text(max_size=3), st.integers(),
                                            st.sampled_from(["x" * 201, "a\x00b", "tab\t", "\x85"])))
    return item


def _contract(item: dict[str, Any]) -> tuple[Any, ...] | None:
    try:
        b = BAR.validate_python(item)
    except ValidationError:
        return None
    return (b.symbol, b.date, b.open, b.high, b.low, b.close, b.volume)


@settings(max_examples=400, deadline=None)
@given(st.lists(items(), min_size=1, max_size=4))
def test_fast_path_never_accepts_what_the_contract_refuses(batch: list[dict[str, Any]]) -> None:
    rows = fast_rows(batch, set())
    if rows is not None:
        assert rows == [_contract(item) for item in batch]


def test_fast_path_takes_ordinary_bars() -> None:
    batch = [{"symbol": "005930", "date": "2024-01-02", "open": 1, "high": 2.5, "low": 0.5, "close": 2, "volume": 10},
             {"symbol": "005930", "date": "2024-01-03", "open": 2.0, "high": 3.0, "low": 1.0, "close": 2.5}]
    assert fast_rows(batch, set()) == [_contract(b) for b in batch]


ODD = ["1.5", None, [], 0, -0.0, -1, 1e308, math.inf, -math.inf, math.nan, True, 3, 2**70, 0.001]


def test_every_odd_value_in_every_field_is_judged_like_the_contract() -> None:
    base = {"symbol": "AAPL", "date": "2024-01-02", "open": 2.0, "high": 3.0, "low": 1.0, "close": 2.0, "volume": 5}
    for field in ("open", "high", "low", "close", "volume"):
        for value in ODD:
            item = {**base, field: value}
            rows = fast_rows([item], set())
            assert rows is None or rows == [_contract(item)], (field, value)


@settings(max_examples=400, deadline=None)
@given(st.lists(items(), min_size=1, max_size=4), st.booleans())
def test_column_fast_path_never_accepts_what_the_contract_refuses(batch: list[dict[str, Any]], one: bool) -> None:
    if one:  # mostly a single symbol, as in real messages
        batch = [{**item, "symbol": batch[0].get("symbol")} for item in batch]
    symbols: set[str] = set()
    dates: dict[str, Any] = {}
    for _ in range(2):  # cold, then with the symbol and date caches filled
        cols = fast_columns(batch, symbols, dates)
        if cols is not None:
            rows = list(zip([cols.symbol] * len(cols.days), cols.days, cols.open, cols.high, cols.low, cols.close,
                            cols.volume, strict=True))
            assert rows == [_contract(item) for item in batch]
            assert cols.iso == [item["date"] for item in batch]
            assert all(type(x) is float for x in (*cols.open, *cols.high, *cols.low, *cols.close, *cols.volume))


def test_column_fast_path_takes_ordinary_messages_and_declines_the_rest() -> None:
    bars = [{"symbol": "005930", "date": "2024-01-02", "open": 1, "high": 2.5, "low": 0.5, "close": 2, "volume": 10},
            {"symbol": "005930", "date": "2024-01-03", "open": 2.0, "high": 3.0, "low": 1.0, "close": 2.5,
             "volume": 0.0}]
    cols = fast_columns(bars, set(), {})
    assert cols is not None and cols.symbol == "005930" and cols.open == [1.0, 2.0] and cols.volume == [10.0, 0.0]
    assert fast_columns([bars[0], {**bars[1], "symbol": "AAPL"}], set(), {}) is None  # two symbols
    assert fast_columns([bars[0], {**bars[1], "source": "x"}], set(), {}) is None  # an eighth field
    assert fast_columns([{k: v for k, v in bars[0].items() if k != "volume"}], set(), {}) is None
    assert fast_columns([bars[0], {**bars[1], "date": "2024-W01-2"}], set(), {}) is None
    assert fast_columns([], set(), {}) is None
