"""The three batch commands against independent implementations of the SPEC, same input, same run.

    .venv/bin/python bench/batch.py [--quick] [--reps 3]

- ``turnpoint batch rebounds`` against a plain-Python loop of SPEC section 1 (csv module, dicts, the zigzag
  rule written out again here) — goal: >= 2x;
- ``turnpoint batch stats`` and ``batch outliers`` against pandas implementations of SPEC sections 2 and 3
  (read_csv, to_datetime, groupby; rolling day sums for the outlier reference) — goal: >= 1.5x; the
  plain-Python versions are timed too.

Every implementation runs as its own process, end to end (start-up, read, compute, write CSV), the way
a user runs it; the runs are interleaved, ``--reps`` times, after one untimed run of each that writes the
bytecode cache (see :func:`warm_env`). pandas is installed only into
``.turnpoint/peers/pandas`` (its own venv), never into the project's. Outputs are compared (legs byte for
byte, statistics and outliers by key with a relative tolerance of 1e-9). Figures are wall and CPU seconds
(user + system of each process: on a shared, loaded machine the CPU time is the steadier one), rows per
CPU-second, each process's peak RSS, the load average around the reps, and ratios peer time / turnpoint time (above 1: turnpoint is faster); the last line is JSON.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEERS = REPO / ".turnpoint" / "peers"
UV = REPO / ".tools" / "bin" / "uv"

PLAIN_REBOUNDS = r'''
import csv, sys
inp, out = sys.argv[1], sys.argv[2]
bars = {}
with open(inp, newline="") as f:
    r = csv.reader(f)
    h = next(r)
    i = {n: k for k, n in enumerate(h)}
    s, d, o, hi, lo, c = i["symbol"], i["date"], i["open"], i["high"], i["low"], i["close"]
    for row in r:
        bars.setdefault(row[s], {})[row[d]] = (float(row[o]), float(row[hi]), float(row[lo]), float(row[c]))
lines = []
for sym in sorted(bars):
    by_date = bars[sym]
    dates = sorted(by_date)
    for gname, g in (("close", 3), ("high", 1), ("low", 2), ("open", 0)):
        ys = [by_date[x][g] for x in dates]
        d = 0
        pi = ei = 0
        py = ey = ys[0]
        for k in range(1, len(ys)):
            y = ys[k]
            if d == 0:
                if y > py:
                    d, ei, ey = 1, k, y
                elif y < py:
                    d, ei, ey = -1, k, y
            elif d == 1:
                if y > ey:
                    ei, ey = k, y
                elif y < ey:
                    lines.append(f"{sym},{gname},{dates[pi]},{py!r},{dates[ei]},{ey!r},{ei - pi},{ey - py!r},"
                                 f"{(ey / py - 1.0) * 100.0!r},up\n")
                    pi, py, d, ei, ey = ei, ey, -1, k, y
            else:
                if y < ey:
                    ei, ey = k, y
                elif y > ey:
                    lines.append(f"{sym},{gname},{dates[pi]},{py!r},{dates[ei]},{ey!r},{ei - pi},{ey - py!r},"
                                 f"{(ey / py - 1.0) * 100.0!r},down\n")
                    pi, py, d, ei, ey = ei, ey, 1, k, y
with open(out, "w") as f:
    f.write("symbol,gtype,start_date,start_value,end_date,end_value,bars,change,pct,direction\n")
    f.writelines(lines)
'''

PLAIN_READINGS = r'''
import csv, sys, math, datetime as dt
from zoneinfo import ZoneInfo
kind, inp, out, tz = sys.argv[1:5]
zone = ZoneInfo(tz)
seen = {}
with open(inp, newline="") as f:
    r = csv.reader(f)
    h = next(r)
    i = {n: k for k, n in enumerate(h)}
    for row in r:
        ts = dt.datetime.fromisoformat(row[i["ts"]]).astimezone(dt.timezone.utc)
        seen[(row[i["series"]], ts)] = float(row[i["value"]])
days = {}
for (s, ts), v in seen.items():
    days.setdefault((s, ts.astimezone(zone).date()), []).append((ts, v))
def moments(vs):
    n = len(vs); m = sum(vs) / n
    return n, m, math.sqrt(sum((x - m) ** 2 for x in vs) / n), min(vs), max(vs)
with open(out, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    if kind == "stats":
        w.writerow(["series", "period", "start", "weekday", "count", "mean", "std", "min", "max"])
        groups = {}
        for (s, d), items in days.items():
            wd = d.isoweekday()
            m, y = d.replace(day=1), d.replace(month=1, day=1)
            for key in (("day", d, ""), ("week", d - dt.timedelta(days=wd - 1), ""), ("month", m, ""),
                        ("year", y, ""), ("month-weekday", m, wd), ("year-weekday", y, wd)):
                groups.setdefault((s, *key), []).extend(v for _, v in items)
        for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], k[3] or 0)):
            w.writerow([*key, *moments(groups[key])])
    else:
        W, N, K = 28, 30, 1.5
        w.writerow(["series", "ts", "value", "mean", "std", "direction"])
        rows = []
        for (s, d), items in days.items():
            ref = [v for j in range(1, W + 1) for _, v in days.get((s, d - dt.timedelta(days=j)), ())]
            if len(ref) < N:
                continue
            n, m, sd, _, _ = moments(ref)
            for ts, v in items:
                if v > m + K * sd or v < m - K * sd:
                    rows.append((s, ts, v, m, sd, "high" if v > m + K * sd else "low"))
        for s, ts, v, m, sd, direction in sorted(rows):
            w.writerow([s, ts.strftime("%Y-%m-%dT%H:%M:%S") + "Z", v, m, sd, direction])
'''

PANDAS_READINGS = r'''
import sys
import numpy as np
import pandas as pd
kind, inp, out, tz = sys.argv[1:5]
df = pd.read_csv(inp, usecols=["series", "ts", "value"], dtype={"series": str, "value": float})
df["ts"] = pd.to_datetime(df["ts"], utc=True, format="ISO8601")
df = df.drop_duplicates(["series", "ts"], keep="last")
local = df["ts"].dt.tz_convert(tz).dt.tz_localize(None)
day = local.dt.normalize()
if kind == "stats":
    wd = local.dt.weekday + 1
    month = day - pd.to_timedelta(local.dt.day - 1, unit="D")
    year = day - pd.to_timedelta(local.dt.dayofyear - 1, unit="D")
    week = day - pd.to_timedelta(wd - 1, unit="D")
    none = pd.Series(0, index=df.index)
    parts = []
    for period, start, weekday in (("day", day, none), ("week", week, none), ("month", month, none),
                                   ("year", year, none), ("month-weekday", month, wd), ("year-weekday", year, wd)):
        g = df["value"].groupby([df["series"], start.rename("start"), weekday.rename("weekday")])
        a = g.agg(["count", "mean", "min", "max"])
        a["std"] = g.std(ddof=0)
        a = a.reset_index()
        a.insert(1, "period", period)
        parts.append(a)
    res = pd.concat(parts, ignore_index=True).sort_values(["series", "period", "start", "weekday"])
    res["start"] = res["start"].dt.strftime("%Y-%m-%d")
    res["weekday"] = res["weekday"].where(res["weekday"] > 0).astype("Int64")
    res[["series", "period", "start", "weekday", "count", "mean", "std", "min", "max"]].to_csv(out, index=False)
else:
    W, N, K = 28, 30, 1.5
    df["day"] = day
    daily = df.groupby(["series", "day"])["value"].agg(n="count", s="sum", q=lambda x: (x * x).sum())
    out_parts = []
    for series, g in daily.groupby(level=0):
        g = g.droplevel(0)
        g = g.reindex(pd.date_range(g.index.min(), g.index.max(), freq="D"), fill_value=0)
        ref = g.rolling(W, min_periods=1).sum().shift(1).fillna(0)
        mean = ref["s"] / ref["n"]
        std = np.sqrt(np.maximum(ref["q"] / ref["n"] - mean * mean, 0))
        out_parts.append(pd.DataFrame({"series": series, "day": g.index, "n": ref["n"].values, "mean": mean.values,
                                       "std": std.values}))
    ref = pd.concat(out_parts)
    m = df.merge(ref, on=["series", "day"])
    m = m[m["n"] >= N]
    hi, lo = m["mean"] + K * m["std"], m["mean"] - K * m["std"]
    m = m[(m["value"] > hi) | (m["value"] < lo)].copy()
    m["direction"] = np.where(m["value"] > m["mean"] + K * m["std"], "high", "low")
    m = m.sort_values(["series", "ts"])
    m["ts"] = m["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    m[["series", "ts", "value", "mean", "std", "direction"]].to_csv(out, index=False)
'''


def pandas_python() -> Path:
    """pandas in its own environment under .turnpoint/peers/pandas (made once)."""
    env = PEERS / "pandas"
    py = env / "bin" / "python"
    if not py.exists():
        env.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(UV), "venv", "-q", str(env), "--python", sys.executable], check=True)
        subprocess.run([str(UV), "pip", "install", "-q", "--python", str(py), "pandas>=2.2"], check=True)
    return py


def write_inputs(tmp: Path, symbols: int, days: int, series: int, readings: int) -> tuple[Path, Path]:
    rng = random.Random(17)
    bars = tmp / "bars.csv"
    with bars.open("w") as f:
        f.write("symbol,date,open,high,low,close,volume\n")
        for s in range(symbols):
            p, d = 100.0, dt.date(2015, 1, 1)
            for _ in range(days):
                o = p
                c = round(p * (1 + rng.gauss(0, 0.02)), 2)
                f.write(f"S{s:04d},{d},{o},{round(max(o, c) * 1.01, 2)},{round(min(o, c) * 0.99, 2)},{c},"
                        f"{rng.randint(1000, 99999)}\n")
                p, d = c, d + dt.timedelta(days=1)
    reads = tmp / "readings.csv"
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    with reads.open("w") as f:
        f.write("series,ts,value\n")
        for s in range(series):
            for i in range(readings):
                t = (base + dt.timedelta(minutes=15 * i)).isoformat().replace("+00:00", "Z")
                f.write(f"plant{s}/sensor,{t},{round(rng.gauss(50, 5) + (30 if rng.random() < 0.01 else 0), 3)}\n")
    return bars, reads


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one run, from the child's own
    rusage (``os.wait4``: the peak is this process's, not the largest of all children so far)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        msg = f"{' '.join(argv)} failed:\n{err[-2000:]}"
        raise SystemExit(msg)
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def warm_env(tmp: Path) -> dict[str, str]:
    """Every process (turnpoint and the peers alike) writes and reads Python's bytecode cache, as installed
    software does: with ``PYTHONDONTWRITEBYTECODE=1`` (the build machine's shells set it) every run would
    compile turnpoint, typer, numpy and pandas from source, 0.6-2 CPU-s that no user pays."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


def load(path: Path, keys: list[str]) -> dict[tuple[str, ...], dict[str, str]]:
    with path.open(newline="") as f:
        return {tuple(r[k] for k in keys): r for r in csv.DictReader(f)}


def same_rows(a: Path, b: Path, keys: list[str]) -> str:
    ra, rb = load(a, keys), load(b, keys)

    def eq(x: str, y: str) -> bool:
        if x == y:
            return True
        try:
            return math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-9)
        except ValueError:
            return False

    bad = sum(1 for k, r in ra.items() if k not in rb or not all(eq(v, rb[k][c]) for c, v in r.items()))
    return "equal" if not bad and len(ra) == len(rb) else f"{bad} of {len(ra)} differ ({len(rb)} rows vs {len(ra)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small inputs (20k bars, 20k readings)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-pandas", action="store_true", help="skip the pandas peer (no download)")
    args = ap.parse_args()
    symbols, days, series, readings = (50, 400, 5, 4000) if args.quick else (200, 1000, 20, 10000)
    tp = [sys.executable, "-m", "turnpoint.cli.main", "batch"]
    pd_py = None if args.no_pandas else pandas_python()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        bars, reads = write_inputs(tmp, symbols, days, series, readings)
        (tmp / "plain_rebounds.py").write_text(PLAIN_REBOUNDS)
        (tmp / "plain_readings.py").write_text(PLAIN_READINGS)
        (tmp / "pandas_readings.py").write_text(PANDAS_READINGS)
        jobs: dict[str, list[str]] = {
            "rebounds/turnpoint": [*tp, "rebounds", "-i", str(bars), "-o", str(tmp / "legs_tp.csv")],
            "rebounds/plain": [sys.executable, str(tmp / "plain_rebounds.py"), str(bars), str(tmp / "legs_plain.csv")],
        }
        for kind in ("stats", "outliers"):
            jobs[f"{kind}/turnpoint"] = [*tp, kind, "-i", str(reads), "-o", str(tmp / f"{kind}_tp.csv"), "--tz",
                                         "Asia/Seoul"]
            jobs[f"{kind}/plain"] = [sys.executable, str(tmp / "plain_readings.py"), kind, str(reads),
                                     str(tmp / f"{kind}_plain.csv"), "Asia/Seoul"]
            if pd_py is not None:
                jobs[f"{kind}/pandas"] = [str(pd_py), str(tmp / "pandas_readings.py"), kind, str(reads),
                                          str(tmp / f"{kind}_pandas.csv"), "Asia/Seoul"]
        env = warm_env(tmp)
        for argv in jobs.values():  # untimed: writes every implementation's bytecode cache
            timed(argv, env)
        times: dict[str, list[float]] = {k: [] for k in jobs}
        cpu: dict[str, list[float]] = {k: [] for k in jobs}
        rss: dict[str, list[float]] = {k: [] for k in jobs}
        loads = [os.getloadavg()[0]]
        for rep in range(args.reps):  # interleaved: each rep runs every job once
            order = list(jobs) if rep % 2 == 0 else list(reversed(jobs))
            for name in order:
                wall, used, peak = timed(jobs[name], env)
                times[name].append(wall)
                cpu[name].append(used)
                rss[name].append(peak)
            loads.append(os.getloadavg()[0])
        checks = {"legs turnpoint vs plain": "byte-identical" if (tmp / "legs_tp.csv").read_bytes() == (
            tmp / "legs_plain.csv").read_bytes() else "DIFFERENT"}
        for kind, keys in (("stats", ["series", "period", "start", "weekday"]), ("outliers", ["series", "ts"])):
            for peer in ("plain", "pandas"):
                if (tmp / f"{kind}_{peer}.csv").exists():
                    checks[f"{kind} turnpoint vs {peer}"] = same_rows(tmp / f"{kind}_tp.csv", tmp / f"{kind}_{peer}.csv",
                                                                      keys)
    rows = {"rebounds": symbols * days, "stats": series * readings, "outliers": series * readings}
    result: dict[str, object] = {"bars": rows["rebounds"], "readings": rows["stats"], "reps": args.reps,
                                 "load_1min": [round(x, 2) for x in loads]}
    print(f"load average (1 min) before and after each rep: {' '.join(f'{x:.2f}' for x in loads)}")
    print(f"{'job':22} {'wall (s)':>24} {'cpu (s)':>24} {'rows/cpu-s (best)':>18} {'peak RSS (MiB)':>16}")
    for name, ts in times.items():
        n = rows[name.split("/")[0]]
        print(f"{name:22} {' '.join(f'{x:6.2f}' for x in ts):>24} {' '.join(f'{x:6.2f}' for x in cpu[name]):>24} "
              f"{n / min(cpu[name]):18,.0f} {max(rss[name]):16.0f}")
        result[name] = {"wall": [round(x, 3) for x in ts], "cpu": [round(x, 3) for x in cpu[name]],
                        "peak_rss_mib": round(max(rss[name]), 1)}
    for cmd, peer in (("rebounds", "plain"), ("stats", "pandas"), ("outliers", "pandas"), ("stats", "plain"),
                      ("outliers", "plain")):
        if f"{cmd}/{peer}" in times:
            for kind, source in (("wall", times), ("cpu", cpu)):
                per_rep = [p / q for p, q in zip(source[f"{cmd}/{peer}"], source[f"{cmd}/turnpoint"], strict=True)]
                print(f"ratio {cmd} turnpoint / {peer} ({kind}): " + " ".join(f"x{r:.2f}" for r in per_rep))
                result[f"ratio_{cmd}_vs_{peer}_{kind}"] = [round(r, 2) for r in per_rep]
    for k, v in checks.items():
        print(f"check {k}: {v}")
    result["checks"] = checks
    print(json.dumps(result))


if __name__ == "__main__":
    main()
