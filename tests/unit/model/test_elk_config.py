"""The Logstash pipeline, the index template copies and the Kibana saved objects agree with the documents."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from turnpoint.model import ecs
from turnpoint.model.elastic import index_template

REPO = Path(__file__).resolve().parents[3]
PIPELINE = REPO / "logstash" / "pipeline" / "turnpoint-inference.conf"
TEMPLATE_COPY = REPO / "logstash" / "templates" / "turnpoint-inference.json"
KIBANA = REPO / "deploy" / "kibana"


def _mapped_fields(props: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out = {}
    for name, spec in props.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            out.update(_mapped_fields(spec["properties"], path + "."))
        else:
            out[path] = spec["type"]
    return out


MAPPED = _mapped_fields(index_template()["template"]["mappings"]["properties"])


def _leaf_paths(doc: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for k, v in doc.items():
        if isinstance(v, dict):
            out |= _leaf_paths(v, f"{prefix}{k}.")
        else:
            out.add(f"{prefix}{k}")
    return out


def _sample_docs() -> list[dict[str, Any]]:
    closes = np.linspace(10, 12, 21)[None, :]
    fc = ecs.forecast_docs(
        model="m", version="v1", targets=["A"], asofs=["2024-01-02T00:00:00Z"], closes=closes,
        out={"forecast": np.ones((1, 5)), "step_returns": np.zeros((1, 5)), "features": np.zeros((1, 20))},
        trace_ids=["t"], event_ids=["e"], source="stream", duration_ns=5, batch_id="b",
        realised=[{"asof": "2024-01-01T00:00:00Z", "predicted": 1.0, "actual": 1.1, "error": 0.1, "abs_pct_error": 9.1}],
    )
    an = ecs.anomaly_docs(
        model="a", version="v1", threshold=2.0, targets=["s"], asofs=["2024-01-02T00:00:00Z"],
        values=np.zeros((1, 32)), out={"score": np.ones(1), "step_errors": np.zeros((1, 32)),
                                       "features": np.zeros((1, 32))},
        trace_ids=["t"], event_ids=["e2"], source="http", duration_ns=5, batch_id="b",
    )
    return [*fc, *an]


def test_every_document_field_is_mapped() -> None:
    for doc in _sample_docs():
        unmapped = _leaf_paths(doc) - set(MAPPED)
        assert not unmapped, f"fields missing from the index template: {sorted(unmapped)}"
        assert {"@timestamp", "ecs.version", "event.dataset", "event.duration", "service.name", "trace.id",
                "turnpoint.model.name", "turnpoint.model.version"} <= _leaf_paths(doc)


def test_logstash_template_is_the_service_template() -> None:
    assert json.loads(TEMPLATE_COPY.read_text()) == index_template()
    assert index_template()["version"] == ecs.LOG_VERSION


def test_logstash_pipeline_reads_the_topic_and_writes_what_the_template_matches() -> None:
    conf = PIPELINE.read_text()
    code = "\n".join(line.split("#", 1)[0] if not line.strip().startswith("'") else line for line in conf.splitlines())
    assert re.search(r"input\s*{\s*kafka\s*{", code)
    assert 'topics => ["turnpoint.inference-log.v1"]' in code
    assert "codec => json" in code
    assert 'split { field => "items" }' in code  # one event per envelope item
    assert "LogStash::Timestamp.parse_iso8601" in code  # @timestamp from the document, not ingest time
    assert 'index => "turnpoint-inference-%{+YYYY.MM.dd}"' in code
    assert 'document_id => "%{[event][id]}"' in code  # idempotent against redelivery
    assert 'template => "/usr/share/logstash/templates/turnpoint-inference.json"' in code
    assert 'template_api => "composable"' in code
    rejects = re.search(r'index => "(turnpoint-rejects[^"]*)"', code)
    assert rejects and not re.fullmatch(index_template()["index_patterns"][0].replace("*", ".*"), rejects.group(1))
    assert code.count("{") == code.count("}")


def _saved_objects() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (KIBANA / "saved_objects.ndjson").read_text().splitlines() if line.strip()]


def test_kibana_saved_objects_are_current_and_consistent() -> None:
    spec = importlib.util.spec_from_file_location("build_saved_objects", KIBANA / "build_saved_objects.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (KIBANA / "saved_objects.ndjson").read_text() == module.render(), "run deploy/kibana/build_saved_objects.py"
    objects = _saved_objects()
    ids = {(o["type"], o["id"]) for o in objects}
    types = {o["type"] for o in objects}
    assert {"index-pattern", "visualization", "search", "dashboard"} <= types
    views = [o for o in objects if o["type"] == "index-pattern"]
    assert {v["attributes"]["timeFieldName"] for v in views} == {"@timestamp", "turnpoint.asof"}
    for view in views:
        assert re.fullmatch(view["attributes"]["title"].replace("*", ".*"), "turnpoint-inference-2024.01.02")
    for o in objects:
        for ref in o["references"]:
            assert (ref["type"], ref["id"]) in ids, f"{o['id']} references missing {ref}"
    for o in objects:
        if o["type"] != "visualization":
            continue
        state = json.loads(o["attributes"]["visState"])
        for agg in state["aggs"]:
            field = agg["params"].get("field")
            assert field is None or field in MAPPED, f"{o['id']}: {field} is not mapped"
    (dash,) = [o for o in objects if o["type"] == "dashboard"]
    panels = json.loads(dash["attributes"]["panelsJSON"])
    assert {p["panelRefName"] for p in panels} == {r["name"] for r in dash["references"]}
    titles = " ".join(o["attributes"]["title"] for o in objects).lower()
    for needed in ("forecast vs actual", "latency", "anomaly scores"):
        assert needed in titles


def test_setup_script_installs_template_and_imports_objects() -> None:
    script = (KIBANA / "setup.sh").read_text()
    assert "_index_template/turnpoint-inference" in script
    assert "/api/saved_objects/_import?overwrite=true" in script
    assert "kbn-xsrf" in script
