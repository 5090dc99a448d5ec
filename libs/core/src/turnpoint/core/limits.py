"""The plain half of the record contracts: names, limits and checks, without pydantic.

:mod:`turnpoint.core.contracts` builds its pydantic models from these and re-exports them, so either
import works. The row layer, the algorithms and the batch commands import this module instead: building
the models costs about 0.1 CPU-s at start-up, which a `turnpoint batch` run does not need
(`tests/unit/test_cli_main.py` checks that a batch run never imports the models).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

GType = Literal["open", "high", "low", "close"]
GTYPES: tuple[GType, ...] = ("open", "high", "low", "close")
Period = Literal["day", "week", "month", "year", "month-weekday", "year-weekday"]
PERIODS: tuple[Period, ...] = ("day", "week", "month", "year", "month-weekday", "year-weekday")
Interval = Literal["day", "week", "month"]
Direction = Literal["up", "down"]


MIN_YEAR, MAX_YEAR = 1000, 2999
"""Valid dates and instants lie in these years (SPEC section 2); anything outside is invalid input."""
MIN_DATE, MAX_DATE = dt.date(MIN_YEAR, 1, 1), dt.date(MAX_YEAR, 12, 31)
SERIES_MAX = 200
"""A series name's longest length (SPEC section 2)."""
COUNT_SERIES: tuple[str, ...] = ("people", "vehicle")
"""A camera's counts become the readings ``<camera>/people`` and ``<camera>/vehicle``."""
CAMERA_MAX = SERIES_MAX - 1 - max(map(len, COUNT_SERIES))
"""A camera's longest name: its derived series must still be a valid series name (192)."""
LABEL_MAX = 200
"""Free text on input records (source, symbol names, markets, designations)."""
UNIT_MAX = 64
SYMBOL_MAX = 32
SYMBOL_PATTERN = r"^[A-Za-z0-9._^=\-]+$"
"""The symbol rule, with 1 to SYMBOL_MAX characters (`turnpoint.core.rows.is_symbol` is its fast form)."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_date(value: dt.date) -> dt.date:
    """`value` if it lies in the years 1000-2999, else ValueError saying so."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        msg = f"date {value.isoformat()} is outside the years {MIN_YEAR}-{MAX_YEAR}"
        raise ValueError(msg)
    return value


def check_instant(value: dt.datetime) -> dt.datetime:
    """`value` in UTC if it has an offset and lies in the years 1000-2999 (in UTC), else ValueError."""
    if value.tzinfo is None or value.utcoffset() is None:
        msg = "timestamp has no UTC offset; send ISO-8601 with an offset or Z"
        raise ValueError(msg)
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 lies before the first representable instant
        utc = None
    if utc is None or not MIN_YEAR <= utc.year <= MAX_YEAR:
        msg = f"timestamp {value.isoformat()} is outside the years {MIN_YEAR}-{MAX_YEAR} (UTC)"
        raise ValueError(msg)
    return utc


def check_text(value: str) -> str:
    """`value` if it holds no NUL or other control character (C0, DEL, C1), else ValueError."""
    bad = _CONTROL.search(value)
    if bad is not None:
        msg = f"control character U+{ord(bad.group()):04X} at position {bad.start()} is not allowed"
        raise ValueError(msg)
    return value
