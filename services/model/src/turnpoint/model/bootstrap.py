"""The composition root: settings in, a wired model service out (HTTP app, stream worker, sinks).

`bootstrap(settings)` is what `turnpoint model run` and the tests call; `run(settings)` serves it until
SIGTERM/SIGINT (uvicorn handles the signals), then stops consuming, flushes, commits and closes.
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from turnpoint.core import topics
from turnpoint.core.kafka import ensure_topics, make_consumer, make_producer
from turnpoint.core.observability import get_logger
from turnpoint.model.predictor import Predictor
from turnpoint.model.registry import Registry
from turnpoint.model.runtime import ModelStore
from turnpoint.model.settings import ModelSettings
from turnpoint.model.sinks import ElasticsearchSink, FileSink, InferenceLog, KafkaSink, Sink
from turnpoint.model.web import create_app
from turnpoint.model.worker import StreamWorker, Topics

log = get_logger(__name__)


@dataclass
class Service:
    settings: ModelSettings
    store: ModelStore
    log: InferenceLog
    predictor: Predictor
    app: Any = None
    worker: StreamWorker | None = None
    producer: Any = None
    es_sink: ElasticsearchSink | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def health(self) -> tuple[bool, dict[str, Any]]:
        models = self.store.status()
        detail: dict[str, Any] = {
            "service": self.settings.service_name, "registry": str(self.settings.model.registry_dir),
            "models": models, "degraded": not all(m["loaded"] for m in models.values()),
        }
        ok = True
        if self.worker is not None:
            stalled = self.worker.alive and time.monotonic() - self.worker.last_poll > 60
            detail["stream"] = {"alive": self.worker.alive, "stalled": stalled, "assigned_partitions": self.worker.assigned}
            ok = self.worker.alive and not stalled
        if self.es_sink is not None:
            detail["elasticsearch"] = {"available": self.es_sink.available, "indexed": self.es_sink.indexed}
        return ok, detail

    def start(self) -> None:
        """Load models (training the demo ones first if configured), start the watcher and the worker."""
        if self.settings.model.demo_models:
            from turnpoint.model.registry import ensure_demo_models

            versions = ensure_demo_models(self.settings.model.registry_dir)
            log.info("model.demo_models", registry=str(self.settings.model.registry_dir), versions=versions)
        self.store.start(self.settings.model.reload_interval_s)
        if self.worker is not None:
            worker = self.worker
            t = threading.Thread(target=worker.run, args=(self.stop_event,), name="stream-worker", daemon=True)
            t.start()
            self._threads.append(t)
            deadline = time.monotonic() + 5
            while not worker.alive and time.monotonic() < deadline:
                time.sleep(0.01)

    def close(self) -> None:
        self.stop_event.set()
        for t in self._threads:
            t.join(timeout=30)
        self.store.stop()
        self.log.close()


def bootstrap(settings: ModelSettings, *, extra_sinks: list[Sink] | None = None, kafka: bool = True) -> Service:
    """Wire the service. `kafka=False` serves HTTP only (no worker, no Kafka log sink): tests and benchmarks."""
    cfg = settings.model
    store = ModelStore(Registry(cfg.registry_dir))
    sinks: list[Sink] = [FileSink(cfg.log_dir)]
    producer = None
    prefix = settings.kafka.topic_prefix
    if kafka:
        names = Topics.with_prefix(prefix)
        ensure_topics(settings.kafka, [
            names.prices, names.readings, names.predictions, names.inference_log, names.dead_letters, topics.JOBS.full_name(prefix),
        ])
        producer = make_producer(settings.kafka, **{"client.id": f"{settings.kafka.client_id}-model"})
        sinks.append(KafkaSink(producer, topics.INFERENCE_LOG.full_name(prefix)))
    es_sink = None
    if cfg.elasticsearch_url:
        from elasticsearch import Elasticsearch

        client = Elasticsearch(cfg.elasticsearch_url, request_timeout=5, max_retries=0, retry_on_timeout=False)
        es_sink = ElasticsearchSink(client, cfg.elasticsearch_index_prefix, maxsize=cfg.elasticsearch_queue)
        sinks.append(es_sink)
    sinks.extend(extra_sinks or [])
    inference_log = InferenceLog(sinks)
    predictor = Predictor(store, inference_log, environment=settings.environment, service=settings.service_name)
    service = Service(settings, store, inference_log, predictor, producer=producer, es_sink=es_sink)
    if kafka and cfg.stream_enabled:
        consumer = make_consumer(settings.kafka, topics.MODEL_GROUP.group_id)
        service.worker = StreamWorker(
            consumer, producer, predictor, Topics.with_prefix(prefix), batch_max=cfg.batch_max,
            poll_timeout=cfg.poll_timeout_s, service=settings.service_name, skew=settings.future_skew(),
        )
    service.app = create_app(predictor, service.health, max_items=cfg.http_max_items)
    return service


def run(settings: ModelSettings) -> None:
    """Serve HTTP + the stream worker until SIGTERM/SIGINT."""
    import uvicorn

    service = bootstrap(settings)
    service.start()
    # Every batch keeps thousands of containers (request items, ECS documents) alive across young
    # collections, so full collections come often; each one traversed the ~80k objects of the imports,
    # the app and the models (about 48 ms per full collection, 10 ms per 1000-item request in the
    # benchmark profile). Frozen, those startup objects are never traversed again; garbage created
    # later is still collected.
    gc.freeze()
    log.info("model.started", port=settings.model.port, registry=str(settings.model.registry_dir),
             models=service.store.status())
    config = uvicorn.Config(service.app, host=settings.host, port=settings.model.port, log_level="warning",
                            access_log=False, lifespan="off", log_config=None)
    try:
        uvicorn.Server(config).run()
    finally:
        service.close()
        log.info("model.stopped")
