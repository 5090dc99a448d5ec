"""Ingest throughput: CSV backfill (bars/s), serial lines from a pseudo-terminal (readings/s) and HTTP batches
(records/s), each against a naive baseline that produces and flushes one record at a time.

    python bench/ingest.py --quick        # < 3 minutes; embedded broker (and PostgreSQL for HTTP)

Prints the figures, then one JSON line:
{"bench": "ingest", "throughput": <bars/s>, "unit": "bars/s", "baseline_name": ..., "baseline": ..., "ratio": ...}
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import threading
import time
import tty
from pathlib import Path

from turnpoint.core import topics
from turnpoint.core.kafka import ensure_topics, make_producer
from turnpoint.core.serde import encode_items
from turnpoint.core.settings import KafkaSettings
from turnpoint.ingest.files import publish_market_file
from turnpoint.ingest.settings import IngestConfig, IngestSettings

from turnpoint.cli.embedded import free_port, start_broker, start_postgres, stop_pid, stop_postgres


def naive_rate(kafka: KafkaSettings, spec: topics.TopicSpec, items: list[dict], key_field: str) -> float:
    """The baseline: one produce and one flush per record."""
    producer = make_producer(kafka)
    topic = spec.full_name(kafka.topic_prefix)
    t0 = time.perf_counter()
    for it in items:
        producer.produce(topic, key=it[key_field], value=encode_items([it]))
        producer.flush(10)
    return len(items) / (time.perf_counter() - t0)


def write_bars_csv(path: Path, n: int, symbols: int) -> None:
    rnd = random.Random(1)
    per = n // symbols
    with path.open("w") as fh:
        fh.write("symbol,date,open,high,low,close,volume\n")
        for s in range(symbols):
            price = 100.0
            for d in range(per):
                day = f"{1990 + d // 336:04d}-{1 + (d // 28) % 12:02d}-{1 + d % 28:02d}"
                price *= 1 + rnd.uniform(-0.02, 0.02)
                fh.write(f"S{s:04d},{day},{price:.2f},{price * 1.01:.2f},{price * 0.99:.2f},{price:.2f},{d}\n")


def bench_backfill(settings: IngestSettings, tmp: Path, n: int) -> tuple[float, float]:
    f = tmp / "bars.csv"
    write_bars_csv(f, n, 50)
    publish_market_file(settings, f)  # warm-up: topics, connections
    t0 = time.perf_counter()
    summary = publish_market_file(settings, f)
    rate = summary.published / (time.perf_counter() - t0)
    assert summary.ok and summary.published == n, summary
    sample = [{"symbol": "X", "date": "2024-01-02", "open": 1.0, "high": 2.0, "low": 1.0, "close": 1.5,
               "volume": 1.0, "source": None}] * 1000
    return rate, naive_rate(settings.kafka, topics.BARS, sample, "symbol")


def bench_serial(settings: IngestSettings, tmp: Path, n: int) -> tuple[float, float]:
    from turnpoint.ingest.acks import Poller
    from turnpoint.ingest.reliable import ReliableSender
    from turnpoint.ingest.serial.config import PortConfig
    from turnpoint.ingest.serial.lines import LinePortReader
    from turnpoint.ingest.spool import Spool

    master, slave = os.openpty()
    tty.setraw(slave)
    device = os.ttyname(slave)
    os.close(slave)
    sender = ReliableSender(settings.kafka, Spool(tmp / "spool"))
    poller = Poller(sender.publisher).start()
    cfg = PortConfig(name="bench", device=device, baudrate=921600, protocol="value", series="bench/serial",
                     timeout=0.05)
    reader = LinePortReader(cfg, sender)
    reader.start()
    while not reader.connected:
        time.sleep(0.01)
    lines = b"".join(b"%d.%d\n" % (i, i % 10) for i in range(n))
    t0 = time.perf_counter()
    view = memoryview(lines)
    while view:
        k = os.write(master, view[:65536])
        view = view[k:]
    while reader.emitter.count < n and time.perf_counter() - t0 < 120:
        time.sleep(0.005)
    sender.flush(30)
    rate = reader.emitter.count / (time.perf_counter() - t0)
    reader.stop()
    poller.stop()
    os.close(master)
    assert sender.publisher.stats.items_acked >= n, sender.publisher.stats
    sample = [{"series": "bench/naive", "ts": f"2025-01-01T00:00:{i % 60:02d}Z", "value": float(i), "unit": None,
               "source": None} for i in range(1000)]
    return rate, naive_rate(settings.kafka, topics.READINGS, sample, "series")


def bench_http(settings: IngestSettings, tmp: Path, requests: int, batch: int) -> tuple[float, float]:
    from fastapi.testclient import TestClient
    from turnpoint.ingest.tokens import TokenStore
    from turnpoint.ingest.write_api.app import build_app
    from turnpoint.loader.migrations import migrate

    migrate(settings.dsn())
    token = TokenStore(settings.dsn()).create(f"bench-{time.time_ns()}", ["write:readings"])
    body = [{"series": f"bench/http/{i % 20}", "ts": f"2025-01-01T00:{(i // 60) % 60:02d}:{i % 60:02d}Z",
             "value": float(i)} for i in range(batch)]
    with TestClient(build_app(settings)) as client:
        h = {"Authorization": f"Bearer {token}"}
        assert client.post("/v1/readings", json=body, headers=h).status_code == 202
        t0 = time.perf_counter()
        for _ in range(requests):
            r = client.post("/v1/readings", json=body, headers=h)
            assert r.status_code == 202, r.text
        rate = requests * batch / (time.perf_counter() - t0)
    sample = [{**b, "unit": None, "source": None} for b in body[:1000]]
    return rate, naive_rate(settings.kafka, topics.READINGS, sample, "series")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (< 3 minutes)")
    ap.add_argument("--bootstrap", help="use this broker instead of starting an embedded one")
    args = ap.parse_args()
    bars, lines, reqs = (300_000, 200_000, 20) if args.quick else (2_000_000, 1_000_000, 100)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        broker = None if args.bootstrap else start_broker(free_port(), tmp / "broker.log")
        bootstrap = args.bootstrap or broker.bootstrap  # type: ignore[union-attr]
        pg = start_postgres(tmp / "pg", free_port())
        try:
            kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"bench{time.time_ns()}.", partitions=4)
            ensure_topics(kafka)
            settings = IngestSettings(kafka=kafka, database_url=pg.url,
                                      ingest=IngestConfig(port=0, spool_dir=tmp / "spool"))
            backfill, backfill_base = bench_backfill(settings, tmp, bars)
            print(f"csv backfill      {backfill:12,.0f} bars/s     naive {backfill_base:9,.0f}/s  x{backfill / backfill_base:.0f}")
            serial, serial_base = bench_serial(settings, tmp, lines)
            print(f"serial (pty)      {serial:12,.0f} readings/s naive {serial_base:9,.0f}/s  x{serial / serial_base:.0f}")
            http, http_base = bench_http(settings, tmp, reqs, 1000)
            print(f"http (1000/req)   {http:12,.0f} records/s  naive {http_base:9,.0f}/s  x{http / http_base:.0f}")
        finally:
            stop_postgres(pg.pgdata, mode="immediate")
            if broker is not None:
                stop_pid(broker.pid)
    print(json.dumps({
        "bench": "ingest", "throughput": round(backfill), "unit": "bars/s",
        "baseline_name": "one produce + one flush per bar", "baseline": round(backfill_base),
        "ratio": round(backfill / backfill_base, 1),
        "serial_readings_per_s": round(serial), "serial_baseline": round(serial_base),
        "http_records_per_s": round(http), "http_baseline": round(http_base),
        "targets": {"backfill_bars_per_s": 100_000, "serial_readings_per_s": 50_000},
    }))


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
