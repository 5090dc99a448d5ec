"""Loaded models and hot reload: a new registry version replaces the served one without dropping requests.

A request takes a reference to the current `LoadedModel` once and uses it to the end, so a swap never
changes a model under a running inference; the version in every output is the one that computed it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from turnpoint.core.observability import get_logger
from turnpoint.model import metrics
from turnpoint.model.errors import ModelUnavailable, RegistryError
from turnpoint.model.registry import KINDS, Artifact, Registry

log = get_logger(__name__)


@dataclass(frozen=True, slots=True, eq=False)
class LoadedModel:
    name: str
    version: str
    kind: str
    card: dict[str, Any]
    session: Any  # onnxruntime.InferenceSession
    input_name: str
    output_names: tuple[str, ...]
    width: int  # input columns

    @property
    def threshold(self) -> float:
        return float(self.card.get("threshold", float("inf")))

    @property
    def horizon(self) -> int:
        return int(self.card.get("horizon", 0))

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        outs = self.session.run(None, {self.input_name: x})
        return dict(zip(self.output_names, outs, strict=True))


def load(artifact: Artifact, threads: int = 1) -> LoadedModel:
    import onnxruntime as ort

    card = artifact.card()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(artifact.model_path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        msg = f"cannot load {artifact.model_path}: {exc}; republish the model with `turnpoint model train`"
        raise RegistryError(msg) from None
    inp = session.get_inputs()[0]
    return LoadedModel(
        name=artifact.name, version=artifact.version, kind=str(card.get("kind", "")), card=card, session=session,
        input_name=inp.name, output_names=tuple(o.name for o in session.get_outputs()), width=int(inp.shape[1]),
    )


@dataclass
class ModelStore:
    """The served model of each kind, refreshed from the registry."""

    registry: Registry
    kinds: dict[str, str] = field(default_factory=lambda: dict(KINDS))
    _models: dict[str, LoadedModel] = field(default_factory=dict)
    _errors: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, kind: str) -> LoadedModel | None:
        return self._models.get(kind)

    def require(self, kind: str) -> LoadedModel:
        model = self._models.get(kind)
        if model is None:
            name = self.kinds.get(kind, kind)
            msg = (
                f"no {kind} model in the registry {self.registry.root / name}; train one with "
                f"`turnpoint model train {kind} --input FILE.csv --registry {self.registry.root}`"
            )
            raise ModelUnavailable(msg)
        return model

    def refresh(self) -> list[str]:
        """Load any newer registry version; return the kinds that changed. A broken artifact keeps the old."""
        changed = []
        with self._lock:
            for kind, name in self.kinds.items():
                latest = self.registry.latest(name)
                current = self._models.get(kind)
                if latest is None or (current is not None and current.version == latest.version):
                    continue
                try:
                    model = load(latest)
                except RegistryError as exc:
                    self._errors[kind] = str(exc)
                    log.error("model.load_failed", model=name, version=latest.version, error=str(exc))
                    continue
                self._models[kind] = model  # one reference swap: running requests keep the old model
                self._errors.pop(kind, None)
                if current is not None:
                    metrics.MODEL_INFO.labels(current.name, current.version).set(0)
                metrics.MODEL_INFO.labels(name, model.version).set(1)
                metrics.RELOADS.labels(name).inc()
                log.info("model.loaded", model=name, version=model.version, previous=current and current.version)
                changed.append(kind)
        return changed

    def start(self, interval: float) -> None:
        self.refresh()

        def watch() -> None:
            while not self._stop.wait(interval):
                try:
                    self.refresh()
                except Exception as exc:  # never let the watcher die
                    log.error("model.refresh_failed", error=str(exc))

        self._thread = threading.Thread(target=watch, name="model-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def status(self) -> dict[str, Any]:
        return {
            kind: (
                {"model": m.name, "version": m.version, "loaded": True}
                if (m := self._models.get(kind)) is not None
                else {"model": name, "loaded": False, "error": self._errors.get(kind, "registry has no version")}
            )
            for kind, name in self.kinds.items()
        }
