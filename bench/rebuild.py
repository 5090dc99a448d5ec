"""How long the embedded stack takes to come back after `dev down` + `dev up` on an empty broker.

    python bench/rebuild.py --quick      # 200 symbols x 500 days (100,000 bars) + 10 series x 20 days
    python bench/rebuild.py              # 1,000 symbols x 1,000 days (1,000,000 bars) + 10 series x 60 days

A history goes in through the drop folder (the same-run baseline: backfill → every consumer group idle),
`dev down`, then `dev up` re-publishes it from PostgreSQL (`restore`, timed by dev up itself) and the
transform and the loader work it off again (`dev wait-idle`). Figures: both phases, the rebuild's total
per million bars (extrapolated linearly from the size run), its ratio to the backfill, and the database
checked row for row against `turnpoint batch`. Final line: JSON with "bench": "rebuild".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.devstack_harness import DevStack  # noqa: E402
from support.feeders import HttpFeeder, drop_market_file  # noqa: E402
from support.pipeline_check import Inputs, check_database, market_rows, reading_rows  # noqa: E402

from turnpoint.core.dates import trading_days  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--symbols", type=int)
    p.add_argument("--days", type=int)
    args = p.parse_args()
    symbols = args.symbols or (200 if args.quick else 1000)
    days = args.days or (500 if args.quick else 1000)
    reading_days = 20 if args.quick else 60
    rng = random.Random(5)
    home = Path(tempfile.mkdtemp(prefix="turnpoint-bench-rebuild-"))
    home.chmod(0o755)
    stack = DevStack(home)
    inputs = Inputs(home / "inputs")
    try:
        stack.up()
        token = stack.create_token("bench", "write:readings")
        calendar = trading_days(dt.date(2018, 1, 2), days)
        t0 = time.monotonic()
        for i in range(0, symbols, 50):
            rows = market_rows([f"S{n:05d}" for n in range(i, min(i + 50, symbols))], calendar, rng)
            inputs.add_bars(rows)
            drop_market_file(home / "drop", f"history-{i:05d}", rows)
        readings = reading_rows([f"bench/r{i}" for i in range(10)], dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                                reading_days, 96, rng)
        HttpFeeder(stack.url("ingest"), token).post_all("/v1/readings", readings, batch=2000)
        inputs.add_readings(readings)
        stack.wait_idle(timeout=3600)
        backfill_s = time.monotonic() - t0

        stack.down()
        t1 = time.monotonic()
        up = stack.cli("dev", "up", "--wait", "600", timeout=7200)
        if up.returncode != 0:
            msg = f"dev up failed:\n{up.stderr}\n{stack.log_tails()}"
            raise SystemExit(msg)
        up_s = time.monotonic() - t1
        found = re.search(r"broker restored.*\(([\d.]+)s\)", up.stderr.replace("\n", " "))
        restore_s = float(found.group(1)) if found else float("nan")
        stack.wait_idle(timeout=7200)
        rebuild_s = time.monotonic() - t1
        counts = check_database(stack.database_url, inputs, home / "check", stack.tz)
        n_bars = symbols * days
        result = {
            "bench": "rebuild", "bars": n_bars, "readings": len(readings), "backfill_s": round(backfill_s, 1),
            "dev_up_s": round(up_s, 1), "republish_s": round(restore_s, 1), "rebuild_s": round(rebuild_s, 1),
            "rebuild_s_per_million_bars": round(rebuild_s * 1e6 / n_bars, 1),
            "republish_s_per_million_bars": round(restore_s * 1e6 / n_bars, 1),
            "rebuild_to_backfill": round(rebuild_s / backfill_s, 2), "database_equals_batch": counts,
        }
        print(f"backfill of {n_bars:,} bars + {len(readings):,} readings: {backfill_s:.1f}s; dev down + dev up: "
              f"restore (re-publish) {restore_s:.1f}s, dev up {up_s:.1f}s, until idle {rebuild_s:.1f}s "
              f"= {result['rebuild_s_per_million_bars']}s per million bars "
              f"({result['rebuild_to_backfill']}x the backfill); database equals batch: {counts}")
        print(json.dumps(result))
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
