"""Prometheus metrics of the ingest service (served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECORDS = Counter("turnpoint_ingest_records_total", "Records acknowledged by Kafka", ["source", "topic"])
REJECTED = Counter("turnpoint_ingest_rejected_total", "Records rejected (sent to a dead-letter topic)",
                   ["source", "reason"])
DEAD_LETTERS = Counter("turnpoint_ingest_dead_letters_total", "Messages sent to dead-letter topics", ["topic"])
HTTP_REQUESTS = Counter("turnpoint_ingest_http_requests_total", "Write API requests", ["route", "status"])
HTTP_LATENCY = Histogram("turnpoint_ingest_http_seconds", "Write API latency (until Kafka acknowledged)", ["route"])
SPOOLED = Counter("turnpoint_ingest_spooled_total", "Records written to the local spool while Kafka was away")
REPLAYED = Counter("turnpoint_ingest_replayed_total", "Spooled records replayed to Kafka")
SPOOL_PENDING = Gauge("turnpoint_ingest_spool_pending_segments", "Spool segments not yet replayed")
SERIAL_CONNECTED = Gauge("turnpoint_ingest_serial_connected", "1 when the port is open", ["port"])
SERIAL_RECONNECTS = Counter("turnpoint_ingest_serial_reconnects_total", "Port (re)open attempts that failed", ["port"])
SERIAL_ERRORS = Counter("turnpoint_ingest_serial_errors_total", "Garbage, partial lines, checksum/CRC errors",
                        ["port", "reason"])
FILES = Counter("turnpoint_ingest_drop_files_total", "Drop-folder files processed", ["outcome"])
