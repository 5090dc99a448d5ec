"""Plain records the algorithms emit.

They are TypedDicts whose keys match the pydantic contracts in :mod:`turnpoint.core.contracts`
(``Leg``, ``ReboundState``, ``PriceBar``, ``StatRow``, ``Outlier``), so a stream worker can hand them to
``serde.encode_items`` as they are (orjson writes ``date``/``datetime`` values natively) and a batch
command can write them to CSV without building a pydantic object per record on the hot path.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, TypedDict

from turnpoint.core.limits import Direction, GType, Interval, Period


class LegRecord(TypedDict):
    """A confirmed leg (``deleted=False``) or a withdrawn one (``deleted=True``, old values)."""

    symbol: str
    gtype: GType
    start_date: dt.date
    start_value: float
    end_date: dt.date
    end_value: float
    bars: int
    change: float
    pct: float
    direction: Direction
    deleted: bool


class StateRecord(TypedDict):
    """The current zigzag state of one (symbol, gtype), SPEC section 1."""

    symbol: str
    gtype: GType
    threshold: float
    direction: Literal["none", "up", "down"]
    pivot_date: dt.date
    pivot_value: float
    extreme_date: dt.date
    extreme_value: float
    last_date: dt.date
    last_value: float
    bars_since_pivot: int
    pct_from_pivot: float
    pct_from_extreme: float


class PriceBarRecord(TypedDict):
    """A weekly or monthly OHLCV aggregate keyed by its period start (``interval``, ``start``)."""

    symbol: str
    interval: Interval
    start: dt.date
    end: dt.date
    open: float
    high: float
    low: float
    close: float
    volume: float
    bars: int


class StatRecord(TypedDict):
    """Absolute statistics of one (series, period, start, weekday): upsert, never add."""

    series: str
    period: Period
    start: dt.date
    weekday: int | None
    count: int
    mean: float
    std: float
    min: float
    max: float
    tz: str


class OutlierRecord(TypedDict):
    series: str
    ts: dt.datetime
    value: float
    mean: float
    std: float
    direction: Literal["high", "low"]
    k: float
    window_days: int


class RejectedBar(TypedDict):
    """A bar the rebound state refused; ``reason`` is a dead-letter code."""

    date: dt.date
    reason: str
    detail: str


class RejectedReading(TypedDict):
    """A reading the calendar state refused; ``reason`` is a dead-letter code (e.g. ``late``)."""

    ts: dt.datetime
    value: float
    reason: str
    detail: str
