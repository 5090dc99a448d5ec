from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from turnpoint.model import graphs


def _forecast_weights(rng: np.random.Generator, window: int = 20, hidden: int = 8, horizon: int = 5) -> graphs.ForecastWeights:
    return graphs.ForecastWeights(
        rng.normal(0, 0.1, (window, horizon)), rng.normal(0, 0.3, (window, hidden)), rng.normal(0, 0.1, hidden),
        rng.normal(0, 0.1, (hidden, horizon)), rng.normal(0, 0.1, horizon),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_forecast_graph_matches_numpy_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = _forecast_weights(rng)
    closes = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (16, 21)), axis=1))
    session = ort.InferenceSession(graphs.forecast_graph(w))
    out = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"closes": closes.astype(np.float32)}), strict=True))
    ref = graphs.forecast_numpy(w, closes)
    np.testing.assert_allclose(out["forecast"], ref["forecast"], rtol=1e-4)
    np.testing.assert_allclose(out["step_returns"], ref["step_returns"], atol=1e-5)
    np.testing.assert_allclose(out["features"], ref["features"], atol=1e-3)


def test_zero_weights_forecast_the_last_close() -> None:
    z = graphs.ForecastWeights(np.zeros((20, 5)), np.zeros((20, 4)), np.zeros(4), np.zeros((4, 5)), np.zeros(5))
    closes = np.linspace(10, 30, 21)[None, :]
    out = ort.InferenceSession(graphs.forecast_graph(z)).run(["forecast"], {"closes": closes.astype(np.float32)})[0]
    np.testing.assert_allclose(out, np.full((1, 5), 30.0), rtol=1e-6)


def test_anomaly_graph_matches_numpy_reference_and_flags_a_spike() -> None:
    rng = np.random.default_rng(3)
    length = 32
    P = np.linalg.qr(rng.normal(size=(length, 3)))[0]
    w = graphs.AnomalyWeights(rng.normal(0, 0.05, length), P, 0.9)
    values = rng.normal(20, 1, (8, length))
    values[0, -1] += 15
    session = ort.InferenceSession(graphs.anomaly_graph(w))
    out = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"values": values.astype(np.float32)}), strict=True))
    ref = graphs.anomaly_numpy(w, values)
    np.testing.assert_allclose(out["score"], ref["score"], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(out["step_errors"], ref["step_errors"], rtol=1e-3, atol=1e-4)
    assert out["score"].shape == (8,)
    assert out["score"][0] > 5 * np.median(out["score"][1:])
