"""Model service benchmark: batched forecasts/s and single-request latency, with inference logging on.

    python bench/model.py [--quick]

Measures, with a tiny forecaster trained on generated data and the inference log written to its file and
the Kafka topic (embedded broker):
  1. baselines: one onnxruntime call per record, no batching: raw `session.run` loop without logging,
     and through the predictor with logging (one call + one log write per record);
  2. in-process batched predictor (1 ORT call per 1000 records + one ECS document per record);
  3. HTTP: `turnpoint model run` in a subprocess; POST /v1/predict/forecast with 1000 items per request,
     and sequential single-item requests (p50/p99 latency, keep-alive client);
  4. stream worker: daily PriceBars published to the prices topic; forecasts/s until all are published.
Prints figures and a final JSON line with "bench": "model".
Targets: >= 20,000 forecasts/s batched; p99 < 10 ms single.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import broker, spawn, stop


def _closes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (n, 21)), axis=1))


def bench_baseline(registry: Path, n: int) -> float:
    import onnxruntime as ort
    from turnpoint.model.registry import Registry
    from turnpoint.model.runtime import load

    model = load(Registry(registry).latest("forecast-close"))
    x = _closes(n).astype(np.float32)
    sess: ort.InferenceSession = model.session
    t0 = time.perf_counter()
    for i in range(n):
        sess.run(None, {"closes": x[i : i + 1]})
    return n / (time.perf_counter() - t0)


def bench_inprocess(registry: Path, logs: Path, bootstrap: str, prefix: str, n: int, batch: int) -> tuple[float, float]:
    """(batched records/s, unbatched records/s) through the predictor with logging to file + Kafka."""
    from turnpoint.core.settings import KafkaSettings
    from turnpoint.model.bootstrap import bootstrap as build
    from turnpoint.model.settings import ModelConfig, ModelSettings

    settings = ModelSettings(kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix),
                             model=ModelConfig(registry_dir=registry, log_dir=logs, stream_enabled=False))
    service = build(settings)
    service.store.refresh()
    x = _closes(batch)
    targets, asofs = [f"S{i % 100}" for i in range(batch)], ["2024-01-02T00:00:00.000Z"] * batch
    try:
        service.predictor.forecast(targets, asofs, x, source="bench")
        t0 = time.perf_counter()
        done = 0
        while done < n:
            service.predictor.forecast(targets, asofs, x, source="bench")
            done += batch
        rate = done / (time.perf_counter() - t0)
        singles = min(n // 10, 5000)
        t0 = time.perf_counter()
        for i in range(singles):
            service.predictor.forecast(targets[i : i + 1], asofs[i : i + 1], x[i % batch : i % batch + 1], source="bench")
        unbatched = singles / (time.perf_counter() - t0)
    finally:
        service.close()
    return rate, unbatched


def _wait_http(url: str, proc, timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"model service exited with {proc.returncode}"
            raise SystemExit(msg)
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    msg = "model service did not become healthy"
    raise SystemExit(msg)


def bench_http(url: str, batches: int, batch: int, singles: int) -> dict[str, float]:
    import httpx

    x = _closes(batch).tolist()
    body = json.dumps({"items": [{"target": f"S{i % 100}", "closes": c} for i, c in enumerate(x)]})
    single = json.dumps({"items": [{"target": "S1", "closes": x[0]}]})
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(2):
            client.post("/v1/predict/forecast", content=body, headers=headers).raise_for_status()
        t0 = time.perf_counter()
        for _ in range(batches):
            client.post("/v1/predict/forecast", content=body, headers=headers).raise_for_status()
        batched = batches * batch / (time.perf_counter() - t0)
        lat = []
        for _ in range(50):
            client.post("/v1/predict/forecast", content=single, headers=headers)
        for _ in range(singles):
            t = time.perf_counter()
            r = client.post("/v1/predict/forecast", content=single, headers=headers)
            lat.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
        unbatched_t0 = time.perf_counter()
        for _i in range(min(singles, 1000)):
            client.post("/v1/predict/forecast", content=single, headers=headers)
        unbatched = min(singles, 1000) / (time.perf_counter() - unbatched_t0)
    arr = np.array(lat)
    return {"http_batched_per_s": batched, "http_single_p50_ms": float(np.percentile(arr, 50)),
            "http_single_p99_ms": float(np.percentile(arr, 99)), "http_single_per_s": unbatched}


def bench_stream(bootstrap: str, prefix: str, symbols: int, days: int) -> float:
    from turnpoint.core import topics
    from turnpoint.core.kafka import make_consumer, make_producer
    from turnpoint.core.serde import raw_items
    from turnpoint.core.settings import KafkaSettings
    from turnpoint.model.synthetic import trading_days

    ks = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    dates = trading_days(dt.date(2023, 1, 2), days)
    closes = _closes(symbols * days // 21 + 1).ravel()
    producer = make_producer(ks)
    prices = topics.PRICES.full_name(prefix)
    for s in range(symbols):
        sym = f"S{s:04d}"
        items = []
        for j, d in enumerate(dates):
            c = float(closes[(s * days + j) % len(closes)])
            items.append({"symbol": sym, "interval": "day", "start": d.isoformat(), "end": d.isoformat(), "open": c,
                          "high": c, "low": c, "close": c, "volume": 1.0, "bars": 1})
        for k in range(0, len(items), 10):  # 10 daily bars per message, like a daily job's re-send
            producer.produce(prices, key=sym.encode(), value=json.dumps({"v": 1, "items": items[k : k + 10]}).encode())
    producer.flush(60)
    expected = symbols * (days - 20)
    consumer = make_consumer(ks, f"bench-{uuid.uuid4().hex[:6]}")
    consumer.subscribe([topics.PREDICTIONS.full_name(prefix)])
    got, first, last = 0, None, None
    deadline = time.monotonic() + 150
    try:
        while got < expected and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error():
                    continue
                n = sum(1 for it in raw_items(msg.value()) if it["kind"] == "forecast")
                got += n
                ts = msg.timestamp()[1] / 1000
                first = ts if first is None else min(first, ts)
                last = ts if last is None else max(last, ts)
    finally:
        consumer.close()
    if got < expected or first is None or last is None or last <= first:
        print(f"stream: only {got}/{expected} forecasts seen", file=sys.stderr)
        return float("nan")
    return got / (last - first)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller runs (< 3 minutes)")
    args = ap.parse_args()
    q = args.quick
    from turnpoint.model.registry import ensure_demo_models

    from turnpoint.cli.embedded import free_port

    tmp = Path(tempfile.mkdtemp(prefix="bench-model-"))
    registry = tmp / "registry"
    t0 = time.perf_counter()
    ensure_demo_models(registry)
    train_s = time.perf_counter() - t0
    results: dict[str, float | str | bool] = {"bench": "model", "quick": q, "demo_models_s": round(train_s, 2)}
    with broker() as bootstrap:
        prefix = f"bm{uuid.uuid4().hex[:6]}."
        from turnpoint.core.kafka import ensure_topics
        from turnpoint.core.settings import KafkaSettings

        ensure_topics(KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix, partitions=2))
        results["baseline_unbatched_per_s"] = bench_baseline(registry, 3000 if q else 20000)
        results["inprocess_batched_per_s"], results["baseline_unbatched_logged_per_s"] = bench_inprocess(registry, tmp / "logs-inproc", bootstrap, prefix,
                                                             50_000 if q else 300_000, 1000)
        port = free_port()
        env = {
            "TURNPOINT_KAFKA__BOOTSTRAP_SERVERS": bootstrap, "TURNPOINT_KAFKA__TOPIC_PREFIX": prefix,
            "TURNPOINT_KAFKA__PARTITIONS": "2", "TURNPOINT_MODEL__PORT": str(port),
            "TURNPOINT_MODEL__REGISTRY_DIR": str(registry), "TURNPOINT_MODEL__LOG_DIR": str(tmp / "logs"),
            "TURNPOINT_LOG_LEVEL": "WARNING",
        }
        turnpoint = str(Path(sys.executable).with_name("turnpoint"))
        proc = spawn([turnpoint, "model", "run"], env, tmp / "service.log")
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_http(url, proc)
            results.update(bench_http(url, 20 if q else 100, 1000, 1000 if q else 5000))
            results["stream_forecasts_per_s"] = bench_stream(bootstrap, prefix, 200 if q else 1000, 60)
        finally:
            stop(proc)
    base = float(results["baseline_unbatched_per_s"])
    logged = float(results["baseline_unbatched_logged_per_s"])
    for key in ("inprocess_batched_per_s", "http_batched_per_s", "stream_forecasts_per_s", "http_single_per_s"):
        results[key.replace("_per_s", "_vs_raw_baseline")] = round(float(results[key]) / base, 2)
        results[key.replace("_per_s", "_vs_logged_baseline")] = round(float(results[key]) / logged, 2)
    for k, v in results.items():
        if isinstance(v, float):
            results[k] = round(v, 3)
    results["target_batched_met"] = float(results["http_batched_per_s"]) >= 20_000
    results["target_p99_met"] = float(results["http_single_p99_ms"]) < 10
    for k, v in results.items():
        print(f"{k:32s} {v}")
    print(json.dumps(results))


if __name__ == "__main__":
    os.environ.setdefault("TURNPOINT_ENVIRONMENT", "development")
    main()
