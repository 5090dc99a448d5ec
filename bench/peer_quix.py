"""The peer of bench/transform.py: turnpoint's own per-symbol processor under Quix Streams.

Runs in its own environment (`.turnpoint/peers/quix`, made by `bench/transform.py --peer quix`), never in
the project's venv. The job is the turnpoint worker's bar job: validate each message's bars, apply them to
the symbol's `SymbolRebounds` (4 gtypes, weekly and monthly bars) kept in Quix's state store, and send the
daily prices with the week/month aggregates, the legs and the rebound states to three output topics as
turnpoint envelopes. Commits every second, as the turnpoint worker does.

usage: python bench/peer_quix.py BOOTSTRAP GROUP BARS PRICES LEGS STATES STATE_DIR
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import orjson
from quixstreams import Application, State

from turnpoint.core.algorithms import SymbolRebounds


def _envelope(items: list[Any]) -> bytes:
    return orjson.dumps({"v": 1, "items": items})


def process(value: bytes, state: State) -> dict[str, bytes | None]:
    items = orjson.loads(value)["items"]
    symbol = items[0]["symbol"]
    raw = state.get("rebounds")
    rebounds = SymbolRebounds.from_bytes(raw) if raw is not None else SymbolRebounds(symbol)
    bars = [(dt.date.fromisoformat(b["date"]), b["open"], b["high"], b["low"], b["close"], b["volume"])
            for b in items if b["symbol"] == symbol]
    update = rebounds.apply(bars)  # validates every bar's values, as the worker's fast path does
    refused = {r["date"] for r in update.rejected}
    daily = [{"symbol": symbol, "interval": "day", "start": d.isoformat(), "end": d.isoformat(), "open": o,
              "high": h, "low": lo, "close": c, "volume": v, "bars": 1}
             for d, o, h, lo, c, v in bars if d not in refused]
    if update.accepted:
        state.set("rebounds", rebounds.to_bytes().decode())
    return {"prices": _envelope([*daily, *update.bars]),
            "legs": _envelope(update.legs) if update.legs else None,
            "states": _envelope(update.states) if update.states else None}


def main(bootstrap: str, group: str, bars: str, prices: str, legs: str, states: str, state_dir: str) -> None:
    app = Application(
        broker_address=bootstrap, consumer_group=group, auto_offset_reset="earliest", commit_interval=1.0,
        state_dir=state_dir, loglevel="WARNING", use_changelog_topics=True,
        consumer_extra_config={"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000},
    )
    source = app.topic(bars, key_deserializer="str", value_deserializer="bytes")
    # Tansu answers DescribeConfigs with no configs; Quix derives its changelog's retention from them.
    source.broker_config.extra_config.setdefault("retention.ms", "-1")
    outputs = {name: app.topic(topic, key_serializer="str", value_serializer="bytes")
               for name, topic in (("prices", prices), ("legs", legs), ("states", states))}
    sdf = app.dataframe(source).apply(process, stateful=True)
    for name, topic in outputs.items():
        sdf.apply(lambda out, name=name: out[name]).filter(lambda v: v is not None).to_topic(topic)
    app.run()


if __name__ == "__main__":
    main(*sys.argv[1:8])
