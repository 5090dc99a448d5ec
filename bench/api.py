"""Benchmark of the read API: `python bench/api.py --quick`.

Seeds PostgreSQL (DATABASE_URL, else an embedded PostgreSQL 16 in a temporary folder) with SYMBOLS x DAYS
daily bars, their rebound legs and states, and calendar statistics; serves the API (`turnpoint api serve`,
one worker per core) with each server of `--servers` in turn (default uvicorn, then granian: the same app,
workers and pool) and drives it with `wrk` (apt-get install -y wrk) on loopback: the symbols list sorted and
filtered, rebounds pages, stats pages, then all of them mixed. The baseline serves the same SQL through a
naive implementation (sync psycopg, a new connection per request, FastAPI's default JSON, uvicorn) under the
same load. Prints a table and a final JSON line; its `throughput` is the first server's.
`--pgdata DIR` keeps the embedded PostgreSQL's data between runs, so a second run skips the seeding (the
measurement is the same: the warm-up precedes every measured run either way).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import psycopg.rows
from fastapi import FastAPI, Request

ROOT = Path(__file__).resolve().parents[1]
DAY0 = "2015-01-02"
WRK_LUA = """
local paths = {%s}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT {\\"requests\\": %%d, \\"seconds\\": %%f, \\"non2xx\\": %%d, \\"errors\\": %%d, "
    .. "\\"p50\\": %%f, \\"p95\\": %%f, \\"p99\\": %%f}\\n",
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""

# ---------------------------------------------------------------- the naive baseline (served by uvicorn)

NAIVE_SQL: dict[str, str] = {}


def _named(sql: str) -> str:
    return re.sub(r"\$(\d+)", r"%(p\1)s", sql)


def naive_app_from_env() -> Any:
    """Sync handlers, psycopg, one new connection per request, default JSON: the baseline."""
    from turnpoint.api import repository as repo
    from turnpoint.api import symbol_list

    dsn = os.environ["BENCH_DSN"]
    app = FastAPI()

    def run(sql: str, *args: Any) -> list[dict[str, Any]]:
        with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            cur.execute(_named(sql), {f"p{i + 1}": a for i, a in enumerate(args)})
            return cur.fetchall()

    @app.get("/v1/symbols")
    def symbols(request: Request) -> dict[str, Any]:
        q = request.query_params
        f = symbol_list.SymbolFilter(
            q.get("gtype", "close"), q.get("market"), q.get("direction"),
            float(q["min_pct"]) if "min_pct" in q else None, float(q["max_pct"]) if "max_pct" in q else None,
            q.get("q"), q.get("sort", "symbol"), q.get("order", "asc"))
        sql, args = symbol_list.build(f, int(q.get("limit", 100)), None)
        return {"items": [symbol_list.item(r) for r in run(sql, *args)], "next_cursor": None}

    @app.get("/v1/symbols/{symbol}/rebounds")
    def rebounds(request: Request, symbol: str, gtype: str = "close", limit: int = 100) -> dict[str, Any]:
        lo = dt.date.fromisoformat(request.query_params.get("from", "0001-01-01"))
        return {"items": run(repo.LEGS, symbol, gtype, lo, repo.DATE_MAX, limit + 1), "next_cursor": None}

    @app.get("/v1/stats")
    def stats(request: Request, series: str, period: str = "day", limit: int = 100) -> dict[str, Any]:
        lo = dt.date.fromisoformat(request.query_params.get("from", "0001-01-01"))
        return {"items": run(repo.STATS, series, period, lo, -1, repo.DATE_MAX, limit + 1), "next_cursor": None}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


# ---------------------------------------------------------------- seeding

SEED_SQL = """
INSERT INTO symbol (symbol, name, market, status, designations)
SELECT 'S' || lpad(i::text, 5, '0'), 'Company ' || i,
       (ARRAY['KOSPI', 'KOSDAQ', 'KONEX'])[1 + i %% 3], 'listed', '{}'
FROM generate_series(1, %(n)s) i;

INSERT INTO price (symbol, interval, start, "end", open, high, low, close, volume, bars)
SELECT 'S' || lpad(i::text, 5, '0'), 'day', d, d, c, c * 1.01, c * 0.99, c, 1000 + (i * 7 + k) %% 5000, 1
FROM generate_series(1, %(n)s) i, generate_series(0, %(days)s - 1) k,
     LATERAL (SELECT %(day0)s::date + k AS d, 100 + 20 * sin(k / 15.0 + i) + i %% 50 AS c) v;

INSERT INTO latest_bar (symbol, start, open, high, low, close, volume)
SELECT DISTINCT ON (symbol) symbol, start, open, high, low, close, volume FROM price
WHERE interval = 'day' ORDER BY symbol, start DESC;

INSERT INTO rebound_leg (symbol, gtype, start_date, start_value, end_date, end_value, bars, change, pct, direction)
SELECT 'S' || lpad(i::text, 5, '0'), 'close', %(day0)s::date + 5 * j, s, %(day0)s::date + 5 * j + 5, e, 5, e - s,
       (e / s - 1) * 100, CASE WHEN j %% 2 = 0 THEN 'up' ELSE 'down' END
FROM generate_series(1, %(n)s) i, generate_series(0, %(days)s / 5 - 2) j,
     LATERAL (SELECT 100.0 + (i + j) %% 13 AS s, 100.0 + (i + j) %% 13 + CASE WHEN j %% 2 = 0 THEN 6 ELSE -6 END AS e) v;

INSERT INTO rebound_state (symbol, gtype, threshold, direction, pivot_date, pivot_value, extreme_date, extreme_value,
                           last_date, last_value, bars_since_pivot, pct_from_pivot, pct_from_extreme)
SELECT 'S' || lpad(i::text, 5, '0'), g, 0, (ARRAY['none', 'up', 'down'])[1 + (i + length(g)) %% 3],
       %(day0)s::date + %(days)s - 10, 100, %(day0)s::date + %(days)s - 5, 110, %(day0)s::date + %(days)s - 1, 105,
       (i %% 9) + 1, ((i * 37 + length(g)) %% 400 - 200) / 10.0, ((i * 53) %% 200 - 100) / 10.0
FROM generate_series(1, %(n)s) i, unnest(ARRAY['open', 'high', 'low', 'close']) g;

INSERT INTO calendar_stat (series, period, start, weekday, count, mean, std, min, max, tz)
SELECT 'sensor/' || s, 'day', %(day0)s::date + k, 0, 24, 20 + s %% 7, 1.5, 15, 25, 'UTC'
FROM generate_series(1, %(series)s) s, generate_series(0, %(days)s - 1) k;
"""


def seed(dsn: str, symbols: int, days: int, series: int) -> dict[str, int]:
    from turnpoint.loader.migrations import migrate

    migrate(dsn)
    expected = {"symbol": symbols, "price": symbols * days, "calendar_stat": series * days}
    with psycopg.connect(dsn, autocommit=True) as conn:
        found = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in expected}  # type: ignore[index]
        if found == expected:
            print("  (reusing the seeded database: same symbols, days and series)", flush=True)
        else:
            for table in ("price", "latest_bar", "rebound_leg", "rebound_state", "calendar_stat", "symbol"):
                conn.execute(f"TRUNCATE {table}")
            for statement in SEED_SQL.split(";\n\n"):
                started = time.perf_counter()
                conn.execute(statement, {"n": symbols, "days": days, "series": series, "day0": DAY0})
                print(f"  {statement.split()[2]:<15} {time.perf_counter() - started:6.1f} s", flush=True)
            conn.execute("VACUUM ANALYZE")
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
                for t in ("symbol", "price", "latest_bar", "rebound_leg", "rebound_state", "calendar_stat")}


# ---------------------------------------------------------------- load

def workloads(symbols: int, days: int, series: int, rng: random.Random) -> dict[str, list[str]]:
    day0 = dt.date.fromisoformat(DAY0)

    def sym() -> str:
        return f"S{rng.randint(1, symbols):05d}"

    def day() -> str:
        return (day0 + dt.timedelta(days=rng.randint(0, max(0, days - 100)))).isoformat()

    sorts = ("pct_from_pivot", "pct_from_extreme", "bars_since_pivot", "last_value")
    return {
        "symbols_sorted": [f"/v1/symbols?sort={rng.choice(sorts)}&order={rng.choice(('asc', 'desc'))}"
                           f"&gtype={rng.choice(('close', 'open', 'high', 'low'))}&limit=50" for _ in range(200)],
        "symbols_filtered": [f"/v1/symbols?market={rng.choice(('KOSPI', 'KOSDAQ'))}&direction={rng.choice(('up', 'down'))}"
                             f"&min_pct={rng.randint(-20, 0)}&max_pct={rng.randint(1, 20)}&sort=pct_from_pivot&order=desc"
                             f"&limit=50" for _ in range(200)],
        "rebounds": [f"/v1/symbols/{sym()}/rebounds?gtype=close&from={day()}&limit=100" for _ in range(500)],
        "stats": [f"/v1/stats?series=sensor/{rng.randint(1, series)}&period=day&from={day()}&limit=100"
                  for _ in range(500)],
    }


# ---------------------------------------------------------------- CPU accounting
# Throughput on a shared 2-core machine depends on whatever else runs; CPU time per request does much less.
# Each run records the CPU seconds spent by the server's processes, PostgreSQL's and wrk itself, per request:
# 2 cores x 1000 ms / (total CPU ms per request) is the ceiling of this machine when nothing else runs.

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[int, int, float]]:
    """pid -> (parent pid, process group, CPU seconds) of every process we can read."""
    table: dict[int, tuple[int, int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), (int(fields[11]) + int(fields[12])) / _TICK)
    return table


def _reaped_children_cpu(pid: int) -> float:
    try:
        fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[13]) + int(fields[14])) / _TICK


def _descendants(table: dict[int, tuple[int, int, float]], root: int) -> set[int]:
    found, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _, _) in table.items() if ppid == parent and pid not in found]
        found.update(children)
        frontier.extend(children)
    return found


class CpuMeter:
    """CPU seconds of the server (its process group) and of PostgreSQL (the postmaster's children)."""

    def __init__(self, server_pgid: int, postmaster: int | None) -> None:
        self.server_pgid, self.postmaster = server_pgid, postmaster

    def sample(self) -> dict[str, float]:
        table = _proc_table()
        server = sum(cpu for _, pgid, cpu in table.values() if pgid == self.server_pgid)
        pg = 0.0
        if self.postmaster:
            pg = sum(table[p][2] for p in _descendants(table, self.postmaster) if p in table)
            pg += _reaped_children_cpu(self.postmaster)  # backends that already exited (the naive baseline's)
        return {"server": server, "postgres": pg}


def postmaster_of(dsn: str) -> int | None:
    """The postmaster's pid (the parent of our backend), when PostgreSQL runs on this machine."""
    with psycopg.connect(dsn) as conn:  # read /proc while the backend lives (it exits when the connection closes)
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        try:
            return int((Path("/proc") / str(backend) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return None


def wrk(url: str, paths: list[str], seconds: float, connections: int, threads: int,
        meter: CpuMeter | None = None) -> dict[str, float]:
    import resource

    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA % ", ".join(json.dumps(p) for p in paths))
        script = f.name
    before = meter.sample() if meter else None
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()[0]
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", script, url],
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        ).stdout
    finally:
        os.unlink(script)
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    result["rps"] = result["requests"] / result["seconds"]
    result["load"] = max(load_before, os.getloadavg()[0])
    per_request = 1000 / max(result["requests"], 1)
    wrk_cpu = (after_children.ru_utime + after_children.ru_stime) - (children.ru_utime + children.ru_stime)
    result["cpu_ms_wrk"] = wrk_cpu * per_request
    if meter and before:
        after = meter.sample()
        result["cpu_ms_server"] = (after["server"] - before["server"]) * per_request
        result["cpu_ms_postgres"] = (after["postgres"] - before["postgres"]) * per_request
    return result


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    msg = f"server at {url} did not become healthy within {timeout:.0f}s"
    raise SystemExit(msg)


def serve(kind: str, dsn: str, port: int, workers: int, pool: int, log: Path) -> subprocess.Popen[bytes]:
    """`kind` is a server of `turnpoint api serve --server` (uvicorn, granian) or `naive`."""
    env = {**os.environ, "TURNPOINT_DATABASE_URL": dsn, "BENCH_DSN": dsn, "TURNPOINT_LOG_LEVEL": "WARNING",
           "TURNPOINT_API__POOL_MAX_SIZE": str(pool), "TURNPOINT_API__POOL_MIN_SIZE": str(pool)}
    if kind != "naive":
        cmd = [sys.executable, "-m", "turnpoint.cli.main", "api", "serve", "--server", kind, "--port", str(port),
               "--workers", str(workers)]
    else:
        cmd = [sys.executable, __file__, "--serve-naive", "--port", str(port), "--workers", str(workers)]
    return subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _report(kind: str, name: str, r: dict[str, Any]) -> None:
    cpu = r.get("cpu_ms_server", 0) + r.get("cpu_ms_postgres", 0) + r["cpu_ms_wrk"]
    r["ceiling_rps"] = (os.cpu_count() or 2) * 1000 / cpu if cpu else 0
    print(f"  {kind:<7} {name:<17} {r['rps']:7.0f} req/s  p50 {r['p50']:6.1f}  p95 {r['p95']:6.1f}"
          f"  p99 {r['p99']:6.1f} ms  non-2xx {r['non2xx']}  err {r['errors']}  load {r['load']:4.1f}"
          f"  CPU ms/req: server {r.get('cpu_ms_server', 0):.2f} pg {r.get('cpu_ms_postgres', 0):.2f}"
          f" wrk {r['cpu_ms_wrk']:.2f} -> ceiling {r['ceiling_rps']:.0f} req/s", flush=True)


def measure(kinds: list[str], dsn: str, loads: dict[str, list[str]], args: argparse.Namespace,
            tmp: Path) -> dict[str, dict[str, Any]]:
    """Serve every kind at once (idle ones cost nothing) and drive them in turn, workload by workload.

    Interleaving keeps the comparison fair on a shared machine whose load changes from minute to minute: a
    burst of someone else's work lands on neighbouring measurements of every kind, not on one kind's whole
    series. The order of the kinds rotates from one workload to the next.
    """
    from turnpoint.cli.embedded import free_port

    procs: dict[str, subprocess.Popen[bytes]] = {}
    urls: dict[str, str] = {}
    try:
        for kind in kinds:
            port = free_port()
            procs[kind] = serve(kind, dsn, port, args.workers, args.pool, tmp / f"{kind}.log")
            urls[kind] = f"http://127.0.0.1:{port}"
        for kind, url in urls.items():
            wait_ready(url)
            for path in (loads["rebounds"][0], loads["stats"][0], loads["symbols_sorted"][0]):
                r = httpx.get(url + path, timeout=10)
                if r.status_code != 200:
                    msg = f"{kind}: GET {path} answered {r.status_code}: {r.text[:300]}"
                    raise SystemExit(msg)
            wrk(url, [p for ps in loads.values() for p in ps], 2, args.connections, args.threads)  # warm-up
        postmaster = postmaster_of(dsn)
        meters = {kind: CpuMeter(proc.pid, postmaster) for kind, proc in procs.items()}
        mixed = [p for group in zip(*loads.values(), strict=False) for p in group]
        runs = [(name, paths, args.connections) for name, paths in [*loads.items(), ("mixed", mixed)]]
        runs += [(f"mixed@c{c}", mixed, c) for c in args.sweep if c != args.connections]
        results: dict[str, dict[str, Any]] = {kind: {} for kind in kinds}
        for i, (name, paths, connections) in enumerate(runs):
            for kind in kinds[i % len(kinds):] + kinds[:i % len(kinds)]:
                if kind == "naive" and "@" in name:
                    continue  # the sweep is the API's
                r = wrk(urls[kind], paths, args.duration, connections, min(args.threads, connections), meters[kind])
                results[kind][name] = r
                _report(kind, name, r)
        return results
    finally:
        for proc in procs.values():
            stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer days of bars and shorter runs (< 4 minutes)")
    parser.add_argument("--symbols", type=int, default=5000)
    parser.add_argument("--days", type=int, default=None, help="days of bars per symbol (default 2000, quick 400)")
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--duration", type=float, default=None, help="seconds per wrk run (default 15, quick 5)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--pool", type=int, default=8, help="the API's connections per worker")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (they share the cores with the server)")
    parser.add_argument("--servers", type=lambda v: [s for s in v.split(",") if s], default=["uvicorn", "granian"],
                        help="servers of `turnpoint api serve --server` to measure, in this order (the first one's"
                             " mixed throughput is the headline figure)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--sweep", type=lambda v: [int(c) for c in v.split(",") if c], default=[],
                        help="also run the API's mixed load at these numbers of connections, e.g. 4,8,16 (latency"
                             " against concurrency: on a few shared cores the p99 is mostly queueing)")
    parser.add_argument("--pgdata", type=Path, default=None,
                        help="keep the embedded PostgreSQL's data in this folder between runs (seeded again only when"
                             " --symbols, --days or --series differ); default: a temporary folder")
    parser.add_argument("--serve-naive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_naive:
        import uvicorn

        uvicorn.run("api:naive_app_from_env", factory=True, app_dir=str(Path(__file__).parent), host="127.0.0.1",
                    port=args.port, workers=args.workers, log_level="warning", access_log=False)
        return
    if shutil.which("wrk") is None:
        msg = "wrk is needed as the load generator: apt-get install -y wrk"
        raise SystemExit(msg)
    args.days = args.days or (400 if args.quick else 2000)
    args.duration = args.duration or (5 if args.quick else 15)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmpdir:
        tmp = Path(tmpdir)
        pg = None
        dsn = os.environ.get("DATABASE_URL")
        if dsn is None:
            from turnpoint.cli.embedded import free_port, start_postgres

            pg = start_postgres(args.pgdata or tmp / "pg", free_port(), database="bench")
            dsn = pg.url
        try:
            print(f"seeding {args.symbols} symbols x {args.days} days"
                  f"{' (--quick: fewer days than the 2,000 of the full run)' if args.quick else ''}", flush=True)
            rows = seed(dsn, args.symbols, args.days, args.series)
            print(f"  rows: {rows}  ({time.perf_counter() - started:.0f} s)", flush=True)
            loads = workloads(args.symbols, args.days, args.series, random.Random(42))
            measured = measure([*args.servers, *([] if args.skip_baseline else ["naive"])], dsn, loads, args, tmp)
            naive = measured.pop("naive", None)
            servers = measured
        finally:
            if pg is not None:
                from turnpoint.cli.embedded import stop_postgres

                stop_postgres(pg.pgdata, mode="fast" if args.pgdata else "immediate")
    api = servers[args.servers[0]]
    summary = {
        "bench": "api", "server": args.servers[0], "quick": args.quick, "unit": "req/s",
        "throughput": round(api["mixed"]["rps"], 1),
        "baseline": round(naive["mixed"]["rps"], 1) if naive else None,
        "ratio": round(api["mixed"]["rps"] / naive["mixed"]["rps"], 2) if naive else None,
        "p99_ms": round(api["mixed"]["p99"], 2),
        "targets": {"throughput": 1500, "p99_ms": 50},
        "endpoints": {k: {m: round(v.get(m, 0), 2) for m in ("rps", "p50", "p95", "p99", "non2xx", "load", "cpu_ms_server",
                                                          "cpu_ms_postgres", "cpu_ms_wrk", "ceiling_rps")}
                      for k, v in api.items()},
        "baseline_endpoints": ({k: {m: round(v.get(m, 0), 2) for m in ("rps", "p50", "p95", "p99", "cpu_ms_server",
                                                                   "cpu_ms_postgres", "ceiling_rps")}
                                for k, v in naive.items()}
                               if naive else None),
        "servers": {server: {m: round(r["mixed"][m], 2) for m in ("rps", "p50", "p99", "cpu_ms_server", "cpu_ms_postgres")}
                    | {"ratio_to_naive": round(r["mixed"]["rps"] / naive["mixed"]["rps"], 2) if naive else None}
                    for server, r in servers.items()},
        "rows": rows, "symbols": args.symbols, "days": args.days, "connections": args.connections,
        "workers": args.workers, "pool": args.pool, "wrk_threads": args.threads, "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
