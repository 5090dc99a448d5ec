"""The HTTP endpoint over the composition root, without Kafka (`bootstrap(..., kafka=False)`)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import orjson
import pytest
from fastapi.testclient import TestClient
from turnpoint.model.bootstrap import Service, bootstrap
from turnpoint.model.registry import Registry
from turnpoint.model.settings import ModelConfig, ModelSettings
from turnpoint.model.sinks import MemorySink
from turnpoint.model.training import ANOMALY_MODEL, FORECAST_MODEL, Trained

CLOSES = [100 + i * 0.5 + (i % 3) for i in range(25)]


def _service(registry: Path, tmp: Path, **config: object) -> tuple[Service, MemorySink]:
    memory = MemorySink()
    settings = ModelSettings(model=ModelConfig(registry_dir=registry, log_dir=tmp / "logs", reload_interval_s=0.05,
                                               **config))  # type: ignore[arg-type]
    service = bootstrap(settings, kafka=False, extra_sinks=[memory])
    service.start()
    return service, memory


@pytest.fixture
def registry(model_registry: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(model_registry, tmp_path / "registry"))


@pytest.fixture
def served(registry: Path, tmp_path: Path) -> Iterator[tuple[TestClient, Service, MemorySink]]:
    service, memory = _service(registry, tmp_path)
    try:
        yield TestClient(service.app), service, memory
    finally:
        service.close()


def test_forecast_equals_the_onnx_model_and_is_logged(served, registry: Path, tmp_path: Path) -> None:
    client, _, memory = served
    body = {"items": [{"target": "005930", "asof": "2024-05-02T00:00:00+09:00", "closes": CLOSES}]}
    r = client.post("/v1/predict/forecast", json=body, headers={"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"] == FORECAST_MODEL and out["version"] == "v1" and out["horizon"] == 5
    session = ort.InferenceSession(str(registry / FORECAST_MODEL / "v1" / "model.onnx"))
    want = session.run(["forecast"], {"closes": np.array([CLOSES[-21:]], dtype=np.float32)})[0][0]
    np.testing.assert_allclose(out["items"][0]["values"], want, rtol=1e-6)
    assert out["items"][0]["trace_id"] == "ab" * 16
    (doc,) = memory.docs
    assert doc["trace"]["id"] == "ab" * 16
    assert doc["ecs"]["version"] and doc["event"]["dataset"] == "turnpoint.inference"
    assert doc["event"]["duration"] > 0 and doc["service"]["name"] == "turnpoint-model"
    tp = doc["turnpoint"]
    assert tp["model"] == {"name": FORECAST_MODEL, "version": "v1", "kind": "forecast"}
    assert tp["asof"] == "2024-05-01T15:00:00.000Z" and tp["source"] == "http"
    assert tp["input"]["values"] == pytest.approx(CLOSES[-21:]) and len(tp["features"]) == 20
    assert tp["output"]["values"] == pytest.approx(out["items"][0]["values"]) and len(tp["output"]["step_returns"]) == 5
    lines = [orjson.loads(line) for f in (tmp_path / "logs").glob("inference-*.ndjson") for line in f.read_bytes().splitlines()]
    assert [d["event"]["id"] for d in lines] == [doc["event"]["id"]]


def test_anomaly_scores_a_spike_above_threshold(served) -> None:
    client, _s, memory = served
    calm = [20 + np.sin(i / 4) for i in range(32)]
    spiked = [*calm[:-1], calm[-1] + 40]
    r = client.post("/v1/predict/anomaly", json={"items": [{"target": "s/1", "values": calm},
                                                           {"target": "s/1", "values": spiked}]})
    assert r.status_code == 200, r.text
    (calm_out, spike_out) = r.json()["items"]
    score, threshold, flagged = spike_out["values"]
    assert score > threshold and flagged == 1.0
    assert calm_out["values"][2] == 0.0
    assert len(spike_out["step_errors"]) == 32
    assert [d["turnpoint"]["anomaly"]["flagged"] for d in memory.docs] == [False, True]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"items": [{"closes": [1.0, 2.0, 3.0]}]}, 422, "at least 21"),
        ({"items": [{"closes": [*CLOSES[:-1], -1.0]}]}, 422, "> 0"),
        ({"items": [{"closes": CLOSES, "colour": "red"}]}, 422, "colour"),
        ({"items": [{"closes": CLOSES, "asof": "2024-05-02T00:00:00"}]}, 422, "timezone"),
        ({"items": []}, 422, "items"),
        ({"nothing": 1}, 422, "items"),
    ],
)
def test_invalid_inputs_are_problem_json(served, body, status: int, needle: str) -> None:
    client, _s, memory = served
    r = client.post("/v1/predict/forecast", json=body)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == status and problem["title"] and needle in r.text
    assert memory.docs == []


def test_not_json_and_unknown_route_are_problem_json(served) -> None:
    client, _s, _m = served
    r = client.post("/v1/predict/forecast", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    r = client.post("/v1/predict/weather", json={})
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_empty_registry_starts_degraded_and_says_what_to_do(tmp_path: Path) -> None:
    service, _memory = _service(tmp_path / "empty", tmp_path)
    try:
        client = TestClient(service.app)
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["degraded"] is True
        assert health.json()["models"]["forecast"]["loaded"] is False
        r = client.post("/v1/predict/forecast", json={"items": [{"closes": CLOSES}]})
        assert r.status_code == 503 and "turnpoint model train forecast" in r.json()["detail"]
    finally:
        service.close()


def test_metrics_count_inferences(served) -> None:
    client, _s, _m = served
    client.post("/v1/predict/forecast", json={"items": [{"closes": CLOSES}] * 3})
    text = client.get("/metrics").text
    line = next(x for x in text.splitlines()
                if x.startswith("turnpoint_model_inferences_total{") and 'source="http"' in x and FORECAST_MODEL in x)
    assert float(line.rsplit(" ", 1)[1]) >= 3


def test_hot_reload_under_load_drops_nothing(served, registry: Path) -> None:
    client, service, memory = served
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            r = client.post("/v1/predict/forecast", json={"items": [{"closes": CLOSES}]})
            with lock:
                results.append((r.status_code, r.json().get("version")))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        while len(results) < 50:
            threading.Event().wait(0.01)
        v1 = Registry(registry).latest(FORECAST_MODEL)
        trained = Trained(FORECAST_MODEL, "forecast", v1.model_path.read_bytes(), v1.card())
        assert Registry(registry).publish(trained).version == "v2"
        for _ in range(500):
            with lock:
                if any(v == "v2" for _, v in results[-5:]):
                    break
            threading.Event().wait(0.01)
        n_before = len(results)
        while len(results) < n_before + 50:
            threading.Event().wait(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert all(code == 200 for code, _ in results), {c for c, _ in results}
    versions = [v for _, v in results]
    assert set(versions) == {"v1", "v2"}
    assert versions[-1] == "v2"
    assert service.store.get("forecast").version == "v2"
    assert {d["turnpoint"]["model"]["version"] for d in memory.docs} == {"v1", "v2"}
    assert len(memory.docs) == len(results)


def test_models_endpoint_shows_cards(served) -> None:
    client, _s, _m = served
    models = client.get("/v1/models").json()
    assert models["forecast"]["version"] == "v1" and "baselines" in models["forecast"]["backtest"]
    assert models["anomaly"]["model"] == ANOMALY_MODEL


def test_errors_share_the_kit_shape_and_health_is_split(served) -> None:
    client, _s, _m = served
    r = client.post("/v1/predict/forecast", json={"items": [{"closes": [1.0, 2.0, 3.0]}]})
    assert r.status_code == 422 and r.json()["errors"] == [{"field": "items.0.closes", "message": r.json()["detail"]}]
    r = client.post("/v1/predict/forecast", json={"items": [{"closes": CLOSES, "colour": "red"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items.0.colour"
    r = client.get("/v1/predict/forecast")
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"


def test_operations_have_readable_ids_for_generated_clients(served) -> None:
    client, _, _ = served
    doc = client.get("/openapi.json").json()
    ids = {op["operationId"] for path in doc["paths"].values() for op in path.values() if "operationId" in op}
    assert {"predict_forecast", "predict_anomaly", "list_models", "reload_models"} <= ids, ids
    assert all(i.isidentifier() and "v1" not in i for i in ids), ids


def _problems(status: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("turnpoint_model_http_errors_total", {"status": status}) or 0.0


def test_more_items_than_the_limit_are_413_naming_the_setting_and_every_problem_is_counted(
        registry: Path, tmp_path: Path) -> None:
    service, memory = _service(registry, tmp_path, http_max_items=2)
    try:
        client = TestClient(service.app)
        before = {s: _problems(s) for s in ("413", "422")}
        r = client.post("/v1/predict/anomaly", json={"items": [{"values": [1.0] * 40}] * 3})
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["title"] == "Too many items" and "TURNPOINT_MODEL__HTTP_MAX_ITEMS" in r.json()["detail"]
        r = client.post("/v1/predict/anomaly", content=b"[", headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["title"] == "Invalid request body"
        assert {s: _problems(s) - before[s] for s in before} == {"413": 1, "422": 1}
        assert client.post("/v1/predict/forecast", json={"items": [{"closes": CLOSES}] * 2}).status_code == 200
        assert memory.docs and all(d["turnpoint"]["source"] == "http" for d in memory.docs)
    finally:
        service.close()


def test_a_traceparent_names_the_trace_of_every_item_and_without_one_each_request_gets_its_own(served) -> None:
    client, _s, _m = served
    body = {"items": [{"closes": CLOSES}] * 2}
    traced = client.post("/v1/predict/forecast", json=body, headers={"traceparent": f"00-{'12' * 16}-{'34' * 8}-01"})
    assert [it["trace_id"] for it in traced.json()["items"]] == ["12" * 16] * 2
    a, b = (client.post("/v1/predict/forecast", json=body).json()["items"] for _ in range(2))
    assert a[0]["trace_id"] == a[1]["trace_id"] != b[0]["trace_id"]
