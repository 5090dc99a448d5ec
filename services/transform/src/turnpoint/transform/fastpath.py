"""A fast path for well-formed bars: plain checks instead of a pydantic model per bar.

`fast_rows` accepts only what `turnpoint.core.contracts.Bar` accepts, with the same values, and answers
None for anything unusual; the caller then validates item by item with the model, which also produces
the exact error messages for dead letters. tests/unit/transform/test_fastpath.py checks the equivalence
with hypothesis.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

Row = tuple[str, dt.date, float, float, float, float, float]
"""``(symbol, date, open, high, low, close, volume)``"""

_FIELDS = frozenset({"symbol", "date", "open", "high", "low", "close", "volume", "source"})
_SYMBOL = re.compile(r"^[A-Za-z0-9._^=\-]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = frozenset({int, float})  # exact types: bool, a subclass of int, is not a number here


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
            if type(symbol) is not str or not 1 <= len(symbol) <= 32 or not _SYMBOL.match(symbol):
                return None
            symbols.add(symbol)
        if type(date) is not str or len(date) != 10 or not _DATE.match(date):
            return None
        try:
            day = dt.date.fromisoformat(date)
        except ValueError:
            return None
        if type(o) not in num or type(h) not in num or type(lo) not in num or type(c) not in num or type(v) not in num:
            return None
        o, h, lo, c, v = float(o), float(h), float(lo), float(c), float(v)
        # NaN fails every comparison, so these also refuse NaN
        if not (0 < lo <= h < inf and 0 < o < inf and 0 < c < inf and 0 <= v < inf):
            return None
        source = it.get("source")
        if source is not None and type(source) is not str:
            return None
        append((symbol, day, o, h, lo, c, v))
    return rows
