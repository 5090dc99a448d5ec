"""Market bars: validation, daily prices, weekly/monthly bars and rebounds, per symbol."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from turnpoint.core import topics
from turnpoint.core.contracts import Bar
from turnpoint.transform.processing import InMessage, Outbox, StateStore, TopicNames, decode
from turnpoint.transform.settings import TransformOptions

_BAR = TypeAdapter(Bar)


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
            items = decode(msg, out, self.dlq)
            if items is None:
                continue
            key = msg.key.decode("utf-8", "replace") if msg.key else None
            for raw in items:
                try:
                    bar = _BAR.validate_python(raw)
                except ValidationError as exc:
                    out.dead_letter(self.dlq, msg, "invalid", _error(exc), orjson.dumps(raw))
                    continue
                if key is not None and bar.symbol != key:
                    detail = f"item symbol {bar.symbol!r} differs from message key {key!r}"
                    out.dead_letter(self.dlq, msg, "key-mismatch", detail, orjson.dumps(raw))
                    continue
                by_symbol.setdefault(bar.symbol, []).append((bar, msg))
        return by_symbol

    def process(self, msgs: list[InMessage], store: StateStore) -> Outbox:
        out = Outbox()
        for symbol, bars in self.valid_bars(msgs, out).items():
            daily: dict[str, dict[str, Any]] = {}
            for bar, _msg in bars:  # later bars for the same date revise earlier ones
                d = bar.date.isoformat()
                daily[d] = {
                    "symbol": symbol, "interval": "day", "start": d, "end": d, "open": bar.open,
                    "high": bar.high, "low": bar.low, "close": bar.close, "volume": bar.volume, "bars": 1,
                }
            out.add(self.names.prices, symbol, list(daily.values()))
        return out
