"""Prometheus metrics of the transform workers."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_IN = Counter("turnpoint_transform_messages_in_total", "Kafka messages consumed", ["topic"])
RECORDS_OUT = Counter("turnpoint_transform_messages_out_total", "Kafka messages produced", ["topic"])
DEAD_LETTERS = Counter("turnpoint_transform_dead_letters_total", "Records sent to a dead-letter topic", ["reason"])
BATCH_SECONDS = Histogram(
    "turnpoint_transform_batch_seconds", "Time to process one batch of events", ["agent"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SEEKS_BACK = Counter(
    "turnpoint_transform_seeks_back_total", "Seeks back to input messages lost inside the consumer", ["topic", "why"],
)
CONSUMER_LAG = Gauge("turnpoint_transform_consumer_lag", "Messages behind the end of each input topic", ["topic"])
PROCESS_SECONDS = Histogram(
    "turnpoint_transform_process_seconds", "Time to compute one batch (without publishing)", ["agent"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RESUMES = Counter(
    "turnpoint_transform_resumes_total", "Input partitions this worker started tracking, by where they resumed",
    ["topic", "source"],
)
COMMITS_REFUSED = Counter(
    "turnpoint_transform_commits_refused_total", "Input partition offsets whose commit the broker refused", ["topic"],
)
