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


def test_state_sort_reads_the_index_in_key_order_from_the_cursor() -> None:
    f = symbol_list.SymbolFilter(sort="pct_from_pivot", order="desc")
    sql, args = symbol_list.build(f, 50, [2.5, "BBB"])
    assert "FROM rebound_state st JOIN symbol s" in sql
    assert "(st.pct_from_pivot, st.symbol) < ($2::float8, $3)" in sql
    assert "ORDER BY st.pct_from_pivot DESC, st.symbol DESC" in sql
    assert args == ["close", 2.5, "BBB", 51]
    ints = symbol_list.build(symbol_list.SymbolFilter(sort="bars_since_pivot"), 10, [3.0, "AAA"])[1]
    assert ints[1] == 3 and isinstance(ints[1], int)


def test_rows_without_state_are_read_only_when_no_state_filter_applies() -> None:
    tail = symbol_list.build_tail(symbol_list.SymbolFilter(sort="last_value", market="KOSPI"), 5, "AAA")
    assert tail is not None
    sql, args = tail
    assert "NOT EXISTS" in sql and args == ["close", "KOSPI", "AAA", 6]
    assert symbol_list.build_tail(symbol_list.SymbolFilter(sort="last_value", direction="up"), 5, None) is None
    assert symbol_list.build_tail(symbol_list.SymbolFilter(), 5, None) is None


def test_rows_without_a_latest_bar_keep_the_state_filters() -> None:
    # a bar sort's tail: symbols without a latest bar can still match a state filter
    tail = symbol_list.build_tail(symbol_list.SymbolFilter(sort="volume", direction="up"), 5, "AAA")
    assert tail is not None
    sql, args = tail
    assert "NOT EXISTS (SELECT 1 FROM latest_bar" in sql and "st.direction = $2" in sql
    assert args == ["close", "up", "AAA", 6]


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0999-12-31T00:00:00Z",
                                   "3000-01-01T00:00:00Z", "9999-12-31", "0001-01-01", "0999-12-31"])
@pytest.mark.parametrize("upper", [False, True])
def test_instant_bounds_near_the_calendar_ends_are_parameter_errors(value: str, upper: bool) -> None:
    for zone in (ZoneInfo("UTC"), ZoneInfo("Asia/Seoul"), ZoneInfo("America/Los_Angeles")):
        with pytest.raises(InvalidParameter, match="outside the years 1000-2999") as err:
            instant_bound("from", value, zone, upper=upper)
        assert err.value.field == "from"


def test_instant_bounds_at_the_ends_of_the_years_are_accepted() -> None:
    seoul = ZoneInfo("Asia/Seoul")
    assert instant_bound("to", "2999-12-31", seoul, upper=True) == dt.datetime(2999, 12, 31, 15, tzinfo=dt.UTC)
    assert instant_bound("from", "1000-01-01T00:00:00Z", seoul, upper=False) == dt.datetime(1000, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("kind", ["bars:day", "legs:close"])
@pytest.mark.parametrize("last", ["9999-12-31", "0001-01-01", "3000-01-01"])
def test_forged_date_cursors_at_the_calendar_ends_are_refused(kind: str, last: str) -> None:
    token = cursor.encode(kind, [last])
    with pytest.raises(InvalidParameter) as err:
        cursor.decode(token, kind, [cursor.as_date])
    assert err.value.field == "cursor"


@pytest.mark.parametrize("last", ["9999-12-31T23:59:59.999999+00:00", "0001-01-01T00:00:00+01:00",
                                  "2024-01-01T00:00:00"])
def test_forged_instant_cursors_are_refused(last: str) -> None:
    token = cursor.encode("readings", [last])
    with pytest.raises(InvalidParameter) as err:
        cursor.decode(token, "readings", [cursor.as_instant])
    assert err.value.field == "cursor"
