"""Zigzag legs of whole files at once (`turnpoint batch rebounds`), as CSV lines.

The last row for a (symbol, date) wins; each symbol's final bars are fed in date order to
:func:`turnpoint.core.algorithms.zigzag.advance`, the one place the rule is written, only for the gtypes
asked for. De-duplication and sorting are done with numpy over the whole file, and the legs are written
straight from advance's tuples (``pct`` with the formula of :func:`zigzag.pct`), without the per-bar
work the stream needs (aggregates, states, revisions). `tests/unit/algorithms/test_bulk.py` checks the
lines equal what :class:`SymbolRebounds` emits for the same bars.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from turnpoint.core.algorithms.zigzag import UP, LegTuple, advance, empty_state

if TYPE_CHECKING:
    from turnpoint.core.tables import BarTable

_DAY_BITS = 22  # date ordinals of the years 1-9999 are below 2**22
_COLUMN = {"open": 0, "high": 1, "low": 2, "close": 3}


def leg_lines(table: BarTable, gtypes: Sequence[str], threshold: float) -> tuple[list[str], int, int]:
    """CSV lines ``symbol,gtype,start_date,start_value,end_date,end_value,bars,change,pct,direction``
    sorted by (symbol, gtype, start_date), for ``gtypes`` in the order given; plus the number of
    revisions (rows that replaced an earlier row of the same symbol and date) and of symbols."""
    n = len(table.day)
    if n == 0:
        return [], 0, 0
    names = sorted(set(table.symbol))
    index = {s: i for i, s in enumerate(names)}
    code = np.fromiter(map(index.__getitem__, table.symbol), dtype=np.int64, count=n)
    key = (code << _DAY_BITS) | np.array(table.day, dtype=np.int64)
    order = np.argsort(key, kind="stable")
    ks = key[order]
    last = np.ones(n, dtype=bool)
    last[:-1] = ks[:-1] != ks[1:]  # keep the last row of each (symbol, date): the latest revision
    keep = order[last]
    cut = (np.flatnonzero(np.diff(code[keep])) + 1).tolist()
    days_all = np.array(table.day, dtype=np.int64)[keep].tolist()
    columns = [np.array(c, dtype=np.float64)[keep].tolist()
               for c in (table.open, table.high, table.low, table.close)]
    iso: dict[int, str] = {}
    lines: list[str] = []
    add = lines.append
    for a, b in zip([0, *cut], [*cut, len(keep)], strict=True):
        days = days_all[a:b]
        symbol = names[int(code[keep[a]])]
        for gtype in gtypes:
            legs: list[LegTuple] = []
            advance(empty_state(), 0, days, columns[_COLUMN[gtype]][a:b], threshold, legs)
            for pi, pd, py, ei, ed, ey, d in legs:
                sd = iso.get(pd) or iso.setdefault(pd, dt.date.fromordinal(pd).isoformat())
                en = iso.get(ed) or iso.setdefault(ed, dt.date.fromordinal(ed).isoformat())
                add(f"{symbol},{gtype},{sd},{py!r},{en},{ey!r},{ei - pi},{ey - py!r},{(ey / py - 1.0) * 100.0!r},"
                    f"{'up' if d == UP else 'down'}\n")
    return lines, n - len(keep), len(names)
