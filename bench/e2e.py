"""End to end on the embedded stack: a market backfill plus live sensor readings, through every stage into
PostgreSQL, then the database checked row for row against `turnpoint batch`.

    python bench/e2e.py --quick          # 200 symbols x 500 days, 20 series at 10 Hz for 30 s (< 5 min)
    python bench/e2e.py                  # 2,000 symbols x 2,500 days, 20 series at 10 Hz for 5 min

Figures: bars/s (backfill dropped → every consumer group idle) with the time at which each stage finished
(drop folder read by the ingest, then each consumer group's last lag), readings/s, freshness of serial readings
(line written → visible through GET /v1/readings) p50/p95/p99, HTTP counts accepted, each process's peak
RSS. Baseline (legacy system): a full daily-price initialisation of the Korean market took 23-48 min and
its turning-point computation 2 h 51 min. Final line: JSON with "bench": "e2e".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from _common import percentile  # noqa: E402
from support.devstack_harness import DevStack  # noqa: E402
from support.feeders import HttpFeeder, PtySerialDevice  # noqa: E402
from support.pipeline_check import BAR_COLUMNS, Inputs, check_database, market_rows, write_csv  # noqa: E402

from turnpoint.core.dates import trading_days  # noqa: E402

LEGACY_INIT_S = (23 * 60, 48 * 60)  # daily-price initialisation of the Korean market (~2,500 symbols)
LEGACY_TURNING_S = 2 * 3600 + 51 * 60
SERIES = 20


class SerialFeed(threading.Thread):
    """20 series at 10 Hz on one pty (one CSV line per tick); remembers when each line was written."""

    def __init__(self, device: PtySerialDevice, seconds: float) -> None:
        super().__init__(daemon=True)
        self.device, self.seconds = device, seconds
        self.written: list[tuple[str, float]] = []
        self.rows: list[dict[str, object]] = []

    def run(self) -> None:
        rng = random.Random(1)
        t_end = time.monotonic() + self.seconds
        next_tick = time.monotonic()
        while time.monotonic() < t_end:
            ts = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
            values = [round(20 + i + rng.gauss(0, 1), 4) for i in range(SERIES)]
            self.device.write_line(",".join([ts, *map(str, values)]))
            self.written.append((ts, time.monotonic()))
            self.rows.extend({"series": f"bench/s{i:02d}", "ts": ts, "value": v} for i, v in enumerate(values))
            next_tick += 0.1
            time.sleep(max(0.0, next_tick - time.monotonic()))


class Freshness(threading.Thread):
    """While the feed runs: take the newest written line, poll the read API until its reading is there."""

    def __init__(self, stack: DevStack, feed: SerialFeed) -> None:
        super().__init__(daemon=True)
        self.stack, self.feed = stack, feed
        self.latencies: list[float] = []

    def run(self) -> None:
        client = httpx.Client(timeout=10)
        while self.feed.is_alive():
            if not self.feed.written:
                time.sleep(0.05)
                continue
            ts, written = self.feed.written[-1]
            deadline = written + 120
            while time.monotonic() < deadline:
                r = client.get(f"{self.stack.url('api')}/v1/readings",
                               params={"series": "bench/s00", "from": ts, "limit": 1})
                if r.status_code == 200 and r.json()["items"] and r.json()["items"][0]["ts"] == ts:
                    self.latencies.append(time.monotonic() - written)
                    break
                time.sleep(0.02)
            time.sleep(0.2)


class StageClock(threading.Thread):
    """When each stage of the backfill finished: the drop folder empty (ingest), then the moment each
    consumer group's lag was last seen above zero (transform, loader, model, ...), from the drop."""

    def __init__(self, stack: DevStack, drop: Path, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.stack, self.drop, self.interval = stack, drop, interval
        self.t0 = time.monotonic()
        self.finished: dict[str, float] = {}
        self.stop_event = threading.Event()

    def run(self) -> None:
        from turnpoint.core import topics
        from turnpoint.core.kafka import group_lag
        from turnpoint.core.settings import KafkaSettings

        kafka = KafkaSettings(bootstrap_servers=self.stack.bootstrap)
        while not self.stop_event.wait(self.interval):
            now = time.monotonic() - self.t0
            if any(self.drop.glob("*.csv")):  # read files move on (done/), as the harness checks
                self.finished["ingest"] = now
            for group in topics.GROUPS:
                try:
                    lag = group_lag(kafka, group.group_id, [t.name for t in group.inputs])
                except Exception:  # a group the stack does not run, or a busy broker: keep the last reading
                    continue
                if lag:
                    self.finished[group.group_id.removeprefix("turnpoint-")] = now

    def report(self) -> dict[str, float]:
        self.stop_event.set()
        self.join(10)
        return {k: round(v + self.interval, 1) for k, v in sorted(self.finished.items(), key=lambda kv: kv[1])}


class RssTrace(threading.Thread):
    """Each service's resident memory (VmRSS of its process tree's largest member) every `interval`, from the
    drop to the end of the live phase: when its peak came (the backfill's start, its end, the live phase)."""

    def __init__(self, stack: DevStack, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.stack, self.interval = stack, interval
        self.t0 = time.monotonic()
        self.peak: dict[str, tuple[float, float]] = {}  # service -> (MiB, seconds after the drop)
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            now = time.monotonic() - self.t0
            for name, mib in self.stack.rss_mb().items():
                if mib > self.peak.get(name, (0.0, 0.0))[0]:
                    self.peak[name] = (mib, now)

    def report(self) -> dict[str, dict[str, float]]:
        self.stop_event.set()
        self.join(10)
        return {k: {"mib": round(m), "at_s": round(t, 1)} for k, (m, t) in sorted(self.peak.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small run (< 5 minutes)")
    ap.add_argument("--symbols", type=int)
    ap.add_argument("--days", type=int)
    ap.add_argument("--live-seconds", type=float)
    ap.add_argument("--counts", action=argparse.BooleanOptionalAction, default=True,
                    help="POST 4 CCTV counts every second during the live phase; they become readings "
                         "(<camera>/people, <camera>/vehicle) that the check includes (default: on)")
    ap.add_argument("--broker-max-rss-mb", type=float,
                    help="TURNPOINT_BROKER__MAX_RSS_MB of the stack (default: the stack's own, a quarter of the "
                         "memory within 512..2048 MiB; the ingest holds its publishing during a recycle and spools)")
    ap.add_argument("--no-check", action="store_true", help="skip the row-for-row check against turnpoint batch")
    args = ap.parse_args()
    symbols = args.symbols or (200 if args.quick else 2000)
    days = args.days or (500 if args.quick else 2500)
    live_s = args.live_seconds or (30.0 if args.quick else 300.0)

    home = Path(tempfile.mkdtemp(prefix="turnpoint-bench-e2e-"))
    home.chmod(0o755)
    device = PtySerialDevice(home / "ttyBENCH")
    cols = ", ".join(["ts", *(f"s{i:02d}" for i in range(SERIES))])
    fields = "\n".join(f"      s{i:02d}: {{series: bench/s{i:02d}}}" for i in range(SERIES))
    (home / "serial.yaml").write_text(
        f"ports:\n  - name: bench\n    device: {device.path}\n    baudrate: 115200\n    protocol: csv\n"
        f"    columns: [{cols}]\n    timestamp_field: ts\n    fields:\n{fields}\n")
    from turnpoint.model.registry import ensure_demo_models

    ensure_demo_models(home / "models")
    limits = {} if args.broker_max_rss_mb is None else {"TURNPOINT_BROKER__MAX_RSS_MB": f"{args.broker_max_rss_mb:g}"}
    stack = DevStack(home, {"TURNPOINT_INGEST__SERIAL_CONFIG": str(home / "serial.yaml"), **limits})
    inputs = Inputs(home / "inputs")
    try:
        stack.up()
        print(f"stack healthy in {stack.up_seconds:.1f}s", file=sys.stderr)
        token = stack.create_token("bench-counts", "write:counts")
        # 1. backfill: files into the drop folder, 100 symbols per file (written beside it first, so the
        #    timing starts with every file ready; only the files hold the bars, not this process)
        t_gen = time.monotonic()
        rng = random.Random(7)
        trading = trading_days(dt.date(2015, 1, 5), days)
        names = [f"B{i:05d}" for i in range(symbols)]
        staged = home / "staged"
        files = []
        for i in range(0, symbols, 100):
            rows = market_rows(names[i:i + 100], trading, rng)
            inputs.add_bars(rows)
            files.append(write_csv(staged / f"market-{i:05d}.csv", rows, BAR_COLUMNS))
        del rows
        n_bars = inputs.n_bars
        print(f"generated {n_bars:,} bars in {time.monotonic() - t_gen:.1f}s", file=sys.stderr)
        drop = stack.home / "drop"
        drop.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        clock = StageClock(stack, drop)
        cpu_before = stack.cpu_seconds()
        rss_trace = RssTrace(stack)
        clock.start()
        rss_trace.start()
        for path in files:
            path.replace(drop / path.name)
        stack.wait_idle(timeout=7200)
        backfill_s = time.monotonic() - t0
        stages = clock.report()
        cpu_after = stack.cpu_seconds()
        # CPU seconds each process spent on the backfill (2 cores x backfill_s is all there was)
        backfill_cpu = {k: round(v - cpu_before.get(k, 0.0), 1) for k, v in sorted(cpu_after.items())}
        bars_per_s = n_bars / backfill_s
        print(f"backfill: {n_bars:,} bars visible in PostgreSQL after {backfill_s:.1f}s "
              f"({bars_per_s:,.0f} bars/s); stages finished at (s): {stages}", file=sys.stderr)
        # 2. live: serial readings at 10 Hz x 20 series, plus HTTP counts every second
        feed = SerialFeed(device, live_s)
        counts = HttpFeeder(stack.url("ingest"), token)
        n_counts = 0
        count_readings: list[dict[str, object]] = []
        t1 = time.monotonic()
        feed.start()
        fresh_probe = Freshness(stack, feed)
        fresh_probe.start()
        start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
        while feed.is_alive():
            if not args.counts:
                time.sleep(0.5)
                continue
            p = start + dt.timedelta(minutes=15 * n_counts)
            batch = [{"camera": f"gate-{g}", "period_start": p.isoformat(),
                      "period_end": (p + dt.timedelta(minutes=15)).isoformat(),
                      "people": g + n_counts % 7, "vehicle": n_counts % 3} for g in range(4)]
            counts.post("/v1/counts", batch)
            # what the transform derives from them: one reading per camera and kind at the period start
            count_readings.extend({"series": f"{c['camera']}/{kind}", "ts": c["period_start"], "value": c[kind]}
                                  for c in batch for kind in ("people", "vehicle"))
            n_counts += 4
            time.sleep(1)
        fresh_probe.join(180)
        fresh = fresh_probe.latencies
        stack.wait_idle(timeout=1800)
        live_total_s = time.monotonic() - t1
        inputs.add_readings(feed.rows)
        inputs.add_readings(count_readings)
        readings_per_s = len(feed.rows) / live_total_s
        peaks = stack.peak_rss_mb()
        rss_peaks = rss_trace.report()
        cycles = stack.broker_cycles()
        log_lines = (home / "logs" / "supervisor.log").read_text().splitlines()
        recycled = [d.get("labels", {}) for d in (json.loads(x) for x in log_lines if x.startswith("{"))
                    if str(d.get("message", "")).startswith("broker recycled")]
        checked: dict[str, int] | str = "skipped"
        if not args.no_check:
            t2 = time.monotonic()
            checked = check_database(stack.database_url, inputs, home / "check", stack.tz)
            print(f"database equals turnpoint batch ({time.monotonic() - t2:.1f}s): {checked}", file=sys.stderr)
    except BaseException:
        # a failed run keeps its evidence: the services' and the supervisor's logs, and services.json
        kept = Path(tempfile.mkdtemp(prefix="turnpoint-bench-e2e-failed-"))
        shutil.copytree(home / "logs", kept / "logs", dirs_exist_ok=True)
        for name in ("services.json", "state.json"):
            if (home / name).exists():
                shutil.copy2(home / name, kept / name)
        print(f"the run failed; its logs are kept in {kept}", file=sys.stderr)
        raise
    finally:
        stack.down()
        device.close()
        shutil.rmtree(home, ignore_errors=True)

    scale = 2500 * 2500 / n_bars  # the legacy figures are for the whole Korean market
    projected = backfill_s * scale
    p50, p95, p99 = (percentile(fresh, q) for q in (0.5, 0.95, 0.99))
    print(f"\nbars end to end:      {bars_per_s:,.0f}/s ({n_bars:,} bars in {backfill_s:.1f}s; all stages: "
          "ingest, transform (rebounds, week/month), loader, model)")
    print(f"  projected to the Korean market (~2,500 symbols x 2,500 days): {projected / 60:.1f} min vs legacy "
          f"23-48 min daily-price initialisation + 2 h 51 min turning points "
          f"({(LEGACY_INIT_S[0] + LEGACY_TURNING_S) / projected:.1f}x faster than the legacy's best case)")
    print(f"readings end to end:  {readings_per_s:,.0f}/s ({len(feed.rows):,} serial readings of {SERIES} series at 10 Hz; "
          f"{n_counts} HTTP counts)")
    print(f"freshness (serial line written -> GET /v1/readings): p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms over {len(fresh)} samples")
    print("backfill stages finished at (s after the drop): " + ", ".join(f"{k} {v}" for k, v in stages.items()))
    print(f"backfill CPU seconds ({os.cpu_count()} cores x {backfill_s:.0f} s): "
          + ", ".join(f"{k} {v:.0f}" for k, v in sorted(backfill_cpu.items(), key=lambda kv: -kv[1])))
    print("peak RSS (MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(peaks.items())))
    print("largest RSS sampled (MiB, at s after the drop; the backfill ended at "
          f"{backfill_s:.0f} s): " + ", ".join(f"{k} {v['mib']} at {v['at_s']:.0f}" for k, v in rss_peaks.items()))
    print(f"embedded broker: {cycles.get('recycles', 0)} recycles (TURNPOINT_BROKER__MAX_RSS_MB), "
          f"{cycles.get('restarts', 0)} restarts")
    for labels in recycled:
        print(f"  recycle: RSS {labels.get('rss_before_mb')} -> {labels.get('rss_after_mb')} MiB; publish hold "
              f"{labels.get('hold_s')}s, drain {labels.get('drain_s')}s, restore {labels.get('restore_s')}s")
    legacy_s = LEGACY_INIT_S[0] + LEGACY_TURNING_S
    doc = {"bench": "e2e", "quick": args.quick, "symbols": symbols, "days": days, "bars": n_bars,
           "bars_per_s": round(bars_per_s, 1), "backfill_s": round(backfill_s, 1),
           "projected_market_s": round(projected, 1), "baseline_name": "legacy init 23 min + turning points 2h51",
           "baseline_s": legacy_s, "ratio": round(legacy_s / projected, 2),
           "readings_per_s": round(readings_per_s, 1), "readings": len(feed.rows), "counts": n_counts,
           "freshness_ms": {"p50": round(p50 * 1000), "p95": round(p95 * 1000), "p99": round(p99 * 1000)},
           "stages_s": stages, "backfill_cpu_s": backfill_cpu, "peak_rss_mb": peaks, "rss_sampled_peak": rss_peaks, "broker_cycles": cycles, "recycles": recycled,
           "checked_rows": checked}
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
