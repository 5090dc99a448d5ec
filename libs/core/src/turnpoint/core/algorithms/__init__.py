"""Pure, incremental algorithms shared by the stream workers and the batch commands.

- :class:`SymbolRebounds`: zigzag legs and states of one symbol (4 gtypes) + weekly/monthly bars (SPEC 1).
- :func:`window_summary`: up/down legs that ended in the last N trading days (SPEC 1).
- :class:`SeriesCalendar`: calendar statistics and outliers of one series (SPEC 2, 3).

Every state object has ``apply(batch) -> update`` and ``to_bytes()`` / ``from_bytes()``.
"""

from turnpoint.core.algorithms.calendar import CalendarUpdate, SeriesCalendar
from turnpoint.core.algorithms.rebounds import BarTuple, ReboundUpdate, SymbolRebounds
from turnpoint.core.algorithms.records import (
    LegRecord,
    OutlierRecord,
    PriceBarRecord,
    RejectedBar,
    RejectedReading,
    StateRecord,
    StatRecord,
)
from turnpoint.core.algorithms.zigzag import WindowSummary, window_summary

__all__ = [
    "BarTuple",
    "CalendarUpdate",
    "LegRecord",
    "OutlierRecord",
    "PriceBarRecord",
    "ReboundUpdate",
    "RejectedBar",
    "RejectedReading",
    "SeriesCalendar",
    "StatRecord",
    "StateRecord",
    "SymbolRebounds",
    "WindowSummary",
    "window_summary",
]
