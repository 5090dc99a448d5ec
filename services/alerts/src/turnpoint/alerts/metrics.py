"""Prometheus metrics of the alerts service (process-wide, served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FIRED = Counter("turnpoint_alerts_fired_total", "Alerts produced by the evaluator (replays included)", ["rule", "status"])
RECEIVED = Counter("turnpoint_alerts_new_total", "Alerts recorded for the first time by the notifier", ["rule", "delivery"])
DELIVERED = Counter("turnpoint_alerts_delivered_total", "Alerts the receiver accepted (2xx)", ["rule"])
FAILED = Counter("turnpoint_alerts_failed_attempts_total", "Delivery attempts that failed (retried)", ["rule", "reason"])
PENDING = Gauge("turnpoint_alerts_pending", "Alerts not yet delivered (retried with backoff, never dropped)")
RECORDS = Counter("turnpoint_alerts_records_total", "Input records consumed by the evaluator", ["topic"])
DEAD_LETTERS = Counter("turnpoint_alerts_dead_letters_total", "Records sent to turnpoint.dlq.alerts.v1", ["reason"])
BATCH_FAILURES = Counter("turnpoint_alerts_batch_failures_total", "Batches retried, by error", ["role", "error"])
DELIVERY_SECONDS = Histogram(
    "turnpoint_alerts_delivery_seconds", "Duration of one webhook POST", ["rule"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def batch_failed(role: str, exc: Exception) -> None:
    """A failed batch of the evaluator's or the notifier's consume loop, by the exception's type."""
    BATCH_FAILURES.labels(role, type(exc).__name__).inc()
