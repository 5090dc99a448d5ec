"""Window summaries of many symbols in one request (the dashboard's symbols table shows one per row).

`GET /v1/rebounds/summary?symbols=A,B,...&gtype&days` answers, for each listed symbol with daily bars, what
`GET /v1/symbols/{symbol}/rebounds/summary` answers for it (SPEC 1: the legs that ended within its last `days`
trading days, count and mean pct per direction), in one statement: a page of 1,000 rows asked one request
per row took tens of seconds on a busy machine.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query

from turnpoint.api import schemas as s
from turnpoint.api.errors import InvalidParameter
from turnpoint.api.params import GTypeParam
from turnpoint.api.responses import JSONResponse
from turnpoint.api.routes import Db

router = APIRouter(prefix="/v1", tags=["symbols"])

MAX_SYMBOLS = 1000
FIELD = "symbols"
SYMBOL = re.compile(r"^[A-Za-z0-9._^=\-]{1,32}$")

WINDOWS = """
SELECT q.symbol, w.lo, w.hi, w.n, l.up_legs, l.up_mean_pct, l.down_legs, l.down_mean_pct
FROM unnest($1::text[]) WITH ORDINALITY AS q(symbol, pos)
CROSS JOIN LATERAL (
    SELECT min(start) AS lo, max(start) AS hi, count(*) AS n FROM (
        SELECT start FROM price WHERE symbol = q.symbol AND interval = 'day' ORDER BY start DESC LIMIT $3
    ) d
) w
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE direction = 'up') AS up_legs, avg(pct) FILTER (WHERE direction = 'up') AS up_mean_pct,
           count(*) FILTER (WHERE direction = 'down') AS down_legs,
           avg(pct) FILTER (WHERE direction = 'down') AS down_mean_pct
    FROM rebound_leg
    WHERE symbol = q.symbol AND gtype = $2 AND start_date <= w.hi AND end_date >= w.lo AND end_date <= w.hi
) l
WHERE w.n > 0
ORDER BY q.pos
"""


def _symbols(raw: str) -> list[str]:
    names = list(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    if not names or len(names) > MAX_SYMBOLS:
        msg = f"name 1 to {MAX_SYMBOLS} symbols, comma-separated (got {len(names)})"
        raise InvalidParameter(FIELD, msg)
    bad = [n for n in names if not SYMBOL.match(n)]
    if bad:
        msg = f"{bad[0]!r} is not a ticker symbol (letters, digits and . _ ^ = -, at most 32)"
        raise InvalidParameter(FIELD, msg)
    return names


@router.get("/rebounds/summary", response_model=s.Page[s.WindowOut], summary="Window summaries of many symbols (SPEC 1)")
async def window_summaries(
    db: Db,
    symbols: Annotated[str, Query(max_length=33 * MAX_SYMBOLS, description=f"comma-separated, at most {MAX_SYMBOLS}")],
    gtype: GTypeParam = "close",
    days: Annotated[int, Query(ge=1, le=10000, description="trading days in each symbol's window")] = 7,
) -> JSONResponse:
    """One item per listed symbol that has daily bars, in the order asked; the same values as
    `/v1/symbols/{symbol}/rebounds/summary` gives for each (symbols without bars are left out)."""
    rows = await db.fetch(WINDOWS, _symbols(symbols), gtype, days)
    items: list[dict[str, Any]] = [{
        "symbol": r["symbol"], "gtype": gtype, "days": days, "trading_days": r["n"], "from": r["lo"], "to": r["hi"],
        "up": {"legs": r["up_legs"], "mean_pct": r["up_mean_pct"]},
        "down": {"legs": r["down_legs"], "mean_pct": r["down_mean_pct"]},
    } for r in rows]
    return JSONResponse({"items": items, "next_cursor": None})
