"""Start-up cost of the command line: CPU seconds of `turnpoint --help` and of the batch commands on tiny files.

    .venv/bin/python bench/startup.py [--reps 5]

Each command runs as its own process, the way a user runs it, ``--reps`` times interleaved; the figure is
the CPU time (user + system) of the process, the minimum and the median of the runs, with its peak RSS and
the load average around the reps, beside the same run's baselines: a bare interpreter (``python -c pass``) and ``import typer``.

Two conditions, because they differ by 2-3x:

- **warm**: Python's bytecode cache is written and used (``PYTHONPYCACHEPREFIX`` in a temporary folder,
  one untimed run first). This is what a user sees from the second run on, and from the first in the
  image (``UV_COMPILE_BYTECODE=1``). The goal (< 0.3 s) is about this one.
- **cold**: no bytecode cache (``PYTHONDONTWRITEBYTECODE=1`` and an empty prefix): every module is
  compiled from source on every run. The build machine's shells set that variable, which is why earlier
  figures taken there (0.44 s for `--help`, 0.71 s for a batch command) were 2-3x what users see.

The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def cpu_of(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """CPU seconds (user + system) and peak RSS (MiB) of one run, from the child's own rusage."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        msg = f"{' '.join(argv)} failed ({proc.returncode}):\n{err[-2000:]}"
        raise SystemExit(msg)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        bars, reads = tmp / "bars.csv", tmp / "readings.csv"
        bars.write_text("symbol,date,open,high,low,close,volume\nS1,2024-01-02,10.0,11.0,9.0,10.5,100\n"
                        "S1,2024-01-03,10.5,12.0,10.0,11.5,100\n")
        reads.write_text("series,ts,value\ns1,2024-01-01T00:00:00Z,1.5\ns1,2024-01-01T01:00:00Z,2.5\n")
        tp = [py, "-m", "turnpoint.cli.main"]
        jobs = {
            "python -c pass": [py, "-c", "pass"],
            "python -c 'import typer'": [py, "-c", "import typer"],
            "turnpoint --help": [*tp, "--help"],
            "turnpoint batch stats --help": [*tp, "batch", "stats", "--help"],
            "batch rebounds (2 rows)": [*tp, "batch", "rebounds", "-i", str(bars), "-o", str(tmp / "l.csv")],
            "batch stats (2 rows)": [*tp, "batch", "stats", "-i", str(reads), "-o", str(tmp / "s.csv")],
            "batch outliers (2 rows)": [*tp, "batch", "outliers", "-i", str(reads), "-o", str(tmp / "o.csv")],
        }
        base = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
        envs = {
            "warm": {**base, "PYTHONPYCACHEPREFIX": str(tmp / "pycache")},
            "cold": {**base, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(tmp / "empty")},
        }
        for argv in jobs.values():  # the untimed run that writes the warm cache
            cpu_of(argv, envs["warm"])
        cpu: dict[str, dict[str, list[float]]] = {c: {k: [] for k in jobs} for c in envs}
        rss: dict[str, list[float]] = {k: [] for k in jobs}
        loads = [os.getloadavg()[0]]
        for rep in range(args.reps):
            for cond, env in envs.items():
                for name in jobs if rep % 2 == 0 else reversed(list(jobs)):
                    used, peak = cpu_of(jobs[name], env)
                    cpu[cond][name].append(used)
                    if cond == "warm":
                        rss[name].append(peak)
            loads.append(os.getloadavg()[0])
    result: dict[str, object] = {"reps": args.reps, "load_1min": [round(x, 2) for x in loads]}
    print(f"load average (1 min) before and after each rep: {' '.join(f'{x:.2f}' for x in loads)}")
    print(f"{'command':32} {'warm min':>9} {'warm med':>9} {'cold min':>9} {'cold med':>9} {'peak RSS':>9}"
          f"   (CPU seconds; warm peak RSS, MiB)")
    for name in jobs:
        w, c = cpu["warm"][name], cpu["cold"][name]
        print(f"{name:32} {min(w):9.3f} {statistics.median(w):9.3f} {min(c):9.3f} {statistics.median(c):9.3f}"
              f" {max(rss[name]):9.0f}")
        result[name] = {"warm": [round(x, 3) for x in w], "cold": [round(x, 3) for x in c],
                        "peak_rss_mib": round(max(rss[name]), 1)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
