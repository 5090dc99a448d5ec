"""How fast the dashboard renders, measured in the browser: `python bench/dashboard.py`.

Seeds PostgreSQL (DATABASE_URL, else an embedded PostgreSQL 16 in a temporary folder) with 2,000 symbols
(latest bar, state, a few days of bars and legs each) and one symbol with 2,500 daily bars and its zigzag
legs (theta = 0: a leg every couple of bars), serves the API (`turnpoint api serve`, one worker) and opens
the pages in Debian's chromium through Playwright (scripts/system-deps.sh installs it):

- the symbols page with 100 and 1,000 rows a page (the API's maximum; 2,000 symbols are two pages), and the
  page of 100 sorted by pct_from_pivot;
- the symbol page of the 2,500-bar symbol (candlesticks, volume, legs).

Each figure is the time from the navigation's start to the page's "rendered" mark (`performance.mark`, set
once the rows or the chart are drawn), median of `--runs` loads with a warm cache. The baseline is the same
run's time for the browser to fetch the page's JSON alone (`fetch` of the same /v1 URLs, no rendering), so
the ratio is what the rendering adds. Target (issue #18): under 1 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from _common import final_line

ROOT = Path(__file__).resolve().parents[1]
SEED = """
INSERT INTO symbol (symbol, name, market, status, designations)
SELECT 'S' || lpad(i::text, 5, '0'), 'Company ' || i, (ARRAY['KOSPI', 'KOSDAQ', 'KONEX'])[1 + i %% 3],
       CASE WHEN i %% 97 = 0 THEN 'suspended' ELSE 'listed' END,
       CASE WHEN i %% 41 = 0 THEN ARRAY['kospi200'] ELSE '{}' END
FROM generate_series(1, %(n)s) i;

INSERT INTO price (symbol, interval, start, "end", open, high, low, close, volume, bars)
SELECT 'S' || lpad(i::text, 5, '0'), 'day', d, d, c * 0.995, c * 1.01, c * 0.99, c, 1000 + (i * 7 + k) %% 5000, 1
FROM generate_series(1, %(n)s) i, generate_series(0, 29) k,
     LATERAL (SELECT '2024-01-01'::date + k AS d, 100 + 20 * sin(k / 3.0 + i) + i %% 50 AS c) v;

INSERT INTO rebound_leg (symbol, gtype, start_date, start_value, end_date, end_value, bars, change, pct, direction)
SELECT 'S' || lpad(i::text, 5, '0'), 'close', '2024-01-01'::date + 5 * j, s, '2024-01-01'::date + 5 * j + 5, e, 5,
       e - s, (e / s - 1) * 100, CASE WHEN j %% 2 = 0 THEN 'up' ELSE 'down' END
FROM generate_series(1, %(n)s) i, generate_series(0, 4) j,
     LATERAL (SELECT 100.0 + (i + j) %% 13 AS s, 100.0 + (i + j) %% 13 + CASE WHEN j %% 2 = 0 THEN 6 ELSE -6 END AS e) v;

INSERT INTO rebound_state (symbol, gtype, threshold, direction, pivot_date, pivot_value, extreme_date, extreme_value,
                           last_date, last_value, bars_since_pivot, pct_from_pivot, pct_from_extreme)
SELECT 'S' || lpad(i::text, 5, '0'), 'close', 0, (ARRAY['none', 'up', 'down'])[1 + i %% 3], '2024-01-20', 100,
       '2024-01-25', 110, '2024-01-30', 105, (i %% 9) + 1, ((i * 37) %% 400 - 200) / 10.0, ((i * 53) %% 200 - 100) / 10.0
FROM generate_series(1, %(n)s) i;

INSERT INTO symbol (symbol, name, market) VALUES ('BIG', 'Ten years of bars', 'KOSPI');

INSERT INTO price (symbol, interval, start, "end", open, high, low, close, volume, bars)
SELECT 'BIG', 'day', '2015-01-01'::date + k, '2015-01-01'::date + k, c * 0.995, c * 1.012, c * 0.988, c,
       100000 + (k * 7919) %% 50000, 1
FROM generate_series(0, %(bars)s - 1) k,
     LATERAL (SELECT 100 + 30 * sin(k / 40.0) + 8 * sin(k / 2.3) + 2 * sin(k * 7.7) + k / 50.0 AS c) v;

INSERT INTO latest_bar (symbol, start, open, high, low, close, volume)
SELECT DISTINCT ON (symbol) symbol, start, open, high, low, close, volume FROM price
WHERE interval = 'day' ORDER BY symbol, start DESC
"""


def rendered(page: Any, timeout: float = 60) -> None:
    """Wait for the page's `turnpoint.done`, polled from here (`wait_for_function` evals inside the page,
    which the pages' Content-Security-Policy refuses)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate("window.turnpoint && window.turnpoint.done === true"):
        if time.monotonic() > deadline:
            msg = f"{page.url} did not finish rendering within {timeout:.0f}s"
            raise SystemExit(msg)
        time.sleep(0.02)


def zigzag_legs(conn: psycopg.Connection) -> int:
    """The BIG symbol's legs with theta = 0, by the project's own algorithm (as `turnpoint batch rebounds`)."""
    from turnpoint.core.algorithms.rebounds import SymbolRebounds

    rows = conn.execute("SELECT start, open, high, low, close, volume FROM price WHERE symbol = 'BIG'"
                        " AND interval = 'day' ORDER BY start").fetchall()
    update = SymbolRebounds("BIG", threshold=0.0).apply([tuple(r) for r in rows])
    legs = [(leg["start_date"], leg["start_value"], leg["end_date"], leg["end_value"], leg["bars"], leg["change"],
             leg["pct"], leg["direction"]) for leg in update.legs if leg["gtype"] == "close" and not leg["deleted"]]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO rebound_leg (symbol, gtype, start_date, start_value, end_date, end_value, bars, change, pct,"
            " direction) VALUES ('BIG', 'close', %s, %s, %s, %s, %s, %s, %s, %s)", legs)
    return len(legs)


def seed(dsn: str, symbols: int, bars: int) -> int:
    from turnpoint.loader.migrations import migrate

    migrate(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in ("price", "latest_bar", "rebound_leg", "rebound_state", "symbol"):
            conn.execute(f"TRUNCATE {table}")
        for statement in SEED.split(";\n\n"):
            conn.execute(statement, {"n": symbols, "bars": bars})
        legs = zigzag_legs(conn)
        conn.execute("VACUUM ANALYZE")
    return legs


RENDERED = """(mark) => {
  const nav = performance.getEntriesByType('navigation')[0];
  const m = performance.getEntriesByName(mark)[0];
  return m ? m.startTime - nav.startTime : null;
}"""
# the baseline, run on a page of the same origin without the dashboard (/healthz): the same JSON, no rendering
FETCH_ONLY = """async (urls) => {
  const t0 = performance.now();
  await Promise.all(urls.map(async (u) => { let next = u;
    while (next) { const r = await (await fetch(next)).json();
      next = r.next_cursor ? u + (u.includes('?') ? '&' : '?') + 'cursor=' + encodeURIComponent(r.next_cursor) : null; } }));
  return performance.now() - t0;
}"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=2000)
    ap.add_argument("--bars", type=int, default=2500)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        msg = "chromium is needed: scripts/system-deps.sh (as root) installs it"
        raise SystemExit(msg)
    from turnpoint.cli.embedded import free_port, start_postgres, stop_postgres

    with tempfile.TemporaryDirectory(prefix="bench-dash-") as tmpdir:
        tmp = Path(tmpdir)
        dsn = os.environ.get("DATABASE_URL")
        own_pg = dsn is None
        if own_pg:
            dsn = start_postgres(tmp / "pg", free_port(), database="bench").url
        try:
            results, windows, steps, _legs = run(dsn, chromium, args)
        finally:
            if own_pg:
                stop_postgres(tmp / "pg")
    report(results, windows, steps)


def run(dsn: str, chromium: str, args: argparse.Namespace) -> tuple[Any, Any, Any, int]:
    from playwright.sync_api import sync_playwright

    from turnpoint.cli.embedded import free_port

    with tempfile.TemporaryDirectory(prefix="bench-dash-api-") as tmpdir:
        tmp = Path(tmpdir)
        legs = seed(dsn, args.symbols, args.bars)
        print(f"seeded {args.symbols} symbols + BIG ({args.bars} bars, {legs} legs)", flush=True)
        port = free_port()
        env = {**os.environ, "TURNPOINT_DATABASE_URL": dsn, "TURNPOINT_LOG_LEVEL": "WARNING"}
        api = subprocess.Popen([sys.executable, "-m", "turnpoint.cli.main", "api", "serve", "--port", str(port),
                                "--workers", "1"], env=env, stdout=(tmp / "api.log").open("wb"),
                               stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            pages = {
                "symbols, 100 rows": ("/?limit=100", "tp-symbols-rendered", ["/v1/symbols?gtype=close&limit=100"]),
                "symbols, 1,000 rows": ("/?limit=1000", "tp-symbols-rendered", ["/v1/symbols?gtype=close&limit=1000"]),
                "symbols, sorted": ("/?sort=pct_from_pivot&order=desc", "tp-symbols-rendered",
                                    ["/v1/symbols?gtype=close&sort=pct_from_pivot&order=desc&limit=100"]),
                f"chart, {args.bars:,} bars + {legs:,} legs": (
                    "/symbols/BIG?interval=day&gtype=close", "tp-chart-rendered",
                    ["/v1/symbols/BIG/bars?interval=day&limit=1000", "/v1/symbols/BIG/rebounds?gtype=close&limit=1000",
                     "/v1/symbols/BIG/state?gtype=close"]),
            }
            results: dict[str, tuple[float, float]] = {}
            windows: dict[str, float] = {}
            steps: dict[str, list[list[float | None]]] = {}
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1440, "height": 960})
                for name, (path, mark, urls) in pages.items():
                    render_ms, fetched, filled = [], [], []
                    for _ in range(args.runs + 1):  # the first load warms the cache (echarts.min.js)
                        page.goto(base + path)
                        rendered(page)
                        render_ms.append(page.evaluate(RENDERED, mark))
                        steps.setdefault(name, []).append(
                            [page.evaluate(RENDERED, m) for m in ("tp-app", "tp-chart-data", "tp-chart-drawn", mark)])
                        if mark == "tp-symbols-rendered":  # the window column, filled after the rows
                            deadline = time.monotonic() + 60
                            while page.evaluate(RENDERED, "tp-windows-filled") is None and time.monotonic() < deadline:
                                time.sleep(0.02)
                            filled.append(page.evaluate(RENDERED, "tp-windows-filled"))
                        page.goto(base + "/healthz")
                        fetched.append(page.evaluate(FETCH_ONLY, urls))
                    results[name] = (statistics.median(render_ms[1:]), statistics.median(fetched[1:]))
                    if filled:
                        windows[name] = statistics.median(filled[1:])
                browser.close()
        finally:
            api.terminate()
            api.wait(30)
    return results, windows, steps, legs


def report(results: dict[str, tuple[float, float]], windows: dict[str, float],
           steps: dict[str, list[list[float | None]]]) -> None:
    print(f"\n{'page':<34} {'rendered ms':>12} {'fetch only ms':>14} {'ratio':>6}  target < 1000 ms")
    for name, (r, f) in results.items():
        print(f"{name:<34} {r:>12.0f} {f:>14.0f} {r / f:>6.1f}  {'ok' if r < 1000 else 'MISSED'}")
    for name, runs in steps.items():
        app_ms, data_ms, drawn_ms, done_ms = (statistics.median(x for x in col if x is not None) if any(
            x is not None for x in col) else float("nan") for col in zip(*runs[1:], strict=True))
        print(f"  {name}: app.js running at {app_ms:.0f} ms (HTML, CSS, echarts.min.js), data in at {data_ms:.0f} ms,"
              f" chart drawn at {drawn_ms:.0f} ms, rendered at {done_ms:.0f} ms")
    for name, ms in windows.items():
        print(f"  {name}: the window column (one /v1/rebounds/summary request) filled after {ms:.0f} ms")
    worst = max(r for r, _ in results.values())
    chart = next(v for k, v in results.items() if k.startswith("chart"))
    final_line("dashboard", chart[0], "ms", "fetch_only", chart[1], worst_ms=round(worst), target_ms=1000,
               pages={k: round(v[0]) for k, v in results.items()})


if __name__ == "__main__":
    main()
