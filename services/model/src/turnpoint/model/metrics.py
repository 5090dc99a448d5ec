"""Prometheus metrics of the model service (process-wide, served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INFERENCES = Counter("turnpoint_model_inferences_total", "Inferences (one per record)", ["model", "version", "source"])
BATCH_SECONDS = Histogram(
    "turnpoint_model_batch_seconds", "Duration of one batched inference (pre/post-processing included)",
    ["model", "source"], buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0),
)
BATCH_SIZE = Histogram(
    "turnpoint_model_batch_size", "Records per batched inference", ["model", "source"],
    buckets=(1, 2, 8, 32, 128, 512, 2048, 8192),
)
RECORDS = Counter("turnpoint_model_records_total", "Input records consumed", ["topic"])
SKIPPED = Counter("turnpoint_model_skipped_total", "Records not scored, by reason", ["reason"])
DEAD_LETTERS = Counter("turnpoint_model_dead_letters_total", "Records sent to the dead-letter topic", ["reason"])
LAG = Gauge("turnpoint_model_consumer_lag", "Messages behind the end of the input topics (group turnpoint-model)")
LOG_DOCS = Counter("turnpoint_model_inference_log_docs_total", "Inference log documents written, by sink", ["sink"])
LOG_DROPPED = Counter(
    "turnpoint_model_inference_log_dropped_total", "Inference log documents a sink could not take (still in the file)",
    ["sink"],
)
MODEL_INFO = Gauge("turnpoint_model_loaded_info", "1 for each loaded model version", ["model", "version"])
RELOADS = Counter("turnpoint_model_reloads_total", "Model versions loaded", ["model"])
HTTP_ERRORS = Counter("turnpoint_model_http_errors_total", "HTTP problem responses", ["status"])
BATCH_FAILURES = Counter("turnpoint_model_batch_failures_total", "Stream batches retried, by error", ["error"])
CAUGHT_UP = Counter("turnpoint_model_caught_up_total",
                    "Targets scored because a model version appeared after their data (latest bar / last window)",
                    ["kind"])
