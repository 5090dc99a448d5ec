"""A fast path for well-formed bars: plain checks instead of a pydantic model per bar.

`fast_columns` (a whole message at once, column by column) and `fast_rows` (item by item) accept only
what `turnpoint.core.contracts.Bar` accepts, with the same values, and answer None for anything unusual;
the caller then tries the next, and finally validates item by item with the model, which also produces
the exact error messages for dead letters. tests/unit/transform/test_fastpath.py checks the equivalence
with hypothesis.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter, le, lt
from typing import Any, cast

from turnpoint.core.contracts import LABEL_MAX, MAX_YEAR, MIN_YEAR
from turnpoint.core.rows import is_symbol

Row = tuple[str, dt.date, float, float, float, float, float]
"""``(symbol, date, open, high, low, close, volume)``"""

_FIELDS = frozenset({"symbol", "date", "open", "high", "low", "close", "volume", "source"})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = frozenset({int, float})  # exact types: bool, a subclass of int, is not a number here
_SEVEN = itemgetter("symbol", "date", "open", "high", "low", "close", "volume")
_MAX_DATES = 1 << 16


@dataclass(slots=True)
class Columns:
    """The bars of one message, column by column: one symbol, ISO date strings, their dates, floats."""

    symbol: str
    iso: list[str]
    days: list[dt.date]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float]


def fast_columns(items: list[Any], symbols: set[str], dates: dict[str, dt.date]) -> Columns | None:
    """Columns of a message whose items are plain bars of one symbol (all seven fields, nothing else).

    None when anything is unusual (an item is not such a dict, several symbols, a value the checks
    refuse): the caller then goes item by item. `symbols` caches the symbol names and `dates` the
    date strings already checked against the contract; values are checked a column at a time.
    """
    if not items:
        return None
    try:
        rows = list(map(_SEVEN, items))  # KeyError: a field is missing; TypeError: an item is no dict
        if max(map(len, items)) != len(rows[0]):  # a field beyond the seven (source, or unknown)
            return None
        names, iso, *values = zip(*rows, strict=True)  # values: open, high, low, close, volume
        distinct = set(names)  # TypeError: an unhashable value
        days = list(map(dates.get, iso))
    except (KeyError, TypeError):
        return None
    if len(distinct) != 1:
        return None
    symbol = distinct.pop()
    if symbol not in symbols:
        if not is_symbol(symbol):
            return None
        symbols.add(symbol)
    if None in days:
        if len(dates) >= _MAX_DATES:
            dates.clear()
        for date in set(iso):
            if date in dates:
                continue
            if type(date) is not str or len(date) != 10 or not _DATE.match(date):
                return None
            try:
                day = dt.date.fromisoformat(date)
            except ValueError:
                return None
            if not MIN_YEAR <= day.year <= MAX_YEAR:
                return None
            dates[date] = day
        days = list(map(dates.__getitem__, iso))
    kinds = set(map(type, chain(*values)))
    if not kinds <= _NUMBER:
        return None
    columns: list[list[float]] = [list(x) for x in values]
    if int in kinds:
        columns = [list(map(float, x)) for x in columns]
    o, h, lo, c, v = columns
    # as fast_rows: 0 < low <= high < inf, 0 < open, close < inf, 0 <= volume < inf (NaN fails them all)
    zero, inf = repeat(0.0), repeat(math.inf)
    if not (all(map(lt, zero, lo)) and all(map(le, lo, h)) and all(map(lt, h, inf))
            and all(map(lt, zero, o)) and all(map(lt, o, inf)) and all(map(lt, zero, c))
            and all(map(lt, c, inf)) and all(map(le, zero, v)) and all(map(lt, v, inf))):
        return None
    # every day is known here (looked up again above when one was missing)
    return Columns(symbol, list(iso), cast("list[dt.date]", days), o, h, lo, c, v)


def fast_rows(items: list[Any], symbols: set[str]) -> list[Row] | None:
    """Rows of every item, or None as soon as one item needs the full validator.

    `symbols` caches the symbol names already checked against the contract's pattern. The checks are
    inlined on purpose: this loop runs once per bar on the transform's hot path.
    """
    rows: list[Row] = []
    append = rows.append
    num = _NUMBER
    inf = math.inf
    for it in items:
        if type(it) is not dict:
            return None
        try:
            symbol, date = it["symbol"], it["date"]
            o, h, lo, c = it["open"], it["high"], it["low"], it["close"]
        except KeyError:
            return None
        v = it.get("volume", 0.0)
        if len(it) > 6 and not it.keys() <= _FIELDS:
            return None
        if symbol not in symbols:
            if not is_symbol(symbol):
                return None
            symbols.add(symbol)
        if type(date) is not str or len(date) != 10 or not _DATE.match(date):
            return None
        try:
            day = dt.date.fromisoformat(date)
        except ValueError:
            return None
        if not MIN_YEAR <= day.year <= MAX_YEAR:
            return None
        if type(o) not in num or type(h) not in num or type(lo) not in num or type(c) not in num or type(v) not in num:
            return None
        o, h, lo, c, v = float(o), float(h), float(lo), float(c), float(v)
        # NaN fails every comparison, so these also refuse NaN
        if not (0 < lo <= h < inf and 0 < o < inf and 0 < c < inf and 0 <= v < inf):
            return None
        source = it.get("source")
        if source is not None and (type(source) is not str or len(source) > LABEL_MAX or not source.isprintable()):
            return None
        append((symbol, day, o, h, lo, c, v))
    return rows
