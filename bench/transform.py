"""Transform throughput: market bars/s from the bars topic through rebounds (4 gtypes) and weekly/monthly
bars to the output topics, with a warm `turnpoint transform worker`, against a naive per-event Faust agent.

Also: sensor readings/s through calendar statistics + outliers (100 per message, and one per message),
bars/s when every bar travels in its own message, and the worker's peak memory holding the state of all
symbols (4 gtypes each).

`--peer quix` runs the same bar job under Quix Streams (bench/peer_quix.py: turnpoint's `SymbolRebounds`,
state in Quix's store, the same prices/legs/states out) on the same broker and the same input messages, in
the same run, installed into `.turnpoint/peers/quix` (never the project's venv), and reports both.

usage: python bench/transform.py [--quick] [--symbols N] [--days N] [--peer quix] [--live N]
       python bench/transform.py --live-only [--repeat 3] [--live N] [--peer quix]
       python bench/transform.py --batched-only [--repeat 3] [--symbols 2000] [--days 500] [--peer quix]
Prints its figures and a final JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import random
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402
from _common import REPO, broker, final_line, peak_rss_mb, python, spawn, stop, wait_lag_zero  # noqa: E402

from turnpoint.cli.embedded import free_port  # noqa: E402
from turnpoint.core import topics  # noqa: E402
from turnpoint.core.kafka import ensure_topics, make_producer  # noqa: E402
from turnpoint.core.settings import KafkaSettings  # noqa: E402


def bar_series(symbol: str, days: int, rng: random.Random) -> list[dict[str, object]]:
    d = dt.date(2015, 1, 2)
    price = rng.uniform(10, 500)
    out = []
    while len(out) < days:
        if d.weekday() < 5:
            c = price * math.exp(rng.gauss(0, 0.02))
            o = price
            out.append({"symbol": symbol, "date": d.isoformat(), "open": round(o, 2), "high": round(max(o, c) * 1.01, 2),
                        "low": round(min(o, c) * 0.99, 2), "close": round(c, 2), "volume": 1000.0})
            price = c
        d += dt.timedelta(days=1)
    return out


def produce(settings: KafkaSettings, topic: str, records: list[tuple[bytes, bytes]], partition: int = -1) -> float:
    producer = make_producer(settings, **{"linger.ms": 20})
    t0 = time.monotonic()
    for key, value in records:
        while True:
            try:
                producer.produce(topic, key=key, value=value, partition=partition)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)
    return t0


class Worker:
    """A warm `turnpoint transform worker` on its own topic prefix, and the phases it is measured on."""

    def __init__(self, bootstrap: str, tmp: Path) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix = f"b{uuid.uuid4().hex[:6]}."
        self.settings = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix, partitions=2)
        self.port = free_port()
        ensure_topics(self.settings)
        self.group = f"{prefix}{topics.TRANSFORM_GROUP.group_id}"
        env = {"TURNPOINT_KAFKA__BOOTSTRAP_SERVERS": bootstrap, "TURNPOINT_KAFKA__TOPIC_PREFIX": prefix,
               "TURNPOINT_KAFKA__PARTITIONS": "2", "TURNPOINT_TRANSFORM__DATA_DIR": str(tmp / f"tp-{prefix}"),
               "TURNPOINT_TRANSFORM__PORT": str(self.port), "TURNPOINT_TZ": "Asia/Seoul"}
        self.proc = spawn([python(), "-m", "turnpoint.cli.main", "transform", "worker"], env,
                          tmp / f"worker-{prefix}log")
        self.bars_topic = f"{prefix}{topics.BARS.name}"
        self.readings_topic = f"{prefix}{topics.READINGS.name}"

    def warm(self) -> None:
        """The group joins, agents start, tables exist, and every input partition was seen once (its
        first batch asks the broker where to resume: not part of any figure)."""
        warm_partitions(self.settings, self.bars_topic, 2)
        reading = {"series": "WARM/temp", "ts": "2024-12-31T00:00:00Z", "value": 1.0}
        for partition in range(2):
            produce(self.settings, self.readings_topic, [(b"WARM/temp", orjson.dumps({"v": 1, "items": [reading]}))],
                    partition)
        wait_lag_zero(self.bootstrap, self.group, [self.bars_topic, self.readings_topic], 120, self.proc)
        print("worker warm", flush=True)

    def timed(self, topic: str, records: list[tuple[bytes, bytes]], timeout: float = 900) -> float:
        """Seconds from the first record produced to the group's commit of the last (and the worker's CPU
        seconds meanwhile in `self.cpu`: a figure that other jobs on the machine disturb less)."""
        c0 = cpu_seconds(self.proc.pid)
        t0 = produce(self.settings, topic, records)
        t1 = wait_lag_zero(self.bootstrap, self.group, [topic], timeout, self.proc)
        self.cpu = cpu_seconds(self.proc.pid) - c0
        return t1 - t0

    def batches(self) -> dict[str, tuple[float, float, float]]:
        """Per agent, from the worker's own Prometheus metrics so far: (batches, seconds in batches, seconds
        computing them); the rest of a batch's time is publishing and the changelog."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10).read().decode()
        got: dict[tuple[str, str], float] = {}
        for line in text.splitlines():
            for name in ("batch_seconds_count", "batch_seconds_sum", "process_seconds_sum"):
                prefix = f"turnpoint_transform_{name}{{agent=\""
                if line.startswith(prefix):
                    agent = line[len(prefix):].split('"', 1)[0]
                    got[(agent, name)] = float(line.rsplit(" ", 1)[1])
        agents = {agent for agent, _ in got}
        return {a: (got.get((a, "batch_seconds_count"), 0.0), got.get((a, "batch_seconds_sum"), 0.0),
                    got.get((a, "process_seconds_sum"), 0.0)) for a in agents}

    def split(self, agent: str, before: dict[str, tuple[float, float, float]], messages: int) -> str:
        """How a timed phase's batches went: their number, messages per batch, time computing and publishing."""
        after = self.batches()
        n, total, compute = (x - y for x, y in zip(after.get(agent, (0, 0, 0)), before.get(agent, (0, 0, 0)), strict=True))
        if not n:
            return "no batches"
        return (f"{n:.0f} batches of {messages / n:,.1f} messages; per batch {1e3 * compute / n:.2f} ms computing, "
                f"{1e3 * (total - compute) / n:.2f} ms publishing and writing the changelog")

    def rss(self) -> float:
        return peak_rss_mb(self.proc.pid)

    def stop(self) -> None:
        stop(self.proc)


def run_turnpoint(bootstrap: str, symbols: int, days: int, per_message: int, readings: int, tmp: Path,
                  live: int) -> dict[str, float]:
    worker = Worker(bootstrap, tmp)
    try:
        worker.warm()
        records = batched_records(symbols, days, per_message)
        n_bars = symbols * days
        took = worker.timed(worker.bars_topic, records)
        batched = n_bars / took
        rss = worker.rss()
        print(f"turnpoint: {n_bars} bars of {symbols} symbols in {len(records)} messages: {took:.2f}s "
              f"= {batched:,.0f} bars/s; worker peak RSS {rss:.0f} MiB", flush=True)

        single = live_bars(worker, live)
        rps = batched_readings(worker, readings)
        rps_live = live_readings(worker, min(live, readings), per_series=readings // 20)
        return {"batched": batched, "single": single, "readings": rps, "readings_live": rps_live, "rss": worker.rss()}
    finally:
        worker.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def live_bars(worker: Worker, n: int) -> float:
    singles = single_records(n)
    before = worker.batches()
    took = worker.timed(worker.bars_topic, singles, 600)
    single = len(singles) / took
    print(f"turnpoint: {len(singles)} bars, one per message: {single:,.0f} bars/s, "
          f"worker CPU {1e6 * worker.cpu / len(singles):.0f} µs per message; "
          f"{worker.split('bars', before, len(singles))}", flush=True)
    return single


READINGS_START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def batched_readings(worker: Worker, readings: int, series: int = 20) -> float:
    rng = random.Random(1)
    per_series = readings // series
    recs = []
    for s in range(series):
        name = f"plant{s}/temp"
        items = [{"series": name, "ts": (READINGS_START + dt.timedelta(seconds=60 * i)).isoformat().replace("+00:00", "Z"),
                  "value": 20 + rng.gauss(0, 1)} for i in range(per_series)]
        for i in range(0, len(items), 100):
            recs.append((name.encode(), orjson.dumps({"v": 1, "items": items[i:i + 100]})))
    rps = series * per_series / worker.timed(worker.readings_topic, recs, 600)
    print(f"turnpoint: {series * per_series} readings of {series} series (100 per message): {rps:,.0f} readings/s",
          flush=True)
    return rps


def live_readings(worker: Worker, n: int, per_series: int, series: int = 20) -> float:
    """The live shape of sensors: one reading per message, series interleaved as ports send them, after
    `per_series` minutes of each series' history."""
    rng = random.Random(2)
    live = []
    later = READINGS_START + dt.timedelta(seconds=60 * per_series)
    for i in range(n // series):
        ts = (later + dt.timedelta(seconds=60 * i)).isoformat().replace("+00:00", "Z")
        for s in range(series):
            name = f"plant{s}/temp"
            live.append((name.encode(), orjson.dumps({"v": 1, "items": [
                {"series": name, "ts": ts, "value": 20 + rng.gauss(0, 1)}]})))
    before = worker.batches()
    rps_live = len(live) / worker.timed(worker.readings_topic, live, 600)
    print(f"turnpoint: {len(live)} readings, one per message: {rps_live:,.0f} readings/s, "
          f"worker CPU {1e6 * worker.cpu / len(live):.0f} µs per message; "
          f"{worker.split('readings', before, len(live))}", flush=True)
    return rps_live


def batched_records(symbols: int, days: int, per_message: int) -> list[tuple[bytes, bytes]]:
    """The batched shape: each symbol's bars in messages of `per_message` (the same bytes for every runner)."""
    rng = random.Random(11)
    records = []
    for s in range(symbols):
        bars = bar_series(f"S{s:05d}", days, rng)
        for i in range(0, len(bars), per_message):
            records.append((f"S{s:05d}".encode(), orjson.dumps({"v": 1, "items": bars[i:i + per_message]})))
    return records


def single_records(n: int) -> list[tuple[bytes, bytes]]:
    """The live shape: one bar per message, 200 days each of n/200 symbols."""
    rng = random.Random(12)
    singles = []
    for s in range(max(1, n // 200)):
        for bar in bar_series(f"ONE{s:04d}", 200, rng):
            singles.append((str(bar["symbol"]).encode(), orjson.dumps({"v": 1, "items": [bar]})))
    return singles


PEERS = REPO / ".turnpoint" / "peers"


def quix_python() -> Path:
    """The peer's own environment: Quix Streams and turnpoint-core, never the project's venv."""
    env = PEERS / "quix"
    py = env / "bin" / "python"
    if not py.exists():
        import subprocess

        uv = REPO / ".tools" / "bin" / "uv"
        print(f"installing quixstreams into {env}", flush=True)
        subprocess.run([str(uv), "venv", "-q", str(env), "--python", sys.executable], check=True)
        subprocess.run([str(uv), "pip", "install", "-q", "--python", str(py), "quixstreams==3.28.*",
                        str(REPO / "libs" / "core")], check=True)
    return py


def warm_partitions(settings: KafkaSettings, topic: str, partitions: int) -> None:
    """One 50-bar message of symbol WARM into each partition of the bars topic."""
    warm = [(b"WARM", orjson.dumps({"v": 1, "items": bar_series("WARM", 50, random.Random(1))}))]
    for partition in range(partitions):
        produce(settings, topic, warm, partition)


def run_quix(bootstrap: str, symbols: int, days: int, per_message: int, tmp: Path, live: int,
             shapes: tuple[str, ...] = ("batched", "live")) -> dict[str, float]:
    """The same bar job and the same input messages under Quix Streams: batched, then one bar per message."""
    py = quix_python()
    out: dict[str, float] = {}
    for shape in shapes:
        records = batched_records(symbols, days, per_message) if shape == "batched" else single_records(live)
        prefix = f"q{uuid.uuid4().hex[:6]}."
        names = [f"{prefix}{t.name}" for t in (topics.BARS, topics.PRICES, topics.LEGS, topics.STATES)]
        settings = KafkaSettings(bootstrap_servers=bootstrap, partitions=2)
        ensure_topics(settings, names)
        group = f"{prefix}quix"
        proc = spawn([str(py), str(REPO / "bench" / "peer_quix.py"), bootstrap, group, *names,
                      str(tmp / f"quix-{shape}")], {}, tmp / f"quix-{shape}.log")
        try:
            warm_partitions(settings, names[0], 2)
            wait_lag_zero(bootstrap, group, [names[0]], 180, proc)
            n = sum(len(orjson.loads(v)["items"]) for _, v in records)
            t0 = produce(settings, names[0], records)
            t1 = wait_lag_zero(bootstrap, group, [names[0]], 900, proc)
            out[shape] = n / (t1 - t0)
            out[f"{shape}_rss"] = peak_rss_mb(proc.pid)
            print(f"quix streams ({shape}): {n} bars in {len(records)} messages: {t1 - t0:.2f}s = "
                  f"{out[shape]:,.0f} bars/s; peak RSS {out[f'{shape}_rss']:.0f} MiB", flush=True)
        finally:
            stop(proc)
    return out


def run_naive(bootstrap: str, n_bars: int, tmp: Path) -> float:
    prefix = f"n{uuid.uuid4().hex[:6]}."
    settings = KafkaSettings(bootstrap_servers=bootstrap, partitions=2)
    source, sink = f"{prefix}bars", f"{prefix}legs"
    ensure_topics(settings, [source, sink])
    app_id = f"{prefix}naive"
    proc = spawn([python(), str(REPO / "bench" / "naive_faust.py"), bootstrap, source, sink, app_id, str(free_port())],
                 {}, tmp / "naive.log")
    rng = random.Random(2)
    try:
        produce(settings, source, [(b"WARM", orjson.dumps({"symbol": "WARM", "close": 1.0, "i": 0}))])
        wait_lag_zero(bootstrap, app_id, [source], 120, proc)
        records = []
        symbols = max(1, n_bars // 200)
        for s in range(symbols):
            for i, bar in enumerate(bar_series(f"S{s:05d}", 200, rng)):
                records.append((f"S{s:05d}".encode(), orjson.dumps({"symbol": bar["symbol"], "close": bar["close"], "i": i})))
        t0 = produce(settings, source, records)
        t1 = wait_lag_zero(bootstrap, app_id, [source], 900, proc)
        rate = len(records) / (t1 - t0)
        print(f"naive faust: {len(records)} bars, one per message, per-event table update: {rate:,.0f} bars/s",
              flush=True)
        return rate
    finally:
        stop(proc)


def live_only(bootstrap: str, tmp: Path, live: int, repeat: int, peer: str | None) -> None:
    """The live shape alone, `repeat` times in one run: turnpoint's bars and readings, then the peer's bars."""
    runs: list[dict[str, float]] = []
    for r in range(repeat):
        worker = Worker(bootstrap, tmp)
        try:
            worker.warm()
            run = {"live": live_bars(worker, live), "readings_live": live_readings(worker, live, per_series=0)}
            run["rss"] = worker.rss()
        finally:
            worker.stop()
        if peer == "quix":
            q = run_quix(bootstrap, 0, 0, 0, tmp, live, shapes=("live",))
            run["quix_live"], run["quix_rss"] = q["live"], q["live_rss"]
            run["ratio_live_vs_quix"] = run["live"] / run["quix_live"]
        print(f"run {r + 1}: " + ", ".join(f"{k} {v:,.2f}" for k, v in run.items()), flush=True)
        runs.append(run)
    best = max(runs, key=lambda x: x["live"])
    final_line("transform-live", best["live"], "bars/s", "quix live" if peer else "none", best.get("quix_live", 0.0),
               runs=[{k: round(v, 2) for k, v in run.items()} for run in runs], messages=live)


def batched_only(bootstrap: str, tmp: Path, symbols: int, days: int, repeat: int, peer: str | None,
                 per_message: int = 250) -> None:
    """The batched shape alone (messages of 250 bars per symbol), `repeat` times in one run: a fresh warm
    worker each time, then the peer on the same messages."""
    runs: list[dict[str, float]] = []
    records = batched_records(symbols, days, per_message)
    n_bars = symbols * days
    for r in range(repeat):
        worker = Worker(bootstrap, tmp)
        try:
            worker.warm()
            took = worker.timed(worker.bars_topic, records)
            run = {"batched": n_bars / took, "cpu_us_per_bar": 1e6 * worker.cpu / n_bars, "rss": worker.rss()}
            print(f"turnpoint: {n_bars} bars of {symbols} symbols in {len(records)} messages: {took:.2f}s = "
                  f"{run['batched']:,.0f} bars/s, worker CPU {run['cpu_us_per_bar']:.1f} µs per bar; "
                  f"worker peak RSS {run['rss']:.0f} MiB; load {os.getloadavg()[0]:.1f}", flush=True)
        finally:
            worker.stop()
        if peer == "quix":
            q = run_quix(bootstrap, symbols, days, per_message, tmp, 0, shapes=("batched",))
            run["quix_batched"], run["quix_rss"] = q["batched"], q["batched_rss"]
            run["ratio_batched_vs_quix"] = run["batched"] / run["quix_batched"]
        print(f"run {r + 1}: " + ", ".join(f"{k} {v:,.2f}" for k, v in run.items()), flush=True)
        runs.append(run)
    best = max(runs, key=lambda x: x["batched"])
    final_line("transform-batched", best["batched"], "bars/s", "quix batched" if peer else "none",
               best.get("quix_batched", 0.0), runs=[{k: round(v, 2) for k, v in run.items()} for run in runs],
               symbols=symbols, days=days)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small run, under 3 minutes")
    ap.add_argument("--symbols", type=int, default=None)
    ap.add_argument("--days", type=int, default=None)
    ap.add_argument("--peer", choices=["quix"], default=None,
                    help="also run the same job under a peer framework, same broker, same messages")
    ap.add_argument("--live", type=int, default=100_000,
                    help="messages of the one-bar/one-reading-per-message shape (20,000 took 1-2 s: the 1 s commit "
                         "interval decided the figure)")
    ap.add_argument("--live-only", action="store_true",
                    help="only the live shape (bars, readings, and the peer's bars), --repeat times")
    ap.add_argument("--batched-only", action="store_true",
                    help="only the batched shape (and the peer's, with --peer), --repeat times")
    ap.add_argument("--per-message", type=int, default=250,
                    help="bars per input message of --batched-only (the drop folder's backfill sends ~750)")
    ap.add_argument("--repeat", type=int, default=1, help="repetitions of --live-only or --batched-only in one run")
    args = ap.parse_args()
    symbols = args.symbols or 5000
    days = args.days or (100 if args.quick else 500)
    naive_bars = 10_000 if args.quick else 40_000
    readings = 100_000 if args.quick else 1_000_000
    if args.live_only:
        with broker() as bootstrap, tempfile.TemporaryDirectory() as tmpdir:
            live_only(bootstrap, Path(tmpdir), args.live, args.repeat, args.peer)
        return
    if args.batched_only:
        with broker() as bootstrap, tempfile.TemporaryDirectory() as tmpdir:
            batched_only(bootstrap, Path(tmpdir), args.symbols or 2000, args.days or 500, args.repeat, args.peer,
                         args.per_message)
        return
    live = min(args.live, symbols * days)
    with broker() as bootstrap, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        tp = run_turnpoint(bootstrap, symbols, days, 250, readings, tmp, live)
        naive = run_naive(bootstrap, naive_bars, tmp)
        peer = run_quix(bootstrap, symbols, days, 250, tmp, live) if args.peer == "quix" else {}
    extra: dict[str, object] = {}
    if peer:
        extra = {"quix_batched": round(peer["batched"], 1), "quix_live": round(peer["live"], 1),
                 "ratio_batched_vs_quix": round(tp["batched"] / peer["batched"], 2),
                 "ratio_live_vs_quix": round(tp["single"] / peer["live"], 2),
                 "quix_peak_rss_mib": round(max(peer["batched_rss"], peer["live_rss"]), 1)}
        print(f"turnpoint vs quix streams, same job: batched x{extra['ratio_batched_vs_quix']}, "
              f"one bar per message x{extra['ratio_live_vs_quix']}", flush=True)
    final_line("transform", tp["batched"], "bars/s", "naive per-event faust", naive,
               single_bar_messages=round(tp["single"], 1), readings_per_s=round(tp["readings"], 1),
               readings_live_per_s=round(tp["readings_live"], 1),
               worker_peak_rss_mib=round(tp["rss"], 1), symbols=symbols, days=days, **extra)


if __name__ == "__main__":
    main()
