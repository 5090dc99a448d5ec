"""Freshness on the embedded stack: a serial reading written → the same reading returned by the read API.

    python bench/freshness.py                    # 20 series at 50 Hz = 1,000 readings/s for 60 s
    python bench/freshness.py --seconds 30 --series 20 --hz 50

The feed is one pty (a serial sensor): one CSV line per tick with the device timestamp and one value per
series. The ingest sends each series' readings of one read as one envelope, so with one line per read
every message holds one reading (the benchmark counts the messages on the readings topic to show it).
Serial, not HTTP: a POST of one reading is answered only after the broker's ack, so 1,000 POSTs/s would
measure this process's HTTP client on a 2-core machine as much as the stack.

Visibility is read back in bulk: a poller asks `GET /v1/readings?series=S&from=<newest seen>` for a few
probe series (`--probes`, round robin, no pause) and timestamps every newly returned reading with the
response's arrival; a reading's freshness is that time minus the time its line was written. So the figure
is an upper bound, at most one poll cycle (printed: the mean and max time between two polls of the same
series) above the true one. A tap consumer on the readings topic (its own group, read_committed) times
when each probe reading became readable on the broker (its fetch.wait.max.ms is 10: Tansu holds a fetch
that long, so the split point is up to ~10 ms late), which splits freshness into ingest → broker and
broker → API (loader + PostgreSQL + API).

Figures: p50/p95/p99/max freshness (and of both parts), the achieved rate, the readings seen, the poll
resolution, the loader's flushes (rows per flush, seconds per flush) from its /metrics, each service's
peak RSS and the load average. The goal (issue #17): p99 under 200 ms at 1,000 messages/s. Final line:
JSON with "bench": "freshness".
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
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from _common import percentile  # noqa: E402
from support.devstack_harness import DevStack, tree_peak_rss_mb  # noqa: E402
from support.feeders import PtySerialDevice  # noqa: E402

GOAL_P99_MS = 200.0


def iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="microseconds").replace("+00:00", "Z")


class SerialFeed(threading.Thread):
    """`series` values per line at `hz` lines a second on one pty; remembers when each line was written."""

    def __init__(self, device: PtySerialDevice, series: int, hz: float, seconds: float) -> None:
        super().__init__(daemon=True)
        self.device, self.series, self.hz, self.seconds = device, series, hz, seconds
        self.written: dict[str, float] = {}  # device timestamp -> monotonic time the line was written
        self.lines = 0
        self.elapsed = 0.0
        self.late_ticks = 0  # ticks written more than one period late (this process could not keep up)

    def run(self) -> None:
        rng = random.Random(1)
        period = 1.0 / self.hz
        t0 = time.monotonic()
        next_tick = t0
        while next_tick < t0 + self.seconds:
            now = time.monotonic()
            if now < next_tick:
                time.sleep(next_tick - now)
            elif now - next_tick > period:
                self.late_ticks += 1
            ts = iso(dt.datetime.now(dt.UTC))
            values = [round(20 + i + rng.gauss(0, 1), 4) for i in range(self.series)]
            self.device.write_line(",".join([ts, *map(str, values)]))
            self.written[ts] = time.monotonic()
            self.lines += 1
            next_tick += period
        self.elapsed = time.monotonic() - t0


class Poller(threading.Thread):
    """Polls the read API for the probe series in turn; records when each new reading was first returned."""

    def __init__(self, api: str, probes: list[str], feed: SerialFeed) -> None:
        super().__init__(daemon=True)
        self.api, self.probes, self.feed = api, probes, feed
        self.seen: dict[tuple[str, str], float] = {}
        self.cycles: list[float] = []  # time between two polls of the same series
        self.requests = 0
        self.errors = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        client = httpx.Client(timeout=10)
        newest: dict[str, str | None] = dict.fromkeys(self.probes)
        last_poll: dict[str, float] = {}
        while not self.stop_event.is_set():
            for series in self.probes:
                params: dict[str, str | int] = {"series": series, "limit": 1000}
                if newest[series]:
                    params["from"] = str(newest[series])
                started = time.monotonic()
                try:
                    r = client.get(f"{self.api}/v1/readings", params=params)
                except httpx.HTTPError:
                    self.errors += 1
                    continue
                arrived = time.monotonic()
                self.requests += 1
                if series in last_poll:
                    self.cycles.append(started - last_poll[series])
                last_poll[series] = started
                if r.status_code != 200:
                    self.errors += 1
                    continue
                for item in r.json()["items"]:
                    key = (series, item["ts"])
                    if key not in self.seen:
                        self.seen[key] = arrived
                    newest[series] = item["ts"]

    def stop(self) -> None:
        self.stop_event.set()
        self.join(30)


class Tap(threading.Thread):
    """Reads the readings topic from its end (own group): when each probe reading became readable."""

    def __init__(self, bootstrap: str, probes: list[str]) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.probes = bootstrap, set(probes)
        self.seen: dict[tuple[str, str], float] = {}
        self.messages = 0
        self.readings = 0
        self.ready = threading.Event()
        self.stop_event = threading.Event()

    def run(self) -> None:
        import orjson

        from turnpoint.core import topics
        from turnpoint.core.kafka import make_consumer
        from turnpoint.core.settings import KafkaSettings

        consumer = make_consumer(KafkaSettings(bootstrap_servers=self.bootstrap),
                                 f"bench-freshness-tap-{uuid.uuid4().hex[:6]}",
                                 **{"auto.offset.reset": "latest", "fetch.wait.max.ms": 10})
        consumer.subscribe([topics.READINGS.name], on_assign=lambda *_: self.ready.set())
        try:
            while not self.stop_event.is_set():
                for msg in consumer.consume(1000, 0.05):
                    if msg.error() is not None:
                        continue
                    at = time.monotonic()
                    self.messages += 1
                    items = orjson.loads(msg.value()).get("items", [])
                    self.readings += len(items)
                    for item in items:
                        if item.get("series") in self.probes:
                            self.seen.setdefault((item["series"], item["ts"]), at)
        finally:
            consumer.close()

    def stop(self) -> None:
        self.stop_event.set()
        self.join(30)


def loader_flushes(url: str) -> dict[str, float]:
    """The loader's flush count, seconds and rows so far (Prometheus histograms on its /metrics)."""
    out = {"flushes": 0.0, "seconds": 0.0, "rows": 0.0}
    try:
        text = httpx.get(f"{url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return out
    for line in text.splitlines():
        if line.startswith("turnpoint_loader_batch_seconds_count"):
            out["flushes"] = float(line.split()[-1])
        elif line.startswith("turnpoint_loader_batch_seconds_sum"):
            out["seconds"] = float(line.split()[-1])
        elif line.startswith("turnpoint_loader_batch_rows_sum"):
            out["rows"] = float(line.split()[-1])
    return out


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants (live ones)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


def services_cpu_s(stack: DevStack) -> dict[str, float]:
    pids = {name: pid for name, pid in stack.pids().items() if pid}
    broker = stack.state.get("broker_pid")
    if broker:
        pids["broker"] = int(broker)
    return {name: tree_cpu_s(int(pid)) for name, pid in pids.items()}


def summary(xs: list[float]) -> dict[str, float]:
    return {k: round(percentile(xs, q) * 1000, 1) for k, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99),
                                                               ("max", 1.0))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the feed (default 60)")
    ap.add_argument("--series", type=int, default=20, help="values per serial line (default 20)")
    ap.add_argument("--hz", type=float, default=50.0, help="lines per second (default 50)")
    ap.add_argument("--probes", type=int, default=2, help="series the poller reads back (default 2)")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of feed not measured (default 5)")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra setting for the stack (e.g. TURNPOINT_LOADER__FLUSH_INTERVAL_MS=500)")
    ap.add_argument("--keep-logs", type=Path, metavar="DIR", help="copy the services' logs there at the end")
    args = ap.parse_args()
    rate = args.series * args.hz

    home = Path(tempfile.mkdtemp(prefix="turnpoint-bench-fresh-"))
    home.chmod(0o755)
    device = PtySerialDevice(home / "ttyFRESH")
    cols = ", ".join(["ts", *(f"s{i:02d}" for i in range(args.series))])
    fields = "\n".join(f"      s{i:02d}: {{series: fresh/s{i:02d}}}" for i in range(args.series))
    (home / "serial.yaml").write_text(
        f"ports:\n  - name: fresh\n    device: {device.path}\n    baudrate: 115200\n    protocol: csv\n"
        f"    columns: [{cols}]\n    timestamp_field: ts\n    fields:\n{fields}\n")
    extra = dict(kv.split("=", 1) for kv in args.env)
    stack = DevStack(home, {"TURNPOINT_INGEST__SERIAL_CONFIG": str(home / "serial.yaml"), **extra})
    probes = [f"fresh/s{i * args.series // args.probes:02d}" for i in range(args.probes)]
    try:
        stack.up()
        print(f"stack healthy in {stack.up_seconds:.1f}s", file=sys.stderr)
        tap = Tap(stack.bootstrap, probes)
        tap.start()
        if not tap.ready.wait(60):
            print("the tap consumer got no assignment in 60 s", file=sys.stderr)
        time.sleep(1.0)  # the tap's first fetch positions at the end
        feed = SerialFeed(device, args.series, args.hz, args.warmup + args.seconds)
        poller = Poller(stack.url("api"), probes, feed)
        before = loader_flushes(stack.url("loader"))
        cpu_before = services_cpu_s(stack)
        load_before = os.getloadavg()
        feed.start()
        poller.start()
        feed.join()
        time.sleep(3.0)  # the last readings become visible
        poller.stop()
        tap.stop()
        after = loader_flushes(stack.url("loader"))
        cpu = {k: round(v - cpu_before.get(k, 0.0), 1) for k, v in services_cpu_s(stack).items()}
        load = os.getloadavg()
        peaks = stack.peak_rss_mb()
        peaks["bench"] = round(tree_peak_rss_mb(os.getpid()), 1)
    finally:
        stack.down()
        if args.keep_logs:
            shutil.copytree(home / "logs", args.keep_logs, dirs_exist_ok=True)
        device.close()
        shutil.rmtree(home, ignore_errors=True)

    t_measure = min(feed.written.values()) + args.warmup
    fresh, to_broker, from_broker = [], [], []
    missing = 0
    for ts, written in feed.written.items():
        if written < t_measure:
            continue
        for series in probes:
            seen = poller.seen.get((series, ts))
            if seen is None:
                missing += 1
                continue
            fresh.append(seen - written)
            at_broker = tap.seen.get((series, ts))
            if at_broker is not None:
                to_broker.append(at_broker - written)
                from_broker.append(seen - at_broker)
    achieved = feed.lines * args.series / feed.elapsed
    flushes = after["flushes"] - before["flushes"]
    rows = after["rows"] - before["rows"]
    secs = after["seconds"] - before["seconds"]
    cycle_mean = sum(poller.cycles) / len(poller.cycles) if poller.cycles else float("nan")
    cycle_max = max(poller.cycles, default=float("nan"))
    f, b, a = summary(fresh), summary(to_broker), summary(from_broker)
    print(f"\nfeed: {args.series} series x {args.hz:g} Hz on one pty = {rate:,.0f} readings/s offered, "
          f"{achieved:,.0f}/s achieved over {feed.elapsed:.1f}s ({feed.late_ticks} ticks late); "
          f"readings topic: {tap.messages:,} messages holding {tap.readings:,} readings "
          f"({tap.readings / max(1, tap.messages):.2f} per message)")
    print(f"freshness (line written -> GET /v1/readings), {len(fresh):,} readings of {len(probes)} probe series "
          f"after a {args.warmup:g}s warm-up, {missing} never seen: p50 {f['p50']:.0f} ms, p95 {f['p95']:.0f} ms, "
          f"p99 {f['p99']:.0f} ms, max {f['max']:.0f} ms (goal: p99 < {GOAL_P99_MS:.0f} ms)")
    print(f"  written -> readable on the broker: p50 {b['p50']:.0f} ms, p95 {b['p95']:.0f} ms, p99 {b['p99']:.0f} ms")
    print(f"  broker -> API-visible:             p50 {a['p50']:.0f} ms, p95 {a['p95']:.0f} ms, p99 {a['p99']:.0f} ms")
    print(f"  poll resolution: a probe series read every {cycle_mean * 1000:.1f} ms on average "
          f"(max {cycle_max * 1000:.0f} ms), {poller.requests:,} requests, {poller.errors} errors")
    print(f"loader: {flushes:.0f} flushes, {rows / max(1, flushes):.1f} rows and "
          f"{secs / max(1, flushes) * 1000:.1f} ms each (the writer's time)")
    print(f"CPU seconds during the feed ({feed.elapsed + 3:.0f} s): "
          + ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items())))
    print("peak RSS (MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(peaks.items())))
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (before the feed {load_before[0]:.2f})")
    doc = {"bench": "freshness", "offered_per_s": rate, "achieved_per_s": round(achieved, 1),
           "seconds": args.seconds, "series": args.series, "hz": args.hz, "samples": len(fresh),
           "missing": missing, "freshness_ms": f, "to_broker_ms": b, "broker_to_api_ms": a,
           "poll_cycle_ms": {"mean": round(cycle_mean * 1000, 1), "max": round(cycle_max * 1000, 1)},
           "messages": tap.messages, "readings": tap.readings, "loader_flushes": flushes,
           "loader_rows_per_flush": round(rows / max(1, flushes), 1),
           "loader_ms_per_flush": round(secs / max(1, flushes) * 1000, 1),
           "goal_p99_ms": GOAL_P99_MS, "ratio": round(GOAL_P99_MS / f["p99"], 2) if fresh else None,
           "cpu_s": cpu, "peak_rss_mb": peaks, "loadavg": [round(x, 2) for x in load], "env": extra}
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
