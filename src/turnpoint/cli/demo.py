"""`turnpoint run`: the whole pipeline on the embedded stack with sample data, API on :8000.

Starts the stack, backfills sample market bars and sensor readings through `turnpoint ingest`, then
keeps feeding live readings (and daily re-sends of the last bars, i.e. revisions) until Ctrl-C or
`--seconds` runs out, and prints what flowed through each stage.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from turnpoint.cli import devstack, samples
from turnpoint.core import topics

console = Console(stderr=True)


def _ingest(stack: devstack.Stack, kind: str, path: Path) -> None:
    env = {**os.environ, **devstack.service_env(stack, devstack.TurnpointSettings())}
    done = subprocess.run([sys.executable, "-m", "turnpoint.cli.main", "ingest", kind, "--file", str(path)],
                          env=env, check=False)
    if done.returncode != 0:
        console.print(f"[red]`turnpoint ingest {kind}` failed with status {done.returncode}[/]")
        raise typer.Exit(1)


def _api_count(port: int, path: str) -> int:
    try:
        r = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    except httpx.HTTPError:
        return 0
    return len(r.json().get("items", [])) if r.status_code == 200 else 0


class LiveFeed:
    """Live sensor readings every second and, now and then, a re-send of the last bars (revisions)."""

    def __init__(self, stack: devstack.Stack, bars_csv: Path) -> None:
        from turnpoint.core.kafka import make_producer
        from turnpoint.core.settings import KafkaSettings

        self.producer = make_producer(KafkaSettings(bootstrap_servers=stack.bootstrap), **{"log.connection.close": False})
        self.rng = random.Random(3)
        self.last_bars = self._last_bars(bars_csv)
        self.sent = 0

    @staticmethod
    def _last_bars(path: Path, n: int = 3) -> dict[str, list[dict[str, Any]]]:
        import csv

        out: dict[str, list[dict[str, Any]]] = {}
        with path.open() as f:
            for row in csv.DictReader(f):
                out.setdefault(row["symbol"], []).append(row)
        return {s: rows[-n:] for s, rows in out.items()}

    def readings(self) -> None:
        from turnpoint.core.serde import encode_items

        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        for series in samples.SERIES:
            item = {"series": series, "ts": now.isoformat().replace("+00:00", "Z"),
                    "value": samples.reading_value(series, now, self.rng), "source": "demo"}
            self.producer.produce(topics.READINGS.name, key=series.encode(), value=encode_items([item]))
            self.sent += 1
        self.producer.poll(0)

    def revisions(self) -> None:
        from turnpoint.core.serde import encode_items

        for symbol, rows in self.last_bars.items():
            items = []
            for row in rows:
                bump = 1 + self.rng.uniform(-0.002, 0.002)
                o, h, lo, c = (float(row[k]) for k in ("open", "high", "low", "close"))
                c2 = min(h, max(lo, round(c * bump, 2)))
                items.append({"symbol": symbol, "date": row["date"], "open": o, "high": h, "low": lo, "close": c2,
                              "volume": float(row["volume"]), "source": "demo-daily"})
            self.producer.produce(topics.BARS.name, key=symbol.encode(), value=encode_items(items))
            self.sent += len(items)
        self.producer.poll(0)

    def close(self) -> None:
        self.producer.flush(10)


def _ensure_models(home: Path, bars_csv: Path, readings_csv: Path) -> None:
    """Train the demo's small forecaster and anomaly scorer into the registry the model service reads."""
    try:
        from turnpoint.model.registry import ensure_demo_models
    except ModuleNotFoundError:  # the model service is not installed
        return
    registry = Path(os.environ.get("TURNPOINT_MODEL__REGISTRY_DIR", str(home / "models")))
    versions = ensure_demo_models(registry, bars_csv, readings_csv)
    console.print("models: " + ", ".join(f"{name} {version}" for name, version in versions.items()))


def summary(stack: devstack.Stack, api_port: int, symbol: str, series: str) -> Table:
    from confluent_kafka import Consumer, TopicPartition

    from turnpoint.core.kafka import end_offsets

    table = Table(title="what flowed through each stage")
    for col in ("stage", "where", "count"):
        table.add_column(col)
    consumer = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": "turnpoint-demo-summary"})
    try:
        md = consumer.list_topics(timeout=10)

        def messages(name: str) -> int:
            parts = md.topics.get(name)
            if parts is None:
                return 0
            return sum(end_offsets(consumer, [TopicPartition(name, p) for p in parts.partitions]).values())

        for stage, spec in (("ingest", topics.BARS), ("ingest", topics.READINGS), ("transform", topics.PRICES),
                            ("transform", topics.LEGS), ("transform", topics.STATES), ("transform", topics.STATS),
                            ("transform", topics.OUTLIERS), ("model", topics.PREDICTIONS),
                            ("model", topics.INFERENCE_LOG)):
            table.add_row(stage, f"topic {spec.name} (messages)", str(messages(spec.name)))
        dead = sum(messages(n) for n in topics.dead_letter_topics())
        table.add_row("all", "dead-letter topics (messages)", str(dead))
    finally:
        consumer.close()
    import psycopg

    with psycopg.connect(stack.database_url, connect_timeout=5) as conn:
        for name in ("price", "rebound_leg", "rebound_state", "calendar_stat", "outlier", "reading", "prediction",
                     "job_info"):
            try:
                (n,) = conn.execute(f"SELECT count(*) FROM {name}").fetchone()  # type: ignore[misc]
            except psycopg.Error:
                conn.rollback()
                n = "-"
            table.add_row("loader", f"table {name} (rows)", str(n))
    for path in (f"/v1/symbols/{symbol}/bars?interval=day&limit=500", f"/v1/symbols/{symbol}/rebounds?gtype=close&limit=500",
                 f"/v1/stats?series={series}&period=day&limit=500"):
        table.add_row("api", f"GET {path} (items)", str(_api_count(api_port, path)))
    return table


def requested_ports(api_port: int | None) -> dict[str, int] | None:
    """The ports `run` asks `dev up` for: only an explicit --api-port, so TURNPOINT_API__PORT applies otherwise."""
    return {"api": api_port} if api_port else None


def run(
    seconds: int = typer.Option(0, "--seconds", help="Stop after N seconds, print the summary and stop the stack (0: run until Ctrl-C)."),
    api_port: int = typer.Option(None, "--api-port",
                                 help="Port of the read API (default: TURNPOINT_API__PORT, else 8000)."),
    keep: bool = typer.Option(False, "--keep", help="Leave the stack running afterwards (`turnpoint dev down` stops it)."),
) -> None:
    """Run the whole pipeline on the embedded stack with sample data; the API answers on :8000
    (or TURNPOINT_API__PORT, or --api-port)."""
    home = devstack.home_dir()
    data = home / "samples"
    data.mkdir(parents=True, exist_ok=True)
    bars_csv, readings_csv = data / "bars.csv", data / "readings.csv"
    nbars = samples.write_bars(bars_csv)
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    nreadings = samples.write_readings(readings_csv, end=now)
    console.print(f"sample data: {nbars} bars of {len(samples.SYMBOLS)} symbols, {nreadings} readings of "
                  f"{len(samples.SERIES)} series")
    _ensure_models(home, bars_csv, readings_csv)
    t0 = time.monotonic()
    stack = devstack.up(requested_ports(api_port))
    healthy_s = time.monotonic() - t0
    api_port = next((int(s["port"]) for s in stack.services if s["name"] == "api"), api_port or topics.PORTS["api"])
    stop = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    t_ingest = time.monotonic()
    _ingest(stack, "market", bars_csv)
    _ingest(stack, "readings", readings_csv)
    symbol, series = samples.SYMBOLS[0], samples.SERIES[0]
    days = len(samples.trading_days(dt.date(2022, 1, 3), 750))
    while not stop and _api_count(api_port, f"/v1/symbols/{symbol}/bars?interval=day&limit=1000") < min(days, 1000):
        if time.monotonic() - t_ingest > 300:
            console.print("[red]bars did not become visible through the API within 300 s[/]")
            break
        time.sleep(0.2)
    visible_s = time.monotonic() - t_ingest
    console.print(f"[green]stack healthy after {healthy_s:.1f}s; backfill visible through the API after "
                  f"{visible_s:.1f}s[/] — API on http://127.0.0.1:{api_port}/docs")
    feed = LiveFeed(stack, bars_csv)
    deadline = time.monotonic() + seconds if seconds else float("inf")
    tick = 0
    try:
        while not stop and time.monotonic() < deadline:
            feed.readings()
            if tick % 10 == 0:
                feed.revisions()
            tick += 1
            time.sleep(1)
    finally:
        feed.close()
    console.print("waiting for the pipeline to drain...")
    try:
        devstack.wait_idle(stack, timeout=120)
    except typer.Exit:
        console.print("[yellow]the pipeline did not drain within 120 s; the summary shows where it stands[/]")
    Console().print(summary(stack, api_port, symbol, series))
    if not keep:
        devstack.down()
