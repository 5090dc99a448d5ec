"""The zigzag (turning point) machine of SPEC section 1, over plain lists.

The state of one series is a 7-element list ``[d, p_i, p_d, p_y, e_i, e_d, e_y]``:
direction ``d`` (``NONE``/``UP``/``DOWN``), the pivot ``p`` and the running extreme ``e``, each as
(bar index, date ordinal, value). An empty state (no bar yet) has ``p_i == -1``.
Bar indices count trading days from the first bar of the symbol, so ``bars`` of a leg is ``e_i - p_i``.

:func:`advance` is the only place the rule is written; the rebound state (stream) and the batch command
both feed it. It mutates the state in place and appends confirmed legs as tuples
``(p_i, p_d, p_y, e_i, e_d, e_y, direction)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NONE = 0
UP = 1
DOWN = -1

ZigzagState = list[Any]
"""``[d, p_i, p_d, p_y, e_i, e_d, e_y]`` (ints and floats); see the module docstring."""

LegTuple = tuple[int, int, float, int, int, float, int]
"""``(start_index, start_ordinal, start_value, end_index, end_ordinal, end_value, direction)``."""


def empty_state() -> ZigzagState:
    return [NONE, -1, 0, 0.0, -1, 0, 0.0]


def advance(
    state: ZigzagState,
    first_index: int,
    dates: Sequence[int],
    values: Sequence[float],
    threshold: float,
    legs: list[LegTuple],
) -> None:
    """Feed ``values[k]`` (bar index ``first_index + k``, date ordinal ``dates[k]``) to ``state``.

    Confirmed legs are appended to ``legs`` in order. Values must be > 0 (checked by the callers).
    """
    d, pi, pd, py, ei, ed, ey = state
    up = 1.0 + threshold
    down = 1.0 - threshold
    i = first_index
    for k, y in enumerate(values):
        if d == UP:
            if y > ey:
                ei, ed, ey = i, dates[k], y
            elif y < ey and y <= ey * down:
                legs.append((pi, pd, py, ei, ed, ey, UP))
                pi, pd, py = ei, ed, ey
                d = DOWN
                ei, ed, ey = i, dates[k], y
        elif d == DOWN:
            if y < ey:
                ei, ed, ey = i, dates[k], y
            elif y > ey and y >= ey * up:
                legs.append((pi, pd, py, ei, ed, ey, DOWN))
                pi, pd, py = ei, ed, ey
                d = UP
                ei, ed, ey = i, dates[k], y
        elif pi < 0:
            pi = ei = i
            pd = ed = dates[k]
            py = ey = y
        elif y > py and y >= py * up:
            d = UP
            ei, ed, ey = i, dates[k], y
        elif y < py and y <= py * down:
            d = DOWN
            ei, ed, ey = i, dates[k], y
        i += 1
    state[:] = (d, pi, pd, py, ei, ed, ey)


def direction_name(d: int) -> str:
    return "up" if d == UP else "down" if d == DOWN else "none"


def pct(start: float, end: float) -> float:
    """Percent change as SPEC section 1 writes it: ``(end / start - 1) * 100``."""
    return (end / start - 1.0) * 100.0


@dataclass(frozen=True, slots=True)
class WindowSummary:
    """Legs that ended in the window: counts and mean ``pct`` (``None`` when there is no such leg)."""

    up_count: int
    up_mean_pct: float | None
    down_count: int
    down_mean_pct: float | None


def window_summary(
    legs: Iterable[Mapping[str, Any]], trading_dates: Sequence[dt.date], days: int = 7
) -> WindowSummary:
    """Summarise the legs that ended within the last ``days`` trading days.

    ``trading_dates`` are the symbol's bar dates in ascending order (at least the last ``days``);
    the window is ``trading_dates[-days:]``, so it is counted in trading days, not calendar days.
    ``legs`` are mappings with ``end_date``, ``pct`` and ``direction`` (a :class:`LegRecord`, or
    ``Leg.model_dump()``); withdrawn legs (``deleted`` true) are ignored.
    """
    if days <= 0 or not trading_dates:
        return WindowSummary(0, None, 0, None)
    since = trading_dates[-days] if days <= len(trading_dates) else trading_dates[0]
    ups: list[float] = []
    downs: list[float] = []
    for leg in legs:
        if leg.get("deleted") or leg["end_date"] < since:
            continue
        (ups if leg["direction"] == "up" else downs).append(float(leg["pct"]))
    return WindowSummary(
        len(ups),
        sum(ups) / len(ups) if ups else None,
        len(downs),
        sum(downs) / len(downs) if downs else None,
    )
