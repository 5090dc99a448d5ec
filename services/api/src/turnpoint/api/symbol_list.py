"""The symbols list (the legacy main view): SQL built from whitelisted parts, one statement per page.

Each row is a symbol with its current rebound state for one gtype and its latest daily bar. The latest bar
comes from `latest_bar` (one row per symbol, kept by the loader with the daily prices; migration 0003), read
by primary key for the rows of the page only (at most `limit + 1`).
Only column names from the whitelists below ever reach the SQL text; every value is a bind parameter.

Order: `sort=symbol` by symbol. Any other sort by `(value, symbol)`, both ascending or both descending
(`order=desc` reverses the pair, so one index serves both directions); rows without a value (no state for
the gtype, or no bar) come last, by symbol in the same direction. The cursor holds the last (value, symbol),
or (null, symbol) once the page is in the rows without a value.

Plans (see migration 0002_api_read_indexes):
- `sort=symbol`: the symbol primary key in order, the state by its primary key.
- a rebound-state column: an ordered scan of `rebound_state (gtype, <column>, symbol)` from the cursor,
  joined to `symbol` by primary key, stopped by the LIMIT. Symbols without a state for the gtype are a
  second statement (`build_tail`), run only when the first ran out of rows. A market filter tests the
  state's own copy of the market (migration 0007), so market + direction + pct_from_pivot range sorted by
  pct_from_pivot is one range of `rebound_state (gtype, market, direction, pct_from_pivot, symbol)`.
- a latest-bar column (open ... volume): an ordered scan of `latest_bar (<column>, symbol)` from the cursor,
  joined to `symbol` by primary key, stopped by the LIMIT. Symbols without a latest bar are a second
  statement (`build_tail`), run only when the first ran out of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from turnpoint.api import cursor
from turnpoint.api.pages import page

# column -> SQL type of the cursor value (the parameter must have the column's type to bound the index scan)
STATE_SORTS: dict[str, str] = {
    "pct_from_pivot": "float8", "pct_from_extreme": "float8", "bars_since_pivot": "int4",
    "pivot_value": "float8", "extreme_value": "float8", "last_value": "float8",
}
BAR_SORTS = ("open", "high", "low", "close", "volume")
SortName = Literal[
    "symbol", "pct_from_pivot", "pct_from_extreme", "bars_since_pivot", "pivot_value", "extreme_value",
    "last_value", "open", "high", "low", "close", "volume",
]
Order = Literal["asc", "desc"]

_STATE_TYPES: dict[str, str] = {
    "gtype": "text", "direction": "text", "pivot_date": "date", "pivot_value": "float8", "extreme_date": "date",
    "extreme_value": "float8", "last_date": "date", "last_value": "float8", "bars_since_pivot": "int4",
    "pct_from_pivot": "float8", "pct_from_extreme": "float8",
}
_STATE_COLS = tuple(_STATE_TYPES)
_SYMBOL_COLS = "s.symbol, s.name, s.market, s.status, s.designations"
_STATE_SELECT = ", ".join(f"st.{c}" for c in _STATE_COLS)
_NO_STATE = ", ".join(f"NULL::{t} AS {c}" for c, t in _STATE_TYPES.items())
_BAR_COLS = "b.start AS bar_date, b.open, b.high, b.low, b.close, b.volume"
_NO_BAR = ("NULL::date AS bar_date, NULL::float8 AS open, NULL::float8 AS high, NULL::float8 AS low, "
           "NULL::float8 AS close, NULL::float8 AS volume")


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

    @property
    def filters_state(self) -> bool:
        """True when only rows with a state can match (so the rows without one never need reading)."""
        return self.direction is not None or self.min_pct is not None or self.max_pct is not None

    @property
    def desc(self) -> bool:
        return self.order == "desc"


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class _Sql:
    """Collects bind parameters; `arg(value)` returns its placeholder."""

    def __init__(self, *args: Any) -> None:
        self.args: list[Any] = list(args)

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"


def _symbol_filters(f: SymbolFilter, sql: _Sql, market: str = "s.market") -> list[str]:
    """`market` is the column tested: `st.market` (the same value, kept on the state by the database,
    migration 0007) when the scan is over rebound_state, so the market joins the index range."""
    where: list[str] = []
    if f.market is not None:
        where.append(f"{market} = {sql.arg(f.market)}")
    if f.q:
        pattern = sql.arg(_like_pattern(f.q))
        where.append(f"(s.symbol ILIKE {pattern} OR s.name ILIKE {pattern})")
    return where


def _state_filters(f: SymbolFilter, sql: _Sql) -> list[str]:
    where: list[str] = []
    if f.direction is not None:
        where.append(f"st.direction = {sql.arg(f.direction)}")
    if f.min_pct is not None:
        where.append(f"st.pct_from_pivot >= {sql.arg(f.min_pct)}::float8")
    if f.max_pct is not None:
        where.append(f"st.pct_from_pivot <= {sql.arg(f.max_pct)}::float8")
    return where


def _where(parts: list[str]) -> str:
    return f"WHERE {' AND '.join(parts)}" if parts else ""


def _with_latest_bar(inner: str, order_by: str) -> str:
    """The page's rows (at most limit + 1) with their latest bar, by latest_bar's primary key.

    A LATERAL subquery with LIMIT 1 (symbol is latest_bar's key, so at most one row anyway) rather than a plain
    LEFT JOIN: the planner flattened the join and hashed all of latest_bar (a sequential scan of 5,000 rows,
    0.3-2.4 ms) for a page of 51 rows; the LIMIT keeps the subquery a per-row primary-key lookup.
    """
    return (f"SELECT pg.*, {_BAR_COLS} FROM ({inner}) pg LEFT JOIN LATERAL "
            f"(SELECT start, open, high, low, close, volume FROM latest_bar lb WHERE lb.symbol = pg.symbol LIMIT 1) b"
            f" ON true ORDER BY {order_by}")


def build(f: SymbolFilter, limit: int, after: list[Any] | None) -> tuple[str, list[Any]]:
    """The SQL and arguments of one page (the rows with a value); `after` is the decoded cursor."""
    if f.sort == "symbol":
        return _by_symbol(f, limit, after)
    if f.sort in STATE_SORTS:
        return _by_state(f, limit, after)
    return _by_bar(f, limit, after)


def _by_symbol(f: SymbolFilter, limit: int, after: list[Any] | None) -> tuple[str, list[Any]]:
    sql = _Sql(f.gtype)
    where = _symbol_filters(f, sql) + _state_filters(f, sql)
    direction = "DESC" if f.desc else "ASC"
    if after is not None:
        where.append(f"s.symbol {'<' if f.desc else '>'} {sql.arg(after[0])}")
    inner = f"""
SELECT {_SYMBOL_COLS}, {_STATE_SELECT}
FROM symbol s LEFT JOIN rebound_state st ON st.symbol = s.symbol AND st.gtype = $1
{_where(where)}
ORDER BY s.symbol {direction} LIMIT {sql.arg(limit + 1)}"""
    return _with_latest_bar(inner, f"pg.symbol {direction}"), sql.args


def _by_state(f: SymbolFilter, limit: int, after: list[Any] | None) -> tuple[str, list[Any]]:
    """An ordered scan of rebound_state (gtype, column, symbol) from the cursor; only rows with a state."""
    sql = _Sql(f.gtype)
    col, kind = f.sort, STATE_SORTS[f.sort]
    where = ["st.gtype = $1", *_state_filters(f, sql), *_symbol_filters(f, sql, market="st.market")]
    if after is not None:
        value = _typed(after[0], kind)
        where.append(f"(st.{col}, st.symbol) {'<' if f.desc else '>'} ({sql.arg(value)}::{kind}, {sql.arg(after[1])})")
    direction = "DESC" if f.desc else "ASC"
    inner = f"""
SELECT {_SYMBOL_COLS}, {_STATE_SELECT}
FROM rebound_state st JOIN symbol s ON s.symbol = st.symbol
{_where(where)}
ORDER BY st.{col} {direction}, st.symbol {direction} LIMIT {sql.arg(limit + 1)}"""
    return _with_latest_bar(inner, f"pg.{col} {direction}, pg.symbol {direction}"), sql.args


def generic_plan_fits(f: SymbolFilter) -> bool:
    """Whether `build`'s statement for this filter has one best plan for any parameters: a rebound-state sort
    (an ordered index scan from the cursor) without text search. Measured against per-execution plans on the
    benchmark's 5,000 symbols (docs/api.md): as fast or faster for every such variant, while text search,
    the tails and the latest-bar sorts were up to several times slower with a generic plan."""
    return f.sort in STATE_SORTS and not f.q


def build_tail(f: SymbolFilter, limit: int, after_symbol: str | None) -> tuple[str, list[Any]] | None:
    """For a state or bar sort: the symbols without a value (no state for the gtype, no latest bar), by symbol;
    None when none can match."""
    if f.sort in BAR_SORTS:
        return _bar_tail(f, limit, after_symbol)
    if f.sort not in STATE_SORTS or f.filters_state:
        return None
    sql = _Sql(f.gtype)
    where = ["NOT EXISTS (SELECT 1 FROM rebound_state st WHERE st.symbol = s.symbol AND st.gtype = $1)",
             *_symbol_filters(f, sql)]
    if after_symbol is not None:
        where.append(f"s.symbol {'<' if f.desc else '>'} {sql.arg(after_symbol)}")
    direction = "DESC" if f.desc else "ASC"
    inner = f"""
SELECT {_SYMBOL_COLS}, {_NO_STATE}
FROM symbol s
{_where(where)}
ORDER BY s.symbol {direction} LIMIT {sql.arg(limit + 1)}"""
    return _with_latest_bar(inner, f"pg.symbol {direction}"), sql.args


def _by_bar(f: SymbolFilter, limit: int, after: list[Any] | None) -> tuple[str, list[Any]]:
    """An ordered scan of latest_bar (column, symbol) from the cursor; only symbols with a latest bar."""
    sql = _Sql(f.gtype)
    col = f.sort
    where = _symbol_filters(f, sql) + _state_filters(f, sql)
    if after is not None:
        value = _typed(after[0], "float8")
        where.append(f"(b.{col}, b.symbol) {'<' if f.desc else '>'} ({sql.arg(value)}::float8, {sql.arg(after[1])})")
    direction = "DESC" if f.desc else "ASC"
    sql_text = f"""
SELECT {_SYMBOL_COLS}, {_STATE_SELECT}, {_BAR_COLS}
FROM latest_bar b
JOIN symbol s ON s.symbol = b.symbol
LEFT JOIN rebound_state st ON st.symbol = s.symbol AND st.gtype = $1
{_where(where)}
ORDER BY b.{col} {direction}, b.symbol {direction}
LIMIT {sql.arg(limit + 1)}"""
    return sql_text, sql.args


def _bar_tail(f: SymbolFilter, limit: int, after_symbol: str | None) -> tuple[str, list[Any]]:
    sql = _Sql(f.gtype)
    where = ["NOT EXISTS (SELECT 1 FROM latest_bar b WHERE b.symbol = s.symbol)",
             *_symbol_filters(f, sql), *_state_filters(f, sql)]
    if after_symbol is not None:
        where.append(f"s.symbol {'<' if f.desc else '>'} {sql.arg(after_symbol)}")
    direction = "DESC" if f.desc else "ASC"
    sql_text = f"""
SELECT {_SYMBOL_COLS}, {_STATE_SELECT}, {_NO_BAR}
FROM symbol s
LEFT JOIN rebound_state st ON st.symbol = s.symbol AND st.gtype = $1
{_where(where)}
ORDER BY s.symbol {direction}
LIMIT {sql.arg(limit + 1)}"""
    return sql_text, sql.args


def _typed(value: float, kind: str) -> float | int:
    if kind != "int4":
        return value
    if not float(value).is_integer():
        raise cursor.invalid()
    return int(value)


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
    # '' is the symbol table's default: a row made from the symbol's first bar (migration 0011), no metadata yet
    return {"symbol": r["symbol"], "name": r["name"] or None, "market": r["market"] or None, "status": r["status"],
            "designations": r["designations"], "bar": bar, "state": state}


def to_page(f: SymbolFilter, rows: list[Any], limit: int) -> dict[str, Any]:
    if f.sort == "symbol":
        return page(rows, limit, f.cursor_kind, lambda r: [r["symbol"]], item)
    return page(rows, limit, f.cursor_kind, lambda r: [r[f.sort], r["symbol"]], item)
