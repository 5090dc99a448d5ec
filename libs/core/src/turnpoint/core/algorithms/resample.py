"""Weekly (ISO week, Monday start) and monthly OHLCV aggregates of daily bars.

An aggregate is a list ``[start, end, open, high, low, close, volume, bars]`` (start/end as day
ordinals): first open, max high, min low, last close, summed volume, the date of the last bar and the
number of bars. Aggregates are recomputed from the daily bars of the period (plus the checkpointed
prefix of a period that began before the revision tail), so revisions and inserts are exact.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any

from turnpoint.core.algorithms.periods import month_bounds, week_start

Aggregate = list[Any]
"""``[start, end, open, high, low, close, volume, bars]``."""

WEEK = 0
MONTH = 1
INTERVALS = ("week", "month")


def period_of(kind: int, day: int) -> tuple[int, int]:
    """(start, last day) of the week or month holding ``day``."""
    if kind == WEEK:
        s = week_start(day)
        return s, s + 6
    return month_bounds(day)


def aggregate(
    prefix: Aggregate | None,
    kind: int,
    start: int,
    dates: Sequence[int],
    o: Sequence[float],
    h: Sequence[float],
    lo: Sequence[float],
    c: Sequence[float],
    v: Sequence[float],
) -> Aggregate | None:
    """The aggregate of period ``start`` from ``prefix`` (bars before the tail) and the sorted tail bars."""
    _, last = period_of(kind, start)
    a = bisect_left(dates, start)
    b = bisect_right(dates, last)
    if prefix is not None and prefix[0] == start:
        agg = list(prefix)
    elif a < b:
        agg = [start, dates[a], o[a], h[a], lo[a], c[a], v[a], 1]
        a += 1
    else:
        return None
    if a < b:
        # the same values as a bar-by-bar fold: the first maximum/minimum, volumes added in date order
        high, low = max(h[a:b]), min(lo[a:b])
        if high > agg[3]:
            agg[3] = high
        if low < agg[4]:
            agg[4] = low
        volume = agg[6]
        for x in v[a:b]:
            volume += x
        agg[1], agg[5], agg[6], agg[7] = dates[b - 1], c[b - 1], volume, agg[7] + b - a
    return agg
