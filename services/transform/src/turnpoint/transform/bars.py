"""Market bars: validation, daily prices, weekly/monthly bars and rebounds, per symbol."""

from __future__ import annotations

import datetime as dt
from operator import attrgetter
from typing import Any

import orjson
from pydantic import TypeAdapter

from turnpoint.core import topics
from turnpoint.core.algorithms import BarTuple, ReboundUpdate, SymbolRebounds
from turnpoint.core.contracts import Bar
from turnpoint.transform.archive import BarArchive
from turnpoint.transform.fastpath import Columns, Row, fast_columns, fast_rows
from turnpoint.transform.processing import InMessage, Outbox, StateStore, TopicNames, decode, validate_each
from turnpoint.transform.settings import TransformOptions

_BAR = TypeAdapter(Bar)
FIELDS = ("symbol", "date", "open", "high", "low", "close", "volume")


_YEAR = attrgetter("year")


def _payload(row: Row) -> bytes:
    return orjson.dumps(dict(zip(FIELDS, row, strict=True)))


class SymbolBars:
    """The valid bars of one symbol in a batch, in arrival order: whole messages (`Columns`) or single rows."""

    __slots__ = ("columns", "parts")

    def __init__(self) -> None:
        self.parts: list[tuple[InMessage, Columns | Row]] = []
        self.columns = True  # every part is a whole message's columns

    def rows(self) -> list[tuple[Row, InMessage]]:
        out: list[tuple[Row, InMessage]] = []
        for msg, part in self.parts:
            if isinstance(part, Columns):
                out += [((part.symbol, *bar), msg) for bar in zip(
                    part.days, part.open, part.high, part.low, part.close, part.volume, strict=True)]
            else:
                out.append((part, msg))
        return out


class BarsProcessor:
    """Turns batches of `turnpoint.bars.v1` messages into prices, legs and rebound states."""

    def __init__(self, options: TransformOptions, names: TopicNames) -> None:
        self.options = options
        self.names = names
        self.dlq = names.dlq(topics.BARS)
        self._symbols: set[str] = set()
        self._dates: dict[str, dt.date] = {}

    def valid_bars(self, msgs: list[InMessage], out: Outbox) -> dict[str, SymbolBars]:
        """Validated bars grouped by symbol, in arrival order; everything else dead-lettered."""
        by_symbol: dict[str, SymbolBars] = {}
        for msg in msgs:
            items = decode(msg, out, self.dlq)
            if items is None:
                continue
            key = msg.key.decode("utf-8", "replace") if msg.key else None
            columns = fast_columns(items, self._symbols, self._dates)
            if columns is not None and key in (None, columns.symbol):  # the common case: a whole message
                group = by_symbol.get(columns.symbol)
                if group is None:
                    group = by_symbol[columns.symbol] = SymbolBars()
                group.parts.append((msg, columns))
                continue
            rows = fast_rows(items, self._symbols)
            if rows is None:
                rows = [(b.symbol, b.date, b.open, b.high, b.low, b.close, b.volume)
                        for b in validate_each(msg, items, out, self.dlq, _BAR)]
            for row in rows:
                symbol = row[0]
                if key is not None and symbol != key:
                    detail = f"item symbol {symbol!r} differs from message key {key!r}"
                    out.dead_letter(self.dlq, msg, "key-mismatch", detail, _payload(row))
                    continue
                group = by_symbol.get(symbol)
                if group is None:
                    group = by_symbol[symbol] = SymbolBars()
                group.parts.append((msg, row))
                group.columns = False
        return by_symbol

    def state(self, symbol: str, store: StateStore) -> SymbolRebounds:
        raw = store.get(symbol)
        if raw is not None:
            return SymbolRebounds.from_bytes(raw)
        return self.fresh(symbol)

    def fresh(self, symbol: str) -> SymbolRebounds:
        return SymbolRebounds(symbol, threshold=self.options.threshold, revision_horizon=self.options.revision_horizon)

    def process(self, msgs: list[InMessage], store: StateStore) -> Outbox:
        out = Outbox()
        for symbol, bars in self.valid_bars(msgs, out).items():
            self.process_symbol(symbol, bars, store, out)
        return out

    def process_symbol(self, symbol: str, group: SymbolBars, store: StateStore, out: Outbox) -> None:
        partition = group.parts[-1][0].partition
        archive = BarArchive(symbol, store)
        state = self.state(symbol, store)
        update = self.append(symbol, group, state, archive, out) if group.columns else None
        if update is None:
            state, update = self.apply_rows(symbol, group.rows(), state, archive, out)
        archive.flush(partition)
        if update.accepted:
            store.put(symbol, state.to_bytes(), partition)

    def append(
        self, symbol: str, group: SymbolBars, state: SymbolRebounds, archive: BarArchive, out: Outbox,
    ) -> ReboundUpdate | None:
        """The fast path: whole messages whose dates strictly increase after the symbol's last date.

        None, changing nothing, when the bars are anything else (`apply_rows` then takes them).
        """
        parts = [cols for _, cols in group.parts if isinstance(cols, Columns)]
        fields = ("iso", "days", "open", "high", "low", "close", "volume")
        if len(parts) == 1:
            iso, days, o, h, lo, c, v = (getattr(parts[0], f) for f in fields)
        else:
            iso, days, o, h, lo, c, v = ([x for p in parts for x in getattr(p, f)] for f in fields)
        ordinals = list(map(dt.date.toordinal, days))
        update = state.extend(ordinals, o, h, lo, c, v)
        if update is None:
            return None
        archive.put_sorted(ordinals, list(map(_YEAR, days)), list(zip(o, h, lo, c, v, strict=True)))
        daily = [{"symbol": symbol, "interval": "day", "start": d, "end": d, "open": op, "high": hi, "low": low,
                  "close": cl, "volume": vol, "bars": 1}
                 for d, op, hi, low, cl, vol in zip(iso, o, h, lo, c, v, strict=True)]
        self.emit(symbol, daily, update, out)
        return update

    def emit(self, symbol: str, daily: list[dict[str, Any]], update: ReboundUpdate, out: Outbox) -> None:
        n = self.names
        out.add(n.prices, symbol, [*daily, *update.bars])
        out.add(n.legs, symbol, update.legs)
        out.add(n.states, symbol, update.states)

    def apply_rows(
        self, symbol: str, bars: list[tuple[Row, InMessage]], state: SymbolRebounds, archive: BarArchive, out: Outbox,
    ) -> tuple[SymbolRebounds, ReboundUpdate]:
        """Any bars: revisions, redeliveries, disorder, bars older than the state's tail (rebuilt)."""
        tuples: list[BarTuple] = [row[1:] for row, _ in bars]
        update = state.apply(tuples, validated=True)
        if any(r["reason"] == "revision-too-old" for r in update.rejected):
            # Older than the in-memory tail: rebuild the symbol from the archive, exactly (rare, O(history)).
            state, update = self.rebuild(symbol, archive, tuples)
        refused = {r["date"]: r for r in update.rejected}
        daily: dict[str, dict[str, Any]] = {}
        for row, msg in bars:  # later bars for the same date revise earlier ones
            _, day, o, h, lo, c, v = row
            if refused and day in refused:
                r = refused[day]
                out.dead_letter(self.dlq, msg, r["reason"], r["detail"], _payload(row))
                continue
            archive.put(day.toordinal(), day.year, (o, h, lo, c, v))
            d = day.isoformat()
            daily[d] = {"symbol": symbol, "interval": "day", "start": d, "end": d, "open": o, "high": h,
                        "low": lo, "close": c, "volume": v, "bars": 1}
        self.emit(symbol, list(daily.values()), update, out)
        return state, update

    def rebuild(self, symbol: str, archive: BarArchive, tuples: list[BarTuple]) -> tuple[SymbolRebounds, ReboundUpdate]:
        """Run the zigzag over the archived bars before and after this batch; emit the difference."""
        before = archive.all_bars()
        after = dict(before)
        for day, o, h, lo, c, v in tuples:
            after[day.toordinal()] = (o, h, lo, c, v)

        def run(bars: dict[int, tuple[float, float, float, float, float]]) -> tuple[SymbolRebounds, ReboundUpdate]:
            st = self.fresh(symbol)
            return st, st.apply(((dt.date.fromordinal(k), *v) for k, v in sorted(bars.items())), validated=True)

        _, old = run(before)
        state, new = run(after)
        old_legs = {(leg["gtype"], leg["start_date"]): leg for leg in old.legs}
        legs = []
        for leg in new.legs:
            if old_legs.pop((leg["gtype"], leg["start_date"]), None) != leg:
                legs.append(leg)
        legs += [{**leg, "deleted": True} for leg in old_legs.values()]
        new.legs = legs
        new.accepted = len(tuples) - len(new.rejected)
        return state, new
