"""Row validation lives in :mod:`turnpoint.core.rows` (shared with `turnpoint batch`); re-exported here."""

from __future__ import annotations

from turnpoint.core.rows import (
    SYMBOL_RE,
    RowError,
    bar_dict,
    check_symbol,
    iso_utc,
    number,
    parse_date,
    parse_instant,
    price,
    reading_dict,
)

__all__ = ["SYMBOL_RE", "RowError", "bar_dict", "check_symbol", "iso_utc", "number", "parse_date",
           "parse_instant", "price", "reading_dict"]
