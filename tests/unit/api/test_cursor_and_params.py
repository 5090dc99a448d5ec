"""Cursors, instant bounds and the symbols-list SQL builder, without a database."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from turnpoint.api import cursor, symbol_list
from turnpoint.api.errors import InvalidParameter
from turnpoint.api.params import instant_bound


def test_cursor_round_trip_and_kind_check() -> None:
    token = cursor.encode("stats:day", [dt.date(2024, 1, 2), 3])
    assert cursor.decode(token, "stats:day", [cursor.as_date, cursor.as_int]) == [dt.date(2024, 1, 2), 3]
    with pytest.raises(InvalidParameter) as err:
        cursor.decode(token, "stats:week", [cursor.as_date, cursor.as_int])
    assert err.value.field == "cursor"
    with pytest.raises(InvalidParameter):
        cursor.decode(token, "stats:day", [cursor.as_date, cursor.as_str])


def test_instant_bound_dates_are_local_days() -> None:
    seoul = ZoneInfo("Asia/Seoul")
    assert instant_bound("from", "2024-03-01", seoul, upper=False) == dt.datetime(2024, 2, 29, 15, tzinfo=dt.UTC)
    assert instant_bound("to", "2024-03-01", seoul, upper=True) == dt.datetime(2024, 3, 1, 15, tzinfo=dt.UTC)
    assert instant_bound("to", "2024-03-01T00:00:00Z", seoul, upper=True) == dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    with pytest.raises(InvalidParameter):
        instant_bound("from", "2024-03-01T00:00:00", seoul, upper=False)


def test_symbol_list_values_are_parameters_never_sql() -> None:
    hostile = "x'; DROP TABLE symbol; --"
    sql, args = symbol_list.build(symbol_list.SymbolFilter(market=hostile, q=hostile, sort="volume"), 10, [1.5, "AAA"])
    assert hostile not in sql and "DROP" not in sql
    assert hostile in args and "%x'; DROP TABLE symbol; --%" in args
    assert args[-1] == 11  # limit + 1: one more row tells whether a next page exists
