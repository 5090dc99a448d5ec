"""Alerts benchmark: alerts/s through the evaluator and the notifier, and latency to the webhook.

    python bench/alerts.py [--quick]

With an embedded broker and PostgreSQL, `turnpoint alerts run` (evaluator + notifier) in a subprocess and
a local webhook receiver (HTTP/1.1 keep-alive, answers 204) in this process:
  1. baseline: the same receiver fed by one sequential POST per alert (httpx, keep-alive, no broker, no
     database): what a naive "POST in the consumer loop" notifier would reach;
  2. burst: N outlier records published at once; alerts/s until the receiver has every id;
  3. steady: outliers published at a fixed rate (1,000/s) for a while; latency from each outlier's
     publication on turnpoint.outliers.v1 to the receiver's arrival, p50/p95/p99.
The latency starts at the outlier topic: the transform's own latency (reading -> outlier) is measured by
bench/transform.py. Prints figures and a final JSON line with "bench": "alerts".
Goal: p95 < 1 s at 1,000 alerts/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import final_line, spawn, stop

from turnpoint.cli.embedded import free_port, start_broker, start_postgres, stop_pid, stop_postgres
from turnpoint.core.alerts.model import alert_id

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


class ReceiverServer:
    """Runs in its own process (`--receiver`): records the first arrival (CLOCK_MONOTONIC, shared by the
    processes of one machine) of every id; GET /count and GET /arrivals report them."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.posts = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                now = time.monotonic()
                key = self.headers.get("Idempotency-Key") or orjson.loads(raw)["id"]
                with receiver.lock:
                    receiver.posts += 1
                    receiver.arrived.setdefault(key, now)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                with receiver.lock:
                    doc = ({"count": len(receiver.arrived), "posts": receiver.posts} if self.path == "/count"
                           else receiver.arrived)
                    raw = orjson.dumps(doc)
                self.send_response(200)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True


class Receiver:
    """The client side of the receiver process."""

    def __init__(self, root: Path) -> None:
        port_file = root / "receiver.port"
        self.proc = spawn([sys.executable, __file__, "--receiver", str(port_file)], {}, root / "receiver.log")
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline:
                msg = "the receiver did not start"
                raise RuntimeError(msg)
            time.sleep(0.05)
        self.base = f"http://127.0.0.1:{port_file.read_text().strip()}"
        self.url = f"{self.base}/hook"
        self.client = httpx.Client()

    def count(self) -> tuple[int, int]:
        doc = self.client.get(f"{self.base}/count").json()
        return doc["count"], doc["posts"]

    def arrivals(self) -> dict[str, float]:
        return self.client.get(f"{self.base}/arrivals", timeout=60).json()


def serve_receiver(port_file: Path) -> None:
    server = ReceiverServer()
    port_file.write_text(str(server.server.server_address[1]))
    server.server.serve_forever()


def outlier(i: int) -> tuple[str, dict[str, Any], str]:
    series = f"plant{i % 50}/people"
    ts = (T0 + dt.timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
    item = {"series": series, "ts": ts, "value": 40.0, "mean": 20.0, "std": 3.0, "direction": "high", "k": 1.5,
            "window_days": 28}
    return series, item, alert_id("bench", "outlier", series, T0 + dt.timedelta(seconds=i))


def baseline(receiver: Receiver, n: int) -> float:
    with httpx.Client() as client:
        t = time.perf_counter()
        for i in range(n):
            _s, item, aid = outlier(10_000_000 + i)
            body = {"id": aid, "rule": "bench", "kind": "outlier", "status": "firing", "subject": item["series"],
                    "at": item["ts"], "value": 40.0, "message": "m", "details": {}}
            client.post(receiver.url, content=orjson.dumps(body),
                        headers={"Content-Type": "application/json", "Idempotency-Key": aid}).raise_for_status()
        return n / (time.perf_counter() - t)


def wait_all(receiver: Receiver, total: int, timeout: float) -> float:
    """Until the receiver holds `total` distinct ids (every id the benchmark expects so far)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if receiver.count()[0] >= total:
            return time.monotonic()
        time.sleep(0.05)
    msg = f"only {receiver.count()[0]} of {total} alerts arrived in {timeout:.0f}s"
    raise TimeoutError(msg)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (a few seconds per phase)")
    ap.add_argument("--rate", type=int, default=1000, help="outliers/s of the steady phase (goal: 1000)")
    ap.add_argument("--receiver", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.receiver:
        serve_receiver(args.receiver)
        return
    burst_n = 5_000 if args.quick else 50_000
    rate, seconds = args.rate, (10 if args.quick else 60)
    root = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    broker = start_broker(free_port(), root / "broker.log")
    pg = start_postgres(root / "pg", free_port())
    receiver = Receiver(root)
    proc = None
    try:
        from confluent_kafka import Producer

        from turnpoint.core.kafka import ensure_topics
        from turnpoint.core.settings import KafkaSettings
        from turnpoint.loader.migrations import migrate

        migrate(pg.url)
        prefix = f"b{uuid.uuid4().hex[:6]}."
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap, topic_prefix=prefix, partitions=4)
        ensure_topics(kafka)
        rules = root / "rules.yaml"
        rules.write_text(f"rules:\n  - name: bench\n    kind: outlier\n    match: '*'\n    webhook: {receiver.url}\n")
        base_n = 1000 if args.quick else 5000
        base = baseline(receiver, base_n)
        print(f"baseline: sequential POSTs (keep-alive) to the same receiver: {base:,.0f}/s over {base_n:,}")

        port = free_port()
        env = {
            "TURNPOINT_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap, "TURNPOINT_KAFKA__TOPIC_PREFIX": prefix,
            "TURNPOINT_KAFKA__PARTITIONS": "4", "TURNPOINT_DATABASE_URL": pg.url,
            "TURNPOINT_ALERTS__RULES_FILE": str(rules), "TURNPOINT_ALERTS__PORT": str(port),
            "TURNPOINT_HOME": str(root / "home"), "TURNPOINT_LOG_LEVEL": "WARNING",
        }
        proc = spawn([sys.executable, "-m", "turnpoint.cli.main", "alerts", "run"], env, root / "alerts.log")
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError((root / "alerts.log").read_text()[-2000:])
            time.sleep(0.2)
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 2})
        topic = f"{prefix}turnpoint.outliers.v1"

        # warm-up: consumer groups joined, connections open
        warm = set()
        for i in range(200):
            series, item, aid = outlier(20_000_000 + i)
            producer.produce(topic, key=series, value=orjson.dumps({"v": 1, "items": [item]}))
            warm.add(aid)
        producer.flush(30)
        expected = len(warm) + base_n
        wait_all(receiver, expected, 120)

        # burst
        ids = set()
        t = time.monotonic()
        for i in range(burst_n):
            series, item, aid = outlier(i)
            producer.produce(topic, key=series, value=orjson.dumps({"v": 1, "items": [item]}))
            ids.add(aid)
            if i % 1000 == 0:
                producer.poll(0)
        cpu0 = cpu_seconds(proc.pid)
        producer.flush(60)
        expected += len(ids)
        done = wait_all(receiver, expected, 600)
        cpu_per_alert = (cpu_seconds(proc.pid) - cpu0) / burst_n
        burst_rate = burst_n / (done - t)
        print(f"burst: {burst_n:,} outliers published at once -> {burst_rate:,.0f} alerts/s delivered "
              f"(first publish to last delivery {done - t:.2f} s); the alerts process used "
              f"{cpu_per_alert * 1000:.2f} ms CPU per alert ({1 / cpu_per_alert:,.0f} alerts/s per free core)")

        # steady rate
        sent: dict[str, float] = {}
        n = rate * seconds
        start = time.monotonic()
        for i in range(n):
            due = start + i / rate
            while (now := time.monotonic()) < due:
                time.sleep(min(0.001, due - now))
            series, item, aid = outlier(1_000_000 + i)
            producer.produce(topic, key=series, value=orjson.dumps({"v": 1, "items": [item]}))
            producer.poll(0)
            sent[aid] = time.monotonic()
        producer.flush(60)
        published_rate = n / (time.monotonic() - start)
        expected += len(sent)
        wait_all(receiver, expected, 600)
        arrived = receiver.arrivals()
        lat = sorted(arrived[a] - s for a, s in sent.items())

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000

        p50, p95, p99 = pct(0.50), pct(0.95), pct(0.99)
        print(f"steady: {n:,} outliers at {published_rate:,.0f}/s -> latency publish->webhook "
              f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms, max {lat[-1] * 1000:.0f} ms")
        distinct, posts = receiver.count()
        print(f"receiver: {posts:,} posts for {distinct:,} distinct ids")
        final_line("alerts", burst_rate, "alerts/s", "sequential POST loop", base, p50_ms=round(p50, 1),
                   p95_ms=round(p95, 1), p99_ms=round(p99, 1), steady_rate=round(published_rate, 1),
                   goal_p95_ms=1000, cpu_ms_per_alert=round(cpu_per_alert * 1000, 3), quick=args.quick)
    finally:
        if proc is not None:
            stop(proc)
        stop(receiver.proc)
        stop_postgres(pg.pgdata, mode="immediate")
        stop_pid(broker.pid)
        if os.environ.get("BENCH_KEEP") is None:
            import shutil

            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
