"""ONNX graphs of the two served models, built with `onnx.helper` from numpy weights.

The graphs hold the whole computation from raw inputs to outputs (feature scaling included), so serving
needs only onnxruntime and a model file; the intermediate tensors are graph outputs too, so every
inference can log them.

Forecaster (`kind = forecast`), input `closes` [N, W+1] (oldest first, > 0):
    r = diff(log(closes)); s = rms(r) + eps; z = r / s                       -> output `features` [N, W]
    y = z @ A + tanh(z @ W1 + b1) @ W2 + b                                    (a small MLP with a linear skip)
    step = y * s                                                              -> output `step_returns` [N, H]
    forecast = closes[:, -1] * exp(cumsum(step))                              -> output `forecast` [N, H]

Anomaly scorer (`kind = anomaly`), input `values` [N, L] (oldest first; the last one is scored):
    z = clip((values - mean(prefix)) / max(std(prefix), floor), ±50)          -> output `features` [N, L]
    recon = (clip(z, ±c) - mu) @ P @ P.T + mu                                 (a linear autoencoder, k codes;
                                                                               clipping keeps a past spike from
                                                                               leaking into the scored step)
    err = (z - recon)^2                                                       -> output `step_errors` [N, L]
    score = sqrt(err[:, -1]) / scale                                          -> output `score` [N]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
FORECAST_INPUT = "closes"
ANOMALY_INPUT = "values"
ANOMALY_CLIP = 4.0


@dataclass(frozen=True, slots=True)
class ForecastWeights:
    A: np.ndarray  # [W, H] linear skip
    W1: np.ndarray  # [W, hidden]
    b1: np.ndarray  # [hidden]
    W2: np.ndarray  # [hidden, H]
    b: np.ndarray  # [H]

    @property
    def window(self) -> int:
        return int(self.A.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.A.shape[1])


@dataclass(frozen=True, slots=True)
class AnomalyWeights:
    mu: np.ndarray  # [L]
    P: np.ndarray  # [L, k] orthonormal columns
    scale: float  # RMS of the last step's residual on the training windows
    floor: float = 1e-9
    clip: float = 4.0  # == ANOMALY_CLIP

    @property
    def length(self) -> int:
        return int(self.mu.shape[0])


def _const(name: str, value: npt.ArrayLike, dtype: type = np.float32) -> onnx.NodeProto:
    arr: np.ndarray = np.asarray(value, dtype=dtype)
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(arr, name))


def _model(nodes: list[onnx.NodeProto], name: str, inputs: list[onnx.ValueInfoProto],
           outputs: list[onnx.ValueInfoProto], doc: str) -> bytes:
    graph = helper.make_graph(nodes, name, inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="turnpoint")
    model.ir_version = 8
    model.doc_string = doc
    onnx.checker.check_model(model)
    return model.SerializeToString()


def forecast_graph(w: ForecastWeights, eps: float = 1e-6) -> bytes:
    """The forecaster as serialised ONNX."""
    n, h = w.window, w.horizon
    f32 = np.float32
    nodes = [
        _const("start0", [0], np.int64), _const("end_w", [n], np.int64), _const("start1", [1], np.int64),
        _const("end_w1", [n + 1], np.int64), _const("axis1", [1], np.int64), _const("axis_s", 1, np.int64),
        _const("eps", eps), _const("A", w.A.astype(f32)), _const("W1", w.W1.astype(f32)),
        _const("b1", w.b1.astype(f32)), _const("W2", w.W2.astype(f32)), _const("b", w.b.astype(f32)),
        helper.make_node("Log", [FORECAST_INPUT], ["logc"]),
        helper.make_node("Slice", ["logc", "start1", "end_w1", "axis1"], ["later"]),
        helper.make_node("Slice", ["logc", "start0", "end_w", "axis1"], ["earlier"]),
        helper.make_node("Sub", ["later", "earlier"], ["r"]),
        helper.make_node("Mul", ["r", "r"], ["r2"]),
        helper.make_node("ReduceMean", ["r2"], ["ms"], axes=[1], keepdims=1),
        helper.make_node("Sqrt", ["ms"], ["rms"]),
        helper.make_node("Add", ["rms", "eps"], ["s"]),
        helper.make_node("Div", ["r", "s"], ["features"]),
        helper.make_node("MatMul", ["features", "A"], ["lin"]),
        helper.make_node("MatMul", ["features", "W1"], ["h_pre0"]),
        helper.make_node("Add", ["h_pre0", "b1"], ["h_pre"]),
        helper.make_node("Tanh", ["h_pre"], ["hid"]),
        helper.make_node("MatMul", ["hid", "W2"], ["nonlin"]),
        helper.make_node("Add", ["lin", "nonlin"], ["y0"]),
        helper.make_node("Add", ["y0", "b"], ["y"]),
        helper.make_node("Mul", ["y", "s"], ["step_returns"]),
        helper.make_node("CumSum", ["step_returns", "axis_s"], ["cum"]),
        helper.make_node("Exp", ["cum"], ["growth"]),
        helper.make_node("Slice", [FORECAST_INPUT, "end_w", "end_w1", "axis1"], ["last"]),
        helper.make_node("Mul", ["growth", "last"], ["forecast"]),
    ]
    fl = TensorProto.FLOAT
    return _model(
        nodes, "turnpoint_forecast",
        [helper.make_tensor_value_info(FORECAST_INPUT, fl, ["N", n + 1])],
        [
            helper.make_tensor_value_info("forecast", fl, ["N", h]),
            helper.make_tensor_value_info("step_returns", fl, ["N", h]),
            helper.make_tensor_value_info("features", fl, ["N", n]),
        ],
        f"{h}-step close forecaster over {n} log returns (MLP with linear skip)",
    )


def anomaly_graph(w: AnomalyWeights) -> bytes:
    """The anomaly scorer as serialised ONNX."""
    n = w.length
    f32 = np.float32
    nodes = [
        _const("start0", [0], np.int64), _const("end_p", [n - 1], np.int64), _const("end_n", [n], np.int64),
        _const("axis1", [1], np.int64), _const("floor", w.floor), _const("lo", -50.0), _const("hi", 50.0),
        _const("mu", w.mu.astype(f32)), _const("P", w.P.astype(f32)), _const("Pt", w.P.T.astype(f32)),
        _const("inv_scale", 1.0 / w.scale), _const("clo", -w.clip), _const("chi", w.clip),
        helper.make_node("Slice", [ANOMALY_INPUT, "start0", "end_p", "axis1"], ["prefix"]),
        helper.make_node("ReduceMean", ["prefix"], ["m"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["prefix", "m"], ["dev"]),
        helper.make_node("Mul", ["dev", "dev"], ["dev2"]),
        helper.make_node("ReduceMean", ["dev2"], ["var"], axes=[1], keepdims=1),
        helper.make_node("Sqrt", ["var"], ["sd0"]),
        helper.make_node("Max", ["sd0", "floor"], ["sd"]),
        helper.make_node("Sub", [ANOMALY_INPUT, "m"], ["centred"]),
        helper.make_node("Div", ["centred", "sd"], ["z0"]),
        helper.make_node("Clip", ["z0", "lo", "hi"], ["features"]),
        helper.make_node("Clip", ["features", "clo", "chi"], ["zclip"]),
        helper.make_node("Sub", ["zclip", "mu"], ["zc"]),
        helper.make_node("MatMul", ["zc", "P"], ["code"]),
        helper.make_node("MatMul", ["code", "Pt"], ["rc"]),
        helper.make_node("Add", ["rc", "mu"], ["reconstruction"]),
        helper.make_node("Sub", ["features", "reconstruction"], ["res"]),
        helper.make_node("Mul", ["res", "res"], ["step_errors"]),
        helper.make_node("Slice", ["step_errors", "end_p", "end_n", "axis1"], ["last_err"]),
        helper.make_node("Sqrt", ["last_err"], ["last_abs"]),
        helper.make_node("Mul", ["last_abs", "inv_scale"], ["score2d"]),
        helper.make_node("Squeeze", ["score2d", "axis1"], ["score"]),
    ]
    fl = TensorProto.FLOAT
    return _model(
        nodes, "turnpoint_anomaly",
        [helper.make_tensor_value_info(ANOMALY_INPUT, fl, ["N", n])],
        [
            helper.make_tensor_value_info("score", fl, ["N"]),
            helper.make_tensor_value_info("step_errors", fl, ["N", n]),
            helper.make_tensor_value_info("features", fl, ["N", n]),
        ],
        f"reading anomaly scorer: linear autoencoder over {n} standardised readings",
    )


# Reference implementations in numpy (the tests hold the graphs to them; training uses them for backtests).


def forecast_numpy(w: ForecastWeights, closes: np.ndarray, eps: float = 1e-6) -> dict[str, np.ndarray]:
    c = closes.astype(np.float64)
    r = np.diff(np.log(c), axis=1)
    s = np.sqrt(np.mean(r * r, axis=1, keepdims=True)) + eps
    z = r / s
    y = z @ w.A + np.tanh(z @ w.W1 + w.b1) @ w.W2 + w.b
    step = y * s
    return {"forecast": c[:, -1:] * np.exp(np.cumsum(step, axis=1)), "step_returns": step, "features": z}


def anomaly_numpy(w: AnomalyWeights, values: np.ndarray) -> dict[str, np.ndarray]:
    v = values.astype(np.float64)
    prefix = v[:, :-1]
    m = prefix.mean(axis=1, keepdims=True)
    sd = np.maximum(prefix.std(axis=1, keepdims=True), w.floor)
    z = np.clip((v - m) / sd, -50, 50)
    recon = (np.clip(z, -w.clip, w.clip) - w.mu) @ w.P @ w.P.T + w.mu
    err = (z - recon) ** 2
    return {"score": np.sqrt(err[:, -1]) / w.scale, "step_errors": err, "features": z}
