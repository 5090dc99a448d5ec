"""Inference documents in an Elasticsearch-compatible server: template, types, search by model and time."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np
import orjson
import pytest
from elasticsearch import Elasticsearch
from turnpoint.model.bootstrap import Service, bootstrap
from turnpoint.model.elastic import Shipped, install_template, ship_files
from turnpoint.model.settings import ModelConfig, ModelSettings
from turnpoint.model.training import ANOMALY_MODEL, FORECAST_MODEL

RNG = np.random.default_rng(7)
CLOSES = 100 * np.exp(np.cumsum(RNG.normal(0, 0.01, (40, 21)), axis=1))
VALUES = RNG.normal(20, 1, (10, 32))


def _service(registry: Path, tmp: Path, es_url: str, prefix: str) -> Service:
    cfg = ModelConfig(registry_dir=registry, log_dir=tmp / "logs", elasticsearch_url=es_url,
                      elasticsearch_index_prefix=prefix)
    service = bootstrap(ModelSettings(model=cfg), kafka=False)
    service.store.refresh()
    return service


def _infer(service: Service) -> None:
    p = service.predictor
    p.forecast([f"S{i % 4}" for i in range(len(CLOSES))], ["2024-01-02T00:00:00.000Z"] * len(CLOSES), CLOSES,
               source="stream")
    p.score(["sensor/1"] * len(VALUES), [None] * len(VALUES), VALUES, source="http")


def test_documents_are_typed_and_searchable_by_model_and_time(model_registry, tmp_path, elasticsearch_url, unique) -> None:
    prefix = f"tp-{unique}"
    es = Elasticsearch(elasticsearch_url, request_timeout=10)
    service = _service(model_registry, tmp_path, elasticsearch_url, prefix)
    try:
        _infer(service)
        assert service.es_sink.flush(30), "documents not indexed within 30 s"
    finally:
        service.close()
    template = es.indices.get_index_template(name=prefix)["index_templates"][0]["index_template"]
    assert template["version"] == 1 and template["index_patterns"] == [f"{prefix}-*"]
    es.indices.refresh(index=f"{prefix}-*")
    today = dt.datetime.now(dt.UTC).strftime("%Y.%m.%d")
    mapping = es.indices.get_mapping(index=f"{prefix}-{today}")[f"{prefix}-{today}"]["mappings"]["properties"]
    tp = mapping["turnpoint"]["properties"]
    assert mapping["@timestamp"]["type"] == "date"
    assert mapping["event"]["properties"]["duration"]["type"] == "long"
    assert mapping["trace"]["properties"]["id"]["type"] == "keyword"
    assert tp["model"]["properties"]["name"]["type"] == "keyword"
    assert tp["anomaly"]["properties"]["score"]["type"] == "float"
    assert tp["input"]["properties"]["values"]["type"] == "double"

    def count(*filters: dict) -> int:
        return es.count(index=f"{prefix}-*", query={"bool": {"filter": list(filters)}})["count"]

    recent = {"range": {"@timestamp": {"gte": "now-1h", "lte": "now+1m"}}}
    assert count({"term": {"turnpoint.model.name": FORECAST_MODEL}}, recent) == len(CLOSES)
    assert count({"term": {"turnpoint.model.name": ANOMALY_MODEL}}, recent) == len(VALUES)
    assert count({"term": {"turnpoint.model.name": FORECAST_MODEL}}, {"range": {"@timestamp": {"lt": "now-1d"}}}) == 0
    assert count({"term": {"turnpoint.target": "S1"}}) == 10
    aggs = es.search(index=f"{prefix}-*", size=0, query={"term": {"turnpoint.model.kind": "forecast"}},
                     aggs={"latency": {"avg": {"field": "turnpoint.latency_ms"}},
                           "versions": {"terms": {"field": "turnpoint.model.version"}}})["aggregations"]
    assert aggs["latency"]["value"] > 0
    assert [b["key"] for b in aggs["versions"]["buckets"]] == ["v1"]
    hit = es.search(index=f"{prefix}-*", query={"term": {"turnpoint.target": "sensor/1"}}, size=1)["hits"]["hits"][0]
    assert len(hit["_source"]["turnpoint"]["anomaly"]["step_errors"]) == 32
    assert hit["_id"] == hit["_source"]["event"]["id"]


def test_elasticsearch_down_neither_blocks_nor_loses_logs(model_registry, tmp_path, elasticsearch_url, unique) -> None:
    from turnpoint.cli.embedded import free_port

    prefix = f"tp-{unique}"
    service = _service(model_registry, tmp_path, f"http://127.0.0.1:{free_port()}", prefix)  # nothing listens
    try:
        started = time.monotonic()
        for _ in range(5):
            _infer(service)
        assert time.monotonic() - started < 3, "inference waited for Elasticsearch"
        assert service.es_sink.flush(0.5) is False and service.es_sink.available is False
    finally:
        service.close()
    files = sorted((tmp_path / "logs").glob("inference-*.ndjson"))
    expected = 5 * (len(CLOSES) + len(VALUES))
    es = Elasticsearch(elasticsearch_url, request_timeout=30)
    assert ship_files(es, files, prefix) == Shipped(expected, 0, 0)
    assert ship_files(es, files, prefix) == Shipped(0, expected, 0)  # shipped twice ...
    es.indices.refresh(index=f"{prefix}-*")
    assert es.count(index=f"{prefix}-*")["count"] == expected  # ... stored once (_id = event.id)


@pytest.mark.parametrize("field", ["turnpoint.model.name", "turnpoint.source"])
def test_template_install_is_idempotent(elasticsearch_url, unique, field) -> None:
    es = Elasticsearch(elasticsearch_url, request_timeout=10)
    install_template(es, f"tp-{unique}")
    install_template(es, f"tp-{unique}")
    got = es.indices.get_index_template(name=f"tp-{unique}")["index_templates"][0]["index_template"]
    props = got["template"]["mappings"]["properties"]
    node = props
    for part in field.split(".")[:-1]:
        node = node[part]["properties"]
    assert node[field.split(".")[-1]]["type"] == "keyword"


def test_the_writer_counts_a_document_stored_before_as_written_not_dropped(elasticsearch_url, unique) -> None:
    """A batch re-sent after a timeout may have been stored the first time: the `create` refused with 409 is
    not a loss (no drop counted, no error logged)."""
    from turnpoint.model import metrics
    from turnpoint.model.sinks import ElasticsearchSink

    prefix = f"tp-{unique}"
    es = Elasticsearch(elasticsearch_url, request_timeout=30)
    docs = [{"@timestamp": "2024-01-02T00:00:00.000Z", "event": {"id": f"{unique}-{i}", "kind": "event"},
             "message": "inference"} for i in range(20)]
    dropped = metrics.LOG_DROPPED.labels("elasticsearch")._value.get()
    sink = ElasticsearchSink(es, prefix, batch=20)
    try:
        for _ in range(2):  # the same 20 documents twice
            sink.write("k", docs, [orjson.dumps(d) for d in docs])
            assert sink.flush(20)
    finally:
        sink.close()
    assert sink.indexed == 40
    assert metrics.LOG_DROPPED.labels("elasticsearch")._value.get() == dropped
    es.indices.refresh(index=f"{prefix}-*")
    assert es.count(index=f"{prefix}-*")["count"] == 20
