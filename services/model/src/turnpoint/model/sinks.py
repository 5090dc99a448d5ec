"""Where inference log documents go: a local file (always), the Kafka topic, optionally Elasticsearch.

The file is the durable copy: it is written first, synchronously, so neither a broker nor an Elasticsearch
outage loses a document (`turnpoint model ship-logs` indexes files later, idempotently by `event.id`).
The Kafka and Elasticsearch sinks never block inference: librdkafka buffers, and the Elasticsearch writer
is a background thread behind a bounded queue; what they cannot take is counted, not waited for.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, cast

import orjson

from turnpoint.core.observability import get_logger
from turnpoint.core.produce import ProduceTimeout, produce
from turnpoint.model import metrics
from turnpoint.model.ecs import dumps
from turnpoint.model.elastic import already_present, bulk_actions, install_template

log = get_logger(__name__)
Doc = dict[str, Any]


class Sink(Protocol):
    def write(self, key: str, docs: Sequence[Doc], lines: Sequence[bytes]) -> None:
        """`lines` are the documents already serialised (one JSON object each, no newline)."""
    
    def close(self) -> None: ...


class FileSink:
    """ECS JSON lines, one file per UTC day: `<dir>/inference-YYYY-MM-DD.ndjson`."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._day: str | None = None
        self._fh: Any = None

    def path_for(self, day: str) -> Path:
        return self.directory / f"inference-{day}.ndjson"

    def write(self, key: str, docs: Sequence[Doc], lines: Sequence[bytes]) -> None:
        if not lines:
            return
        data = b"\n".join(lines) + b"\n"
        day = dt.datetime.now(dt.UTC).date().isoformat()
        with self._lock:
            if day != self._day:
                if self._fh is not None:
                    self._fh.close()
                self._fh = self.path_for(day).open("ab")
                self._day = day
            self._fh.write(data)
            self._fh.flush()
        metrics.LOG_DOCS.labels("file").inc(len(docs))

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
                self._day = None


class KafkaSink:
    """Envelopes of up to `chunk` documents on the inference-log topic, keyed by model name."""

    def __init__(self, producer: Any, topic: str, chunk: int = 200) -> None:
        self.producer, self.topic, self.chunk = producer, topic, chunk

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            metrics.LOG_DROPPED.labels("kafka").inc()
            log.error("inference_log.kafka_failed", topic=self.topic, error=str(err))

    def write(self, key: str, docs: Sequence[Doc], lines: Sequence[bytes]) -> None:
        for start in range(0, len(lines), self.chunk):
            part = lines[start : start + self.chunk]
            value = b'{"v":1,"items":[' + b",".join(part) + b"]}"
            try:  # the inference log is best effort: wait briefly for queue space, never stall predictions
                produce(self.producer, self.topic, value, key.encode(), on_delivery=self._delivered, max_wait_s=0.1)
            except ProduceTimeout:
                metrics.LOG_DROPPED.labels("kafka").inc(len(part))
                continue
            metrics.LOG_DOCS.labels("kafka").inc(len(part))
        self.producer.poll(0)

    def close(self) -> None:
        self.producer.flush(10)


class ElasticsearchSink:
    """Bulk-indexes documents from a bounded queue on a background thread; retries while Elasticsearch is down."""

    def __init__(self, client: Any, prefix: str, maxsize: int = 50_000, batch: int = 1000) -> None:
        self.client, self.prefix, self.batch = client, prefix, batch
        self._queue: queue.Queue[Doc] = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self._template_ok = False
        self.indexed = 0
        self.available = False
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="es-writer", daemon=True)
        self._thread.start()

    def write(self, key: str, docs: Sequence[Doc], lines: Sequence[bytes]) -> None:
        for i, line in enumerate(lines):
            try:
                self._queue.put_nowait(orjson.loads(line))  # plain JSON for the client's serialiser
            except queue.Full:
                metrics.LOG_DROPPED.labels("elasticsearch").inc(len(docs) - i)
                return

    def _take(self) -> list[Doc]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        self._pending = 1
        docs = [first]
        while len(docs) < self.batch:
            try:
                docs.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return docs

    def _send(self, docs: list[Doc]) -> None:
        from elasticsearch import helpers

        if not self._template_ok:
            install_template(self.client, self.prefix)
            self._template_ok = True
        ok, refused = helpers.bulk(self.client, bulk_actions(docs, self.prefix), raise_on_error=False,
                                   raise_on_exception=True, max_retries=2)
        # without stats_only, bulk answers the refused items themselves (its stubs say "int | list")
        refused = cast("list[dict[str, Any]]", refused)
        # a batch retried after a timeout may have been stored the first time: those are not lost
        errors = [e for e in refused if not already_present(e)]
        ok += len(refused) - len(errors)
        self.indexed += ok
        metrics.LOG_DOCS.labels("elasticsearch").inc(ok)
        if errors:
            metrics.LOG_DROPPED.labels("elasticsearch").inc(len(errors))
            log.error("inference_log.es_rejected", count=len(errors), first=str(errors[0])[:500])

    def _run(self) -> None:
        backoff = 0.5
        pending: list[Doc] = []
        while not (self._stop.is_set() and not pending and self._queue.empty()):
            if not pending:
                pending = self._take()
                self._pending = len(pending)
                if not pending:
                    continue
            try:
                self._send(pending)
                pending, backoff, self.available, self._pending = [], 0.5, True, 0
            except Exception as exc:  # connection refused, timeouts: keep the batch, retry later
                self.available = False
                log.warning("inference_log.es_unavailable", error=str(exc)[:300], retry_in_s=backoff)
                if self._stop.wait(backoff):
                    metrics.LOG_DROPPED.labels("elasticsearch").inc(len(pending) + self._queue.qsize())
                    return  # stopping while ES is down: the file keeps these documents
                backoff = min(backoff * 2, 30.0)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued document was sent; False when Elasticsearch did not take them in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.empty() and self._pending == 0:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


class InferenceLog:
    """Fans each batch of documents out to the sinks; the first sink is the durable file."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)

    def emit(self, key: str, docs: Sequence[Doc]) -> None:
        lines = [dumps(d) for d in docs]  # serialised once for every sink
        for sink in self.sinks:
            try:
                sink.write(key, docs, lines)
            except Exception as exc:  # a broken sink must not fail an inference
                metrics.LOG_DROPPED.labels(type(sink).__name__).inc(len(docs))
                log.error("inference_log.sink_failed", sink=type(sink).__name__, error=str(exc)[:300])

    def close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:
                log.error("inference_log.close_failed", sink=type(sink).__name__, error=str(exc)[:300])


class MemorySink:
    """Keeps documents in memory (tests, and `bench` without Kafka)."""

    def __init__(self) -> None:
        self.docs: list[Doc] = []

    def write(self, key: str, docs: Sequence[Doc], lines: Sequence[bytes]) -> None:
        self.docs.extend(orjson.loads(line) for line in lines)  # what the other sinks received

    def close(self) -> None:
        return
