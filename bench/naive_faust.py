"""The baseline of bench/transform.py: a plain Faust agent, one bar per message, one table update per event.

This is how a first Faust version of the rebound job is usually written: iterate the stream event by
event, read the symbol's zigzag state from a table, update it, write it back (one changelog record per
event), and send a leg when one is confirmed. Close prices only, threshold 0.

usage: python bench/naive_faust.py BOOTSTRAP INPUT_TOPIC OUTPUT_TOPIC APP_ID PORT
"""

from __future__ import annotations

import sys
from typing import Any

import faust


def main(bootstrap: str, source: str, sink: str, app_id: str, port: int) -> None:
    app = faust.App(app_id, broker=f"kafka://{bootstrap}", store="memory://", topic_partitions=2,
                    broker_session_timeout=6.0, broker_heartbeat_interval=1.0, broker_commit_interval=1.0,
                    web_port=port, topic_replication_factor=1)
    bars = app.topic(source, value_serializer="json", partitions=2)
    legs = app.topic(sink, value_serializer="json", partitions=2)
    table = app.Table(f"{app_id}-zigzag", default=dict, partitions=2)

    @app.agent(bars)
    async def zigzag(stream: Any) -> None:
        async for bar in stream:
            symbol, y, i = bar["symbol"], bar["close"], bar["i"]
            st = table[symbol]
            if not st:
                table[symbol] = {"p": [i, y], "e": [i, y], "d": 0}
                continue
            p, e, d = st["p"], st["e"], st["d"]
            if d == 0:
                if y > p[1]:
                    d, e = 1, [i, y]
                elif y < p[1]:
                    d, e = -1, [i, y]
            elif (d == 1 and y > e[1]) or (d == -1 and y < e[1]):
                e = [i, y]
            elif (d == 1 and y < e[1]) or (d == -1 and y > e[1]):
                await legs.send(key=symbol.encode(), value={"symbol": symbol, "start": p, "end": e, "d": d})
                p, e, d = e, [i, y], -d
            table[symbol] = {"p": p, "e": e, "d": d}

    from faust.worker import Worker

    Worker(app, loglevel="warn", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
