"""Calendar arithmetic on proleptic Gregorian day ordinals (``date.toordinal()``).

Ordinal 1 (0001-01-01) is a Monday, so the ISO weekday of ordinal ``n`` is ``(n - 1) % 7 + 1``.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache


def iso_weekday(day: int) -> int:
    return (day - 1) % 7 + 1


def week_start(day: int) -> int:
    """Monday of the ISO week holding ``day``."""
    return day - (day - 1) % 7


@lru_cache(maxsize=8192)
def month_bounds(day: int) -> tuple[int, int]:
    """First and last day of the calendar month holding ``day``."""
    d = dt.date.fromordinal(day)
    first = d.replace(day=1)
    nxt = first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)
    return first.toordinal(), nxt.toordinal() - 1


@lru_cache(maxsize=1024)
def year_bounds(day: int) -> tuple[int, int]:
    """January 1 and December 31 of the year holding ``day``."""
    y = dt.date.fromordinal(day).year
    return dt.date(y, 1, 1).toordinal(), dt.date(y, 12, 31).toordinal()
