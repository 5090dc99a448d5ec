"""The symbols list (the legacy main view) as one SQL statement built from whitelisted parts.

Each symbol with its latest daily bar (a LATERAL lookup on price's primary key, done only for the rows
of the page unless the page is sorted by a bar column) and its current rebound state for one gtype.
Only column names from `SORTS` ever reach the SQL text; every value is a bind parameter.
Sort order is `<column> NULLS LAST, symbol`; the cursor holds the last (value, symbol).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from turnpoint.api import cursor
from turnpoint.api.pages import page

STATE_SORTS = ("pct_from_pivot", "pct_from_extreme", "bars_since_pivot", "pivot_value", "extreme_value", "last_value")
BAR_SORTS = ("open", "high", "low", "close", "volume")
SORTS: dict[str, str] = {
    "symbol": "s.symbol",
    **{c: f"st.{c}" for c in STATE_SORTS},
    **{c: f"b.{c}" for c in BAR_SORTS},
}
SortName = Literal[
    "symbol", "pct_from_pivot", "pct_from_extreme", "bars_since_pivot", "pivot_value", "extreme_value",
    "last_value", "open", "high", "low", "close", "volume",
]
Order = Literal["asc", "desc"]

_STATE_COLS = ("gtype", "direction", "pivot_date", "pivot_value", "extreme_date", "extreme_value", "last_date", "last_value",
               "bars_since_pivot", "pct_from_pivot", "pct_from_extreme")
_LATEST_BAR = """LEFT JOIN LATERAL (
    SELECT p.start AS bar_date, p.open, p.high, p.low, p.close, p.volume FROM price p
    WHERE p.symbol = {alias}.symbol AND p.interval = 'day' ORDER BY p.start DESC LIMIT 1
) b ON true"""
_BAR_COLS = "b.bar_date, b.open, b.high, b.low, b.close, b.volume"


@dataclass(frozen=True, slots=True)
class SymbolFilter:
    gtype: str = "close"
    market: str | None = None
    direction: str | None = None
    min_pct: float | None = None
    max_pct: float | None = None
    q: str | None = None
    sort: str = "symbol"
    order: str = "asc"

    @property
    def cursor_kind(self) -> str:
        return f"symbols:{self.sort}:{self.order}:{self.gtype}"


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def build(f: SymbolFilter, limit: int, after: list[Any] | None) -> tuple[str, list[Any]]:
    """The SQL and its arguments for one page; `after` is the decoded cursor ([value, symbol] or [symbol])."""
    args: list[Any] = [f.gtype]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where: list[str] = []
    if f.market is not None:
        where.append(f"s.market = {arg(f.market)}")
    if f.direction is not None:
        where.append(f"st.direction = {arg(f.direction)}")
    if f.min_pct is not None:
        where.append(f"st.pct_from_pivot >= {arg(f.min_pct)}::float8")
    if f.max_pct is not None:
        where.append(f"st.pct_from_pivot <= {arg(f.max_pct)}::float8")
    if f.q:
        pattern = arg(_like_pattern(f.q))
        where.append(f"(s.symbol ILIKE {pattern} OR s.name ILIKE {pattern})")

    expr = SORTS[f.sort]
    direction = "DESC" if f.order == "desc" else "ASC"
    by_symbol = f.sort == "symbol"
    if after is not None:
        if by_symbol:
            where.append(f"s.symbol {'<' if f.order == 'desc' else '>'} {arg(after[0])}")
        elif after[0] is None:
            where.append(f"({expr} IS NULL AND s.symbol > {arg(after[1])})")
        else:
            v, s = arg(after[0]), arg(after[1])
            cmp = "<" if f.order == "desc" else ">"
            where.append(f"({expr} {cmp} {v}::float8 OR ({expr} = {v}::float8 AND s.symbol > {s}) OR {expr} IS NULL)")
    order_by = f"s.symbol {direction}" if by_symbol else f"{expr} {direction} NULLS LAST, s.symbol"
    where_sql = f"WHERE {' AND '.join(where)}" if where else ""
    state_cols = ", ".join(f"st.{c}" for c in _STATE_COLS)
    bar_in_inner = f.sort in BAR_SORTS
    inner = f"""
SELECT s.symbol, s.name, s.market, s.status, s.designations, {state_cols}{", " + _BAR_COLS if bar_in_inner else ""}
FROM symbol s
LEFT JOIN rebound_state st ON st.symbol = s.symbol AND st.gtype = $1
{_LATEST_BAR.format(alias="s") if bar_in_inner else ""}
{where_sql}
ORDER BY {order_by}
LIMIT {arg(limit + 1)}"""
    outer_order = order_by.replace("s.symbol", "pg.symbol").replace("st.", "pg.").replace("b.", "pg.")
    if bar_in_inner:
        sql = f"SELECT pg.* FROM ({inner}) pg ORDER BY {outer_order}"
    else:
        sql = f"SELECT pg.*, {_BAR_COLS} FROM ({inner}) pg {_LATEST_BAR.format(alias='pg')} ORDER BY {outer_order}"
    return sql, args


def decode_cursor(f: SymbolFilter, token: str) -> list[Any]:
    if f.sort == "symbol":
        return cursor.decode(token, f.cursor_kind, [cursor.as_str])
    return cursor.decode(token, f.cursor_kind, [cursor.as_optional_float, cursor.as_str])


def item(r: Any) -> dict[str, Any]:
    bar = None
    if r["bar_date"] is not None:
        bar = {"date": r["bar_date"], "open": r["open"], "high": r["high"], "low": r["low"], "close": r["close"],
               "volume": r["volume"]}
    state = None
    if r["gtype"] is not None:
        state = {c: r[c] for c in _STATE_COLS}
    return {"symbol": r["symbol"], "name": r["name"], "market": r["market"], "status": r["status"],
            "designations": r["designations"], "bar": bar, "state": state}


def to_page(f: SymbolFilter, rows: list[Any], limit: int) -> dict[str, Any]:
    if f.sort == "symbol":
        return page(rows, limit, f.cursor_kind, lambda r: [r["symbol"]], item)
    return page(rows, limit, f.cursor_kind, lambda r: [r[f.sort], r["symbol"]], item)
