"""Fast, contract-exact validation of text rows (CSV fields) into the dicts that envelopes carry.

The one row layer of turnpoint: `turnpoint ingest` (files, serial lines) and `turnpoint batch` both use
it. Files are the hot path of backfills (>= 100,000 bars/s), so rows are checked by hand rather than
through pydantic models, with the contracts' own limits and checks (`check_date`, `check_instant`,
`check_text`, the symbol rule); `tests/unit/ingest/test_rows.py` and `tests/unit/test_rows_contract.py`
check with hypothesis that these rules accept exactly what `Bar` and `Reading` accept, with the same values.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from turnpoint.core.limits import (
    MAX_YEAR,
    MIN_YEAR,
    SERIES_MAX,
    SYMBOL_MAX,
    SYMBOL_PATTERN,
    UNIT_MAX,
    check_date,
    check_instant,
    check_text,
)

SYMBOL_RE = re.compile(SYMBOL_PATTERN)


def is_symbol(text: object) -> bool:
    """True when ``text`` is a symbol name as `contracts.SymbolName` says (a str of 1-32 of A-Z a-z 0-9 . _ ^ = -).

    ``fullmatch``: the pattern's ``$`` would also match before a final newline, which the contract refuses."""
    return type(text) is str and 0 < len(text) <= SYMBOL_MAX and SYMBOL_RE.fullmatch(text) is not None


class RowError(ValueError):
    """A row is invalid; `reason` is a short code for the dead-letter topic, str(self) the detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def number(text: str, field: str, thousands: bool = False) -> float:
    """A float from CSV text; with `thousands`, separators (1,234) are accepted as Korean exports use them."""
    s = text.strip()
    if thousands and "," in s:
        s = s.replace(",", "")
    try:
        value = float(s)
    except ValueError:
        detail = f"{field} {text!r} is not a number" if s else f"{field} is empty"
        reason = "bad-number"
        raise RowError(reason, detail) from None
    if not math.isfinite(value):
        reason = "bad-number"
        raise RowError(reason, f"{field} {text!r} is not a finite number")
    return value


def price(text: str, field: str) -> float:
    value = number(text, field, thousands=True)
    if value <= 0:
        reason = "bad-price"
        raise RowError(reason, f"{field} {text!r} must be greater than 0")
    return value


def parse_date(text: str) -> dt.date:
    """Dates as exchanges export them: 2024-01-02, 2024/01/02, 2024.01.02, 20240102 (a time part is dropped)."""
    s = text.strip()
    if len(s) > 10 and s[10] in " T":
        s = s[:10]
    if len(s) == 10 and s[4] in "./" and s[7] == s[4]:
        s = f"{s[:4]}-{s[5:7]}-{s[8:]}"
    try:
        day = dt.date.fromisoformat(s)
    except ValueError:
        reason = "bad-date"
        raise RowError(reason, f"date {text!r} is not a date such as 2024-01-02") from None
    try:
        return check_date(day)
    except ValueError as exc:
        reason = "bad-date"
        raise RowError(reason, str(exc)) from None


def check_symbol(text: str) -> str:
    s = text.strip()
    if not is_symbol(s):
        reason = "bad-symbol"
        raise RowError(reason, f"symbol {text!r} must be 1-32 characters of A-Z a-z 0-9 . _ ^ = -")
    return s


_INF = math.inf


def bar_dict(
    symbol: str, date: str, open_: str, high: str, low: str, close: str, volume: str | None, source: str | None,
) -> dict[str, Any]:
    """A `Bar` as a JSON-ready dict, or RowError.

    The fast path takes well-formed rows (plain numbers, ISO dates) with a handful of float() calls and
    chained comparisons (`0 < x < inf` is False for NaN too); anything else goes the detailed way, which
    also accepts thousands separators and other date spellings and says what is wrong.
    """
    try:
        o, h, lo, c = float(open_), float(high), float(low), float(close)
        v = float(volume) if volume else 0.0
        if (0 < o < _INF and 0 < lo <= h < _INF and 0 < c < _INF and 0 <= v < _INF
                and len(date) == 10 and date[4] == date[7] == "-"
                and MIN_YEAR <= dt.date.fromisoformat(date).year <= MAX_YEAR):
            return {"symbol": symbol, "date": date, "open": o, "high": h, "low": lo, "close": c, "volume": v,
                    "source": source}
    except ValueError:
        pass
    return _bar_dict_checked(symbol, date, open_, high, low, close, volume, source)


def _bar_dict_checked(
    symbol: str, date: str, open_: str, high: str, low: str, close: str, volume: str | None, source: str | None,
) -> dict[str, Any]:
    h = price(high, "high")
    lo = price(low, "low")
    if h < lo:
        reason = "inconsistent"
        raise RowError(reason, f"high {h} < low {lo}")
    vol = 0.0 if volume is None or not volume.strip() else number(volume, "volume", thousands=True)
    if vol < 0:
        reason = "bad-volume"
        raise RowError(reason, f"volume {volume!r} must be >= 0")
    return {
        "symbol": symbol,
        "date": parse_date(date).isoformat(),
        "open": price(open_, "open"),
        "high": h,
        "low": lo,
        "close": price(close, "close"),
        "volume": vol,
        "source": source,
    }


def parse_instant(text: str) -> dt.datetime:
    """An ISO-8601 instant with an offset or Z (SPEC section 2), normalised to UTC."""
    s = text.strip()
    try:
        ts = dt.datetime.fromisoformat(s)
    except ValueError:
        reason = "bad-timestamp"
        raise RowError(reason, f"ts {text!r} is not ISO-8601 (2024-01-02T03:04:05Z)") from None
    if ts.tzinfo is None or ts.utcoffset() is None:
        reason = "no-offset"
        raise RowError(reason, f"ts {text!r} has no UTC offset; add Z or +09:00")
    try:
        return check_instant(ts)
    except ValueError as exc:  # e.g. 9999-12-31T00:00:00Z, or 0001-01-01T00:00:00+01:00 (not representable in UTC)
        reason = "bad-timestamp"
        raise RowError(reason, str(exc)) from None


def iso_utc(ts: dt.datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def check_series(series: str) -> str:
    """A series name as `Reading` takes it (1-200 characters, no control character, kept as written)."""
    if not series or len(series) > SERIES_MAX:
        reason = "bad-series"
        raise RowError(reason, f"series {series!r} must be 1-{SERIES_MAX} characters")
    try:
        return check_text(series)
    except ValueError as exc:
        reason = "bad-text"
        raise RowError(reason, str(exc)) from None


def check_unit(unit: str | None) -> str | None:
    """A reading's unit as `Reading` takes it (empty means none), or RowError."""
    if not unit:
        return None
    try:
        check_text(unit)
    except ValueError as exc:
        reason = "bad-text"
        raise RowError(reason, str(exc)) from None
    if len(unit) > UNIT_MAX:
        reason = "bad-unit"
        raise RowError(reason, f"unit must be at most {UNIT_MAX} characters")
    return unit


def reading_dict(series: str, ts: str, value: str, unit: str | None, source: str | None) -> dict[str, Any]:
    """A `Reading` as a JSON-ready dict, or RowError."""
    series = check_series(series)
    unit = check_unit(unit)
    return {
        "series": series,
        "ts": iso_utc(parse_instant(ts)),
        "value": number(value, "value"),
        "unit": unit,
        "source": source,
    }
