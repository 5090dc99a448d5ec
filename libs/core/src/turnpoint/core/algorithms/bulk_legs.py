"""Zigzag legs of whole files at once (`turnpoint batch rebounds`), as CSV lines.

The last row for a (symbol, date) wins; each symbol's final bars go, in date order, through the rule of
:func:`turnpoint.core.algorithms.zigzag.advance`, the one place it is written, only for the gtypes asked
for. Three things make this fast without a second copy of the rule:

- **Only the turning bars matter.** Between two turning bars (a bar whose next different value moves the
  other way; the first bar of a plateau) the values move one way, and feeding a monotone run to
  ``advance`` leaves the same state and legs as feeding only its last bar: every extension, reversal and
  threshold test the run could make, its last bar makes too. So each symbol's turning bars, plus its first
  and last bar, are found with numpy, and ``advance`` runs over those alone (about half the bars of a
  random walk), given their bar numbers as "dates" so the legs keep their true bar counts.
- **theta = 0** (the default) needs no loop at all: the legs are then exactly the pairs of consecutive
  pivots (the first bar and every turning bar), which numpy lists directly.
  `tests/unit/algorithms/test_bulk.py` checks both paths against ``advance`` and :class:`SymbolRebounds`.
- **Formatting** is per column: ``change`` and ``pct`` are computed with numpy (the same IEEE operations as
  :func:`zigzag.pct`), every float column is printed at once (:func:`float_column`, ``repr``'s digits) and
  the rows are put together by :func:`csv_rows` without a Python string per field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from turnpoint.core.algorithms.texts import csv_rows, float_column, int_column, text_column
from turnpoint.core.algorithms.zigzag import LegTuple, advance, empty_state

if TYPE_CHECKING:
    from turnpoint.core.tables import BarTable

_DAY_BITS = 22  # date ordinals of the years 1-9999 are below 2**22
_COLUMN = {"open": 0, "high": 1, "low": 2, "close": 3}


def turning_bars(y: Any, first: Any) -> Any:
    """Indices of the bars of ``y`` that a zigzag with theta = 0 makes pivots (the first bar of each
    symbol is not included): bars whose value the next different value of the same symbol moves away
    from, the first bar of a plateau. ``first`` marks each symbol's first bar."""
    n = len(y)
    step = np.zeros(n, dtype=np.int8)  # step[k]: direction from bar k-1 to bar k, 0 when equal or a new symbol
    step[1:] = (y[1:] > y[:-1]).astype(np.int8) - (y[1:] < y[:-1]).astype(np.int8)
    step[first] = 0
    moved = np.flatnonzero(step)
    direction = step[moved]
    symbol = np.cumsum(first)
    turn = (direction[1:] != direction[:-1]) & (symbol[moved[1:]] == symbol[moved[:-1]])
    return moved[:-1][turn]


def leg_lines(table: BarTable, gtypes: Sequence[str], threshold: float) -> tuple[Iterator[bytes], int, int, int]:
    """CSV lines ``symbol,gtype,start_date,start_value,end_date,end_value,bars,change,pct,direction``
    sorted by (symbol, gtype, start_date), for ``gtypes`` in the order given, as UTF-8 blocks of lines
    made as they are taken; plus the number of legs, of revisions (rows that replaced an earlier row of
    the same symbol and date) and of symbols."""
    n = len(table.day)
    if n == 0:
        return iter(()), 0, 0, 0
    names = sorted(set(table.symbol))
    index = {s: i for i, s in enumerate(names)}
    code = np.fromiter(map(index.__getitem__, table.symbol), dtype=np.int64, count=n)
    key = (code << _DAY_BITS) | np.array(table.day, dtype=np.int64)
    order = np.argsort(key, kind="stable")
    ks = key[order]
    last = np.ones(n, dtype=bool)
    last[:-1] = ks[:-1] != ks[1:]  # keep the last row of each (symbol, date): the latest revision
    keep = order[last]
    code = code[keep]
    day = np.array(table.day, dtype=np.int64)[keep]
    first = np.ones(len(keep), dtype=bool)
    first[1:] = code[1:] != code[:-1]
    columns = (table.open, table.high, table.low, table.close)
    parts = []
    for rank, gtype in enumerate(gtypes):
        y = np.array(columns[_COLUMN[gtype]], dtype=np.float64)[keep]
        start, end = _legs(y, first, threshold)
        parts.append((np.full(len(start), rank, dtype=np.int64), start, end, y))
    blocks, legs = _format(parts, gtypes, code, day, names)
    return blocks, legs, n - len(keep), len(names)


def _legs(y: Any, first: Any, threshold: float) -> tuple[Any, Any]:
    """Start and end bar (indices into ``y``) of every confirmed leg, in bar order."""
    turns = turning_bars(y, first)
    if threshold == 0.0:  # the legs join consecutive pivots: each symbol's first bar, then its turning bars
        pivots = np.sort(np.concatenate([np.flatnonzero(first), turns]))
        same = ~first[pivots[1:]]  # the next pivot is not the first bar of another symbol
        return pivots[:-1][same], pivots[1:][same]
    wanted = first.copy()  # each symbol's first, turning and last bars
    wanted[turns] = True
    wanted[:-1] |= first[1:]
    wanted[-1] = True
    bars = np.flatnonzero(wanted)
    cuts = np.flatnonzero(first[bars]).tolist()
    at = bars.tolist()
    values = y[bars].tolist()
    found: list[LegTuple] = []
    for a, b in zip(cuts, [*cuts[1:], len(at)], strict=True):
        advance(empty_state(), 0, at[a:b], values[a:b], threshold, found)
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    legs = np.array([(leg[1], leg[4]) for leg in found], dtype=np.int64)
    return legs[:, 0], legs[:, 1]


def _format(parts: list[tuple[Any, Any, Any, Any]], gtypes: Sequence[str], code: Any, day: Any,
            names: list[str]) -> tuple[Iterator[bytes], int]:
    rank = np.concatenate([p[0] for p in parts])
    start = np.concatenate([p[1] for p in parts])
    end = np.concatenate([p[2] for p in parts])
    if len(start) == 0:
        return iter(()), 0
    sv = np.concatenate([p[3][p[1]] for p in parts])
    ev = np.concatenate([p[3][p[2]] for p in parts])
    order = np.lexsort((start, rank, code[start]))  # (symbol, gtype, start_date): bars are in date order
    rank, start, end, sv, ev = rank[order], start[order], end[order], sv[order], ev[order]
    change = ev - sv
    pct = (ev / sv - 1.0) * 100.0  # zigzag.pct, elementwise: the same IEEE operations in the same order
    columns = [text_column(names, code[start]), text_column(list(gtypes), rank), _iso_dates(day[start]),
               float_column(sv), _iso_dates(day[end]), float_column(ev), int_column(end - start),
               float_column(change), float_column(pct), text_column(["down", "up"], (ev > sv).astype(np.int64))]
    return csv_rows(columns), len(start)


def _iso_dates(ordinals: Any) -> Any:
    """``date.isoformat()`` of each date ordinal, each distinct date formatted once."""
    lo, hi = int(ordinals.min()), int(ordinals.max())
    if hi - lo <= 2 * len(ordinals) + 4000:  # a calendar of the span, indexed
        return text_column([dt.date.fromordinal(d).isoformat() for d in range(lo, hi + 1)], ordinals - lo)
    days, where = np.unique(ordinals, return_inverse=True)
    return text_column([dt.date.fromordinal(d).isoformat() for d in days.tolist()], where)
