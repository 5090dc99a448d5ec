"""Query parameters shared by several routes, with the bounds that keep oversized input out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import Path, Query

from turnpoint.api.cursor import MAX_CURSOR_LENGTH
from turnpoint.api.errors import InvalidParameter
from turnpoint.api.pages import DEFAULT_LIMIT, MAX_LIMIT
from turnpoint.core.contracts import SYMBOL_MAX, SYMBOL_PATTERN, Date, check_date, check_instant

GTypeParam = Literal["open", "high", "low", "close"]
IntervalParam = Literal["day", "week", "month"]
PeriodParam = Literal["day", "week", "month", "year", "month-weekday", "year-weekday"]

Symbol = Annotated[str, Path(min_length=1, max_length=SYMBOL_MAX, pattern=SYMBOL_PATTERN,
                               description="ticker symbol")]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL; refuse it as a parameter error, not a server error
Series = Annotated[str, Query(min_length=1, max_length=200, pattern=NO_NUL, description="series name (may contain `/`)")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH, description="next_cursor of the previous page")]
FromDate = Annotated[Date | None, Query(alias="from", description="first date, inclusive (ISO-8601)")]
ToDate = Annotated[Date | None, Query(alias="to", description="last date, inclusive (ISO-8601)")]
_INSTANT_HELP = "ISO-8601 instant with offset or Z, or a date (local midnight in the configured time zone)"
FromInstant = Annotated[str | None, Query(alias="from", max_length=40, description=f"from, inclusive: {_INSTANT_HELP}")]
ToInstant = Annotated[str | None, Query(alias="to", max_length=40,
                                        description=f"to, exclusive for instants, inclusive for dates: {_INSTANT_HELP}")]

__all__ = ["DEFAULT_LIMIT", "NO_NUL", "Cursor", "FromDate", "FromInstant", "GTypeParam", "IntervalParam", "Limit",
           "PeriodParam", "Series", "Symbol", "ToDate", "ToInstant", "instant_bound"]


def instant_bound(field: str, value: str | None, zone: ZoneInfo, *, upper: bool) -> dt.datetime | None:
    """Parse `from`/`to`: an instant with offset, or a local date (the whole day when it is an upper bound).

    Both lie in the years 1000-2999 (SPEC section 2); anything else, or an instant that has no UTC
    equivalent (0001-01-01T00:00:00+01:00), is an InvalidParameter (422), never an OverflowError.
    """
    if value is None:
        return None
    try:
        if len(value) == 10:
            day: dt.date | None = dt.date.fromisoformat(value)
            ts = None
        else:
            day, ts = None, dt.datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        msg = f"{value!r} is neither an ISO-8601 instant with offset nor a date (YYYY-MM-DD)"
        raise InvalidParameter(field, msg) from None
    try:
        if day is not None:
            day = check_date(day) + dt.timedelta(days=1 if upper else 0)
            return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)
        assert ts is not None
        return check_instant(ts)
    except ValueError as exc:  # no offset, or outside the years
        raise InvalidParameter(field, str(exc)) from None
