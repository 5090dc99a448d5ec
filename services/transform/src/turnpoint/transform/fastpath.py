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
_REQUIRED = frozenset({"symbol", "date", "open", "high", "low", "close"})
_SYMBOL = re.compile(r"^[A-Za-z0-9._^=\-]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_isfinite = math.isfinite


def _price(x: Any) -> float | None:
    t = type(x)
    if t is not float and t is not int:
        return None
    x = float(x)
    return x if x > 0 and _isfinite(x) else None


def fast_rows(items: list[Any], symbols: set[str]) -> list[Row] | None:
    """Rows of every item, or None as soon as one item needs the full validator.

    `symbols` caches the symbol names already checked against the contract's pattern.
    """
    rows: list[Row] = []
    append = rows.append
    for it in items:
        if type(it) is not dict:
            return None
        keys = it.keys()
        if not (_REQUIRED <= keys and keys <= _FIELDS):
            return None
        symbol = it["symbol"]
        if symbol not in symbols:
            if type(symbol) is not str or not 1 <= len(symbol) <= 32 or not _SYMBOL.match(symbol):
                return None
            symbols.add(symbol)
        date = it["date"]
        if type(date) is not str or not _DATE.match(date):
            return None
        try:
            day = dt.date.fromisoformat(date)
        except ValueError:
            return None
        o, h, lo, c = _price(it["open"]), _price(it["high"]), _price(it["low"]), _price(it["close"])
        if o is None or h is None or lo is None or c is None or h < lo:
            return None
        v = it.get("volume", 0.0)
        tv = type(v)
        if tv is not float and tv is not int:
            return None
        v = float(v)
        if not (v >= 0 and _isfinite(v)):
            return None
        source = it.get("source")
        if source is not None and type(source) is not str:
            return None
        append((symbol, day, o, h, lo, c, v))
    return rows
