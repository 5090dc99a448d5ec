"""Market bars: validation, daily prices, weekly/monthly bars and rebounds, per symbol."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from turnpoint.core import topics
from turnpoint.core.algorithms import BarTuple, ReboundUpdate, SymbolRebounds
from turnpoint.core.contracts import Bar
from turnpoint.transform.archive import BarArchive
from turnpoint.transform.processing import InMessage, Outbox, StateStore, TopicNames, decode
from turnpoint.transform.settings import TransformOptions

_BAR = TypeAdapter(Bar)


class _BarEnvelope(BaseModel):
    v: Literal[1]
    items: list[Bar]


_ENVELOPE = TypeAdapter(_BarEnvelope)


def _error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    loc = ".".join(str(p) for p in e["loc"]) or "bar"
    return f"{loc}: {e['msg']}"


class BarsProcessor:
    """Turns batches of `turnpoint.bars.v1` messages into prices, legs and rebound states."""

    def __init__(self, options: TransformOptions, names: TopicNames) -> None:
        self.options = options
        self.names = names
        self.dlq = names.dlq(topics.BARS)

    def valid_bars(self, msgs: list[InMessage], out: Outbox) -> dict[str, list[tuple[Bar, InMessage]]]:
        """Validated bars grouped by symbol, in arrival order; everything else dead-lettered."""
        by_symbol: dict[str, list[tuple[Bar, InMessage]]] = {}
        for msg in msgs:
            try:  # the common case: a valid envelope of valid bars, parsed and validated in one call
                bars = _ENVELOPE.validate_json(msg.value or b"").items
            except ValidationError:
                items = decode(msg, out, self.dlq)
                if items is None:
                    continue
                bars = self._valid_items(msg, items, out)
            key = msg.key.decode("utf-8", "replace") if msg.key else None
            for bar in bars:
                if key is not None and bar.symbol != key:
                    detail = f"item symbol {bar.symbol!r} differs from message key {key!r}"
                    out.dead_letter(self.dlq, msg, "key-mismatch", detail, bar.model_dump_json().encode())
                    continue
                group = by_symbol.get(bar.symbol)
                if group is None:
                    group = by_symbol[bar.symbol] = []
                group.append((bar, msg))
        return by_symbol

    def _valid_items(self, msg: InMessage, items: list[Any], out: Outbox) -> list[Bar]:
        bars = []
        for raw in items:
            try:
                bars.append(_BAR.validate_python(raw))
            except ValidationError as exc:
                out.dead_letter(self.dlq, msg, "invalid", _error(exc), orjson.dumps(raw))
        return bars

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

    def process_symbol(self, symbol: str, bars: list[tuple[Bar, InMessage]], store: StateStore, out: Outbox) -> None:
        n = self.names
        partition = bars[-1][1].partition
        archive = BarArchive(symbol, store)
        state = self.state(symbol, store)
        tuples = [(b.date, b.open, b.high, b.low, b.close, b.volume) for b, _ in bars]
        update = state.apply(tuples)
        if any(r["reason"] == "revision-too-old" for r in update.rejected):
            # Older than the in-memory tail: rebuild the symbol from the archive, exactly (rare, O(history)).
            state, update = self.rebuild(symbol, archive, tuples)
        refused = {r["date"]: r for r in update.rejected}
        daily: dict[str, dict[str, Any]] = {}
        for bar, msg in bars:  # later bars for the same date revise earlier ones
            if bar.date in refused:
                r = refused[bar.date]
                out.dead_letter(self.dlq, msg, r["reason"], r["detail"], bar.model_dump_json().encode())
                continue
            archive.put(bar.date.toordinal(), bar.date.year, (bar.open, bar.high, bar.low, bar.close, bar.volume))
            d = bar.date.isoformat()
            daily[d] = {
                "symbol": symbol, "interval": "day", "start": d, "end": d, "open": bar.open,
                "high": bar.high, "low": bar.low, "close": bar.close, "volume": bar.volume, "bars": 1,
            }
        out.add(n.prices, symbol, [*daily.values(), *update.bars])
        out.add(n.legs, symbol, update.legs)
        out.add(n.states, symbol, update.states)
        archive.flush(partition)
        if update.accepted:
            store.put(symbol, state.to_bytes(), partition)

    def rebuild(self, symbol: str, archive: BarArchive, tuples: list[BarTuple]) -> tuple[SymbolRebounds, ReboundUpdate]:
        """Run the zigzag over the archived bars before and after this batch; emit the difference."""
        before = archive.all_bars()
        after = dict(before)
        for day, o, h, lo, c, v in tuples:
            after[day.toordinal()] = (o, h, lo, c, v)

        def run(bars: dict[int, tuple[float, float, float, float, float]]) -> tuple[SymbolRebounds, ReboundUpdate]:
            st = self.fresh(symbol)
            return st, st.apply((dt.date.fromordinal(k), *v) for k, v in sorted(bars.items()))

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
