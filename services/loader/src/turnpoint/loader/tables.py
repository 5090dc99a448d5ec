"""What the loader writes: one `TableSpec` per result topic, with its columns, key and row converter.

Converters turn a decoded item (a dict from orjson) into a row tuple in column order. Items of result
topics were produced by transform and validated there, so their check here is light but real: every
column present with the right JSON type, dates and timestamps parseable and timezone-aware. Raw
readings are validated fully with the `Reading` contract. Anything that fails becomes a dead letter.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from turnpoint.core import topics
from turnpoint.core.contracts import Reading
from turnpoint.core.topics import TopicSpec

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    pgtype: str  # PostgreSQL type name as psycopg knows it (text, date, float8, int4, int8, ...)


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A target table, the topic that feeds it, and how an item becomes a row (or a deletion)."""

    name: str
    topic: TopicSpec
    columns: tuple[Column, ...]  # every written column except updated_at (the database sets it)
    key: tuple[str, ...]
    convert: Callable[[dict[str, Any]], Row]
    is_delete: Callable[[dict[str, Any]], bool] | None = None
    # Tables kept from this table's written rows, in the same transaction: (table, rows -> its rows).
    derived: tuple[tuple[TableSpec, Callable[[list[Row]], list[Row]]], ...] = ()
    # A date column that only moves forward: an upsert replaces a row only when its value is >= the stored one.
    newer_only: str | None = None
    # Whether the sink may try a plain COPY first (pointless for small tables that are always updated).
    direct_copy: bool = True
    # The column holding the event's time (a date or timestamptz) where input may come from outside the
    # pipeline: a value after the clock plus the allowed skew is a dead letter `future` (SPEC 2).
    event_time: str | None = None
    # (series column, time column) of a table under SPEC 2's allowed lateness: a row more than the lateness
    # behind the newest stored or earlier row of its series is not written (the transform dead-letters it).
    horizon: tuple[str, str] | None = None
    key_index: tuple[int, ...] = field(init=False)
    event_index: int | None = field(init=False)
    horizon_index: tuple[int, int] | None = field(init=False)
    key_of: Callable[[Row], tuple[Any, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        index = tuple(names.index(k) for k in self.key)
        object.__setattr__(self, "key_index", index)
        object.__setattr__(self, "event_index", None if self.event_time is None else names.index(self.event_time))
        if self.horizon is not None and self.is_delete is not None:
            msg = f"{self.name}: a table under the allowed lateness takes no deletions"
            raise ValueError(msg)
        horizon = None if self.horizon is None else (names.index(self.horizon[0]), names.index(self.horizon[1]))
        object.__setattr__(self, "horizon_index", horizon)
        # the key tuple of a row, in C (itemgetter of one index returns the bare value: wrap it)
        getter = operator.itemgetter(*index)
        object.__setattr__(self, "key_of", getter if len(index) > 1 else lambda row: (getter(row),))

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def value_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.name not in self.key)


class BadItem(ValueError):
    """An item that cannot become a row; the message says which field and why."""


def _str(v: Any) -> str:
    if type(v) is not str:
        msg = f"expected a string, got {type(v).__name__}"
        raise BadItem(msg)
    return v


def _opt_str(v: Any) -> str:
    return "" if v is None else _str(v)


def _num(v: Any) -> float:
    t = type(v)
    if t is float:
        return v  # type: ignore[no-any-return]  # mypy narrows no Any by `type(v) is`
    if t is int:
        return float(v)
    msg = f"expected a number, got {t.__name__}"
    raise BadItem(msg)


def _int(v: Any) -> int:
    if type(v) is not int:
        msg = f"expected an integer, got {type(v).__name__}"
        raise BadItem(msg)
    return v


def _date(v: Any) -> dt.date:
    return dt.date.fromisoformat(_str(v))


def _ts(v: Any) -> dt.datetime:
    t = dt.datetime.fromisoformat(_str(v))
    if t.tzinfo is None or t.utcoffset() is None:
        msg = f"timestamp {v!r} has no UTC offset"
        raise BadItem(msg)
    return t


def _opt_ts(v: Any) -> dt.datetime | None:
    return None if v is None else _ts(v)


def _choice(*allowed: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in allowed:
            msg = f"{v!r} is not one of {', '.join(allowed)}"
            raise BadItem(msg)
        return v  # type: ignore[no-any-return]  # one of the allowed strings

    return check


def _num_list(v: Any) -> list[float]:
    if type(v) is not list:
        msg = f"expected a list of numbers, got {type(v).__name__}"
        raise BadItem(msg)
    return [_num(x) for x in v]


def _str_list(v: Any) -> list[str]:
    if type(v) is not list:
        msg = f"expected a list of strings, got {type(v).__name__}"
        raise BadItem(msg)
    return [_str(x) for x in v]


def _weekday(v: Any) -> int:
    return 0 if v is None else _int(v)


def _builder(fields: tuple[tuple[str, Callable[[Any], Any], Any], ...]) -> Callable[[dict[str, Any]], Row]:
    """A converter reading `fields` (name, check, default-or-REQUIRED) from an item, in order."""

    def convert(item: dict[str, Any]) -> Row:
        out = []
        for name, check, default in fields:
            if name in item:
                value = item[name]
            elif default is _REQUIRED:
                msg = f"{name}: field required"
                raise BadItem(msg)
            else:
                value = default
            try:
                out.append(check(value))
            except (BadItem, ValueError, TypeError) as exc:
                msg = f"{name}: {exc}"
                raise BadItem(msg) from None
        return tuple(out)

    return convert


_REQUIRED = object()
R = _REQUIRED


def _fast_price(item: dict[str, Any]) -> Row:
    """The hot path for bars: plain lookups; any surprise falls back to the checked converter."""
    try:
        row = (
            item["symbol"], item["interval"], dt.date.fromisoformat(item["start"]),
            dt.date.fromisoformat(item["end"]), item["open"], item["high"], item["low"], item["close"],
            item["volume"], item["bars"],
        )
    except (KeyError, TypeError, ValueError):
        return _checked_price(item)
    if (
        type(row[0]) is str and row[1] in _INTERVALS and type(row[9]) is int
        and type(row[4]) is type(row[5]) is type(row[6]) is type(row[7]) is type(row[8]) is float
    ):
        return row
    return _checked_price(item)


_INTERVALS = frozenset(("day", "week", "month"))
_checked_price = _builder((
    ("symbol", _str, R), ("interval", _choice("day", "week", "month"), R), ("start", _date, R),
    ("end", _date, R), ("open", _num, R), ("high", _num, R), ("low", _num, R), ("close", _num, R),
    ("volume", _num, 0.0), ("bars", _int, 1),
))


def _fast_leg(item: dict[str, Any]) -> Row:
    try:
        row = (
            item["symbol"], item["gtype"], dt.date.fromisoformat(item["start_date"]), item["start_value"],
            dt.date.fromisoformat(item["end_date"]), item["end_value"], item["bars"], item["change"],
            item["pct"], item["direction"],
        )
    except (KeyError, TypeError, ValueError):
        return _checked_leg(item)
    if (
        type(row[0]) is not str or row[1] not in _GTYPES or row[9] not in _DIRECTIONS or type(row[6]) is not int
        or not (type(row[3]) is type(row[5]) is type(row[7]) is type(row[8]) is float)
    ):
        return _checked_leg(item)
    return row


_GTYPES = frozenset(("open", "high", "low", "close"))
_DIRECTIONS = frozenset(("up", "down"))
_gtype = _choice("open", "high", "low", "close")
_checked_leg = _builder((
    ("symbol", _str, R), ("gtype", _gtype, R), ("start_date", _date, R), ("start_value", _num, R),
    ("end_date", _date, R), ("end_value", _num, R), ("bars", _int, R), ("change", _num, R),
    ("pct", _num, R), ("direction", _choice("up", "down"), R),
))


def _leg_deleted(item: dict[str, Any]) -> bool:
    return item.get("deleted") is True


def _reading(item: dict[str, Any]) -> Row:
    """Raw readings come from the outside world: the full contract applies."""
    try:
        r = Reading.model_validate(item)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "value"
        msg = f"{where}: {first['msg']}"
        raise BadItem(msg) from None
    return (r.series, r.ts, r.value, r.unit)


def _f(name: str, check: Callable[[Any], Any] = _num, default: Any = R) -> tuple[str, Callable[[Any], Any], Any]:
    return (name, check, default)


def _cols(*spec: str) -> tuple[Column, ...]:
    return tuple(Column(*s.split(":")) for s in spec)


def _no_items(item: dict[str, Any]) -> Row:
    msg = "latest_bar is derived from price rows, never read from a topic"
    raise BadItem(msg)


def latest_daily_bars(rows: list[Row]) -> list[Row]:
    """Price rows -> latest_bar rows: per symbol, the daily bar with the greatest start (rows have distinct keys)."""
    best: dict[str, Row] = {}
    for row in rows:
        if row[1] == "day":
            held = best.get(row[0])
            if held is None or row[2] > held[2]:
                best[row[0]] = row
    return [(r[0], r[2], r[4], r[5], r[6], r[7], r[8]) for r in best.values()]


LATEST_BAR = TableSpec(
    "latest_bar", topics.PRICES,
    _cols("symbol:text", "start:date", "open:float8", "high:float8", "low:float8", "close:float8", "volume:float8"),
    ("symbol",), _no_items, newer_only="start", direct_copy=False,
)
PRICE = TableSpec(
    "price", topics.PRICES,
    _cols("symbol:text", "interval:text", "start:date", "end:date", "open:float8", "high:float8", "low:float8",
          "close:float8", "volume:float8", "bars:int4"),
    ("symbol", "interval", "start"), _fast_price, derived=((LATEST_BAR, latest_daily_bars),), event_time="start",
)
REBOUND_LEG = TableSpec(
    "rebound_leg", topics.LEGS,
    _cols("symbol:text", "gtype:text", "start_date:date", "start_value:float8", "end_date:date",
          "end_value:float8", "bars:int4", "change:float8", "pct:float8", "direction:text"),
    ("symbol", "gtype", "start_date"), _fast_leg, _leg_deleted,
)
REBOUND_STATE = TableSpec(
    "rebound_state", topics.STATES,
    _cols("symbol:text", "gtype:text", "threshold:float8", "direction:text", "pivot_date:date",
          "pivot_value:float8", "extreme_date:date", "extreme_value:float8", "last_date:date", "last_value:float8",
          "bars_since_pivot:int4", "pct_from_pivot:float8", "pct_from_extreme:float8"),
    ("symbol", "gtype"),
    _builder((
        _f("symbol", _str), _f("gtype", _gtype), _f("threshold"), _f("direction", _choice("none", "up", "down")),
        _f("pivot_date", _date), _f("pivot_value"), _f("extreme_date", _date), _f("extreme_value"),
        _f("last_date", _date), _f("last_value"), _f("bars_since_pivot", _int), _f("pct_from_pivot"),
        _f("pct_from_extreme"),
    )),
)
CALENDAR_STAT = TableSpec(
    "calendar_stat", topics.STATS,
    _cols("series:text", "period:text", "start:date", "weekday:int2", "count:int8", "mean:float8", "std:float8",
          "min:float8", "max:float8", "tz:text"),
    ("series", "period", "start", "weekday"),
    _builder((
        _f("series", _str), _f("period", _str), _f("start", _date), _f("weekday", _weekday, None),
        _f("count", _int), _f("mean"), _f("std"), _f("min"), _f("max"), _f("tz", _str, "UTC"),
    )),
)
OUTLIER = TableSpec(
    "outlier", topics.OUTLIERS,
    _cols("series:text", "ts:timestamptz", "value:float8", "mean:float8", "std:float8", "direction:text",
          "k:float8", "window_days:int4"),
    ("series", "ts"),
    _builder((
        _f("series", _str), _f("ts", _ts), _f("value"), _f("mean"), _f("std"),
        _f("direction", _choice("high", "low")), _f("k"), _f("window_days", _int),
    )),
)
READING = TableSpec(
    "reading", topics.READINGS,
    _cols("series:text", "ts:timestamptz", "value:float8", "unit:text"),
    ("series", "ts"), _reading, event_time="ts", horizon=("series", "ts"),
)
PREDICTION = TableSpec(
    "prediction", topics.PREDICTIONS,
    _cols("model:text", "version:text", "kind:text", "target:text", "asof:timestamptz", "horizon:int4",
          "values:float8[]", "trace_id:text"),
    ("model", "version", "target", "asof"),
    _builder((
        _f("model", _str), _f("version", _str), _f("kind", _choice("forecast", "anomaly")), _f("target", _str),
        _f("asof", _ts), _f("horizon", _int), _f("values", _num_list), _f("trace_id", _opt_str, ""),
    )),
)
SYMBOL = TableSpec(
    "symbol", topics.SYMBOLS,
    _cols("symbol:text", "name:text", "market:text", "status:text", "designations:text[]"),
    ("symbol",),
    _builder((
        _f("symbol", _str), _f("name", _opt_str, ""), _f("market", _opt_str, ""),
        _f("status", _choice("listed", "delisted", "suspended"), "listed"), _f("designations", _str_list, []),
    )),
)
JOB_INFO = TableSpec(
    "job_info", topics.JOBS,
    _cols("job:text", "status:text", "last_success:timestamptz", "rows:int8", "detail:text"),
    ("job",),
    _builder((
        _f("job", _str), _f("status", _choice("ok", "error", "running")), _f("last_success", _opt_ts, None),
        _f("rows", _int, 0), _f("detail", _opt_str, ""),
    )),
)

TABLES: tuple[TableSpec, ...] = (
    PRICE, REBOUND_LEG, REBOUND_STATE, CALENDAR_STAT, OUTLIER, READING, PREDICTION, SYMBOL, JOB_INFO,
)
BY_TOPIC: dict[str, TableSpec] = {t.topic.name: t for t in TABLES}
