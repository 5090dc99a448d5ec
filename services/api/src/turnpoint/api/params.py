"""Query parameters shared by several routes, with the bounds that keep oversized input out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import Path, Query

from turnpoint.api.cursor import MAX_CURSOR_LENGTH
from turnpoint.api.errors import InvalidParameter
from turnpoint.api.pages import DEFAULT_LIMIT, MAX_LIMIT

GTypeParam = Literal["open", "high", "low", "close"]
IntervalParam = Literal["day", "week", "month"]
PeriodParam = Literal["day", "week", "month", "year", "month-weekday", "year-weekday"]

Symbol = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._^=\-]+$",
                               description="ticker symbol")]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL; refuse it as a parameter error, not a server error
Series = Annotated[str, Query(min_length=1, max_length=200, pattern=NO_NUL, description="series name (may contain `/`)")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH, description="next_cursor of the previous page")]
FromDate = Annotated[dt.date | None, Query(alias="from", description="first date, inclusive (ISO-8601)")]
ToDate = Annotated[dt.date | None, Query(alias="to", description="last date, inclusive (ISO-8601)")]
_INSTANT_HELP = "ISO-8601 instant with offset or Z, or a date (local midnight in the configured time zone)"
FromInstant = Annotated[str | None, Query(alias="from", max_length=40, description=f"from, inclusive: {_INSTANT_HELP}")]
ToInstant = Annotated[str | None, Query(alias="to", max_length=40,
                                        description=f"to, exclusive for instants, inclusive for dates: {_INSTANT_HELP}")]

__all__ = ["DEFAULT_LIMIT", "NO_NUL", "Cursor", "FromDate", "FromInstant", "GTypeParam", "IntervalParam", "Limit",
           "PeriodParam", "Series", "Symbol", "ToDate", "ToInstant", "instant_bound"]


def instant_bound(field: str, value: str | None, zone: ZoneInfo, *, upper: bool) -> dt.datetime | None:
    """Parse `from`/`to`: an instant with offset, or a local date (the whole day when it is an upper bound)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            if upper:
                day += dt.timedelta(days=1)
            return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)
        ts = dt.datetime.fromisoformat(value.replace("z", "Z"))
    except (ValueError, OverflowError):
        msg = f"{value!r} is neither an ISO-8601 instant with offset nor a date (YYYY-MM-DD)"
        raise InvalidParameter(field, msg) from None
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise InvalidParameter(field, "the instant has no UTC offset; add Z or +HH:MM")
    return ts.astimezone(dt.UTC)
