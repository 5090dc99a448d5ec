"""File formats live in :mod:`turnpoint.core.formats` (shared with `turnpoint batch`); re-exported here."""

from __future__ import annotations

from turnpoint.core.formats import (
    BAR_ALIASES,
    READING_ALIASES,
    SYMBOL_ALIASES,
    CsvSource,
    Rejected,
    detect_encoding,
    header_map,
    market_dialect,
    read_bars,
    read_readings,
    read_symbols,
    symbol_from_filename,
)

__all__ = ["BAR_ALIASES", "READING_ALIASES", "SYMBOL_ALIASES", "CsvSource", "Rejected", "detect_encoding",
           "header_map", "market_dialect", "read_bars", "read_readings", "read_symbols", "symbol_from_filename"]
