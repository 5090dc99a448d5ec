"""Prometheus metrics of the loader (one set per process; rates come from the counters)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ROWS = Counter(
    "turnpoint_loader_rows", "Rows written to the database (rate() gives rows/s per table)", ["table", "op"],
)
MESSAGES = Counter("turnpoint_loader_messages", "Kafka messages consumed", ["topic"])
BATCH_SECONDS = Histogram(
    "turnpoint_loader_batch_seconds", "Time to write and commit one flush",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_ROWS = Histogram(
    "turnpoint_loader_batch_rows", "Rows per flush", buckets=(1, 10, 100, 1_000, 10_000, 50_000, 200_000, 1_000_000),
)
RETRIES = Counter("turnpoint_loader_retries", "Flushes retried because the database was unavailable")
LATE = Counter(
    "turnpoint_loader_readings_late", "Readings not stored: later than the allowed lateness (the transform dead-letters them)",
)
DEAD_LETTERS = Counter("turnpoint_loader_dead_letters", "Records sent to the dead-letter topic", ["reason"])
LAG = Gauge("turnpoint_loader_consumer_lag", "Messages behind the end of the partition", ["topic", "partition"])
LAST_FLUSH = Gauge("turnpoint_loader_last_flush_timestamp_seconds", "Unix time of the last committed flush")
