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
from turnpoint.core.observability import get_logger
from turnpoint.core.skew import FUTURE, FutureSkew
from turnpoint.transform.archive import BarArchive
from turnpoint.transform.fastpath import Columns, Row, fast_columns, fast_rows
from turnpoint.transform.processing import (
    InMessage,
    Outbox,
    StateStore,
    TopicNames,
    decode,
    failure,
    validate_each,
)
from turnpoint.transform.settings import TransformOptions

log = get_logger(__name__)
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

    def __init__(self, options: TransformOptions, names: TopicNames, skew: FutureSkew | None = None) -> None:
        self.options = options
        self.names = names
        self.dlq = names.dlq(topics.BARS)
        self.skew = skew or FutureSkew()
        self._symbols: set[str] = set()
        self._dates: dict[str, dt.date] = {}

    def latest_date(self) -> dt.date:
        """The last bar date accepted now (SPEC 2: later is `future`): today, by the service's clock, plus the skew."""
        return self.skew.bound().latest_date

    def valid_bars(self, msgs: list[InMessage], out: Outbox) -> dict[str, SymbolBars]:
        """Validated bars grouped by symbol, in arrival order; everything else dead-lettered."""
        by_symbol: dict[str, SymbolBars] = {}
        latest = self.latest_date()
        for msg in msgs:
            scratch = Outbox()
            try:
                parts = self.message_bars(msg, scratch, latest)
            except Exception as exc:  # an unexpected failure: this message alone is dead-lettered
                log.warning("bars.message_failed", topic=msg.topic, partition=msg.partition, offset=msg.offset,
                            error=failure(exc))
                out.dead_letter(self.dlq, msg, "processing-failed", failure(exc))
                continue
            out.merge(scratch)
            for symbol, part in parts:
                group = by_symbol.get(symbol)
                if group is None:
                    group = by_symbol[symbol] = SymbolBars()
                group.parts.append((msg, part))
                if not isinstance(part, Columns):
                    group.columns = False
        return by_symbol

    def message_bars(self, msg: InMessage, out: Outbox, latest: dt.date) -> list[tuple[str, Columns | Row]]:
        """The valid bars of one message by symbol: its columns (the common case) or single rows."""
        items = decode(msg, out, self.dlq)
        if items is None:
            return []
        key = msg.key.decode("utf-8", "replace") if msg.key else None
        columns = fast_columns(items, self._symbols, self._dates)
        if columns is not None and key in (None, columns.symbol) and max(columns.days) <= latest:
            return [(columns.symbol, columns)]  # a whole message
        rows = fast_rows(items, self._symbols)
        if rows is None:
            rows = [(b.symbol, b.date, b.open, b.high, b.low, b.close, b.volume)
                    for b in validate_each(msg, items, out, self.dlq, _BAR)]
        parts: list[tuple[str, Columns | Row]] = []
        for row in rows:
            symbol = row[0]
            if key is not None and symbol != key:
                detail = f"item symbol {symbol!r} differs from message key {key!r}"
                out.dead_letter(self.dlq, msg, "key-mismatch", detail, _payload(row))
            elif row[1] > latest:
                detail = f"date {row[1].isoformat()} is after {latest.isoformat()} (the clock plus the allowed skew)"
                out.dead_letter(self.dlq, msg, FUTURE, detail, _payload(row))
            else:
                parts.append((symbol, row))
        return parts

    def state(self, symbol: str, store: StateStore) -> SymbolRebounds:
        raw = store.get(symbol)
        if raw is not None:
            return SymbolRebounds.from_bytes(raw)
        return self.fresh(symbol)

    def fresh(self, symbol: str) -> SymbolRebounds:
        return SymbolRebounds(symbol, threshold=self.options.threshold, revision_horizon=self.options.revision_horizon)

    def process(self, msgs: list[InMessage], store: StateStore) -> Outbox:
        """Every symbol's outputs; a symbol whose bars raise is retried bar by bar (the bad ones dead-lettered)."""
        out = Outbox()
        for symbol, bars in self.valid_bars(msgs, out).items():
            scratch = Outbox()
            try:
                self.process_symbol(symbol, bars, store, scratch)
            except Exception as exc:
                log.warning("bars.symbol_failed", symbol=symbol, error=failure(exc))
                self.one_by_one(symbol, bars, store, out)
            else:
                out.merge(scratch)
        return out

    def one_by_one(self, symbol: str, group: SymbolBars, store: StateStore, out: Outbox) -> None:
        """Each bar of the group alone, in order; one that raises is dead-lettered (`processing-failed`).

        The state is read from and written to the store per bar, so the good bars give what they would
        have given in a batch without the bad ones.
        """
        for row, msg in group.rows():
            single = SymbolBars()
            single.parts.append((msg, row))
            single.columns = False
            scratch = Outbox()
            try:
                self.process_symbol(symbol, single, store, scratch)
            except Exception as exc:
                out.dead_letter(self.dlq, msg, "processing-failed", failure(exc), _payload(row))
            else:
                out.merge(scratch)

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
