"""The local model registry: versioned ONNX artifacts with their model cards.

Layout (one folder per model name, one per version; a version folder appears atomically, by rename, so a
reader never sees half an artifact):

    <registry>/<name>/v<N>/model.onnx
    <registry>/<name>/v<N>/card.json        # training data range, features, metrics, backtest vs baselines

The newest version of a name is the one with the highest N. Serving polls for it (hot reload).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from turnpoint.model.errors import RegistryError
from turnpoint.model.training import ANOMALY_MODEL, FORECAST_MODEL, Trained

_VERSION = re.compile(r"^v(\d+)$")
MODEL_FILE = "model.onnx"
CARD_FILE = "card.json"
KINDS = {"forecast": FORECAST_MODEL, "anomaly": ANOMALY_MODEL}


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    version: str
    path: Path

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def card(self) -> dict[str, Any]:
        try:
            card: dict[str, Any] = orjson.loads((self.path / CARD_FILE).read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            msg = f"model card {self.path / CARD_FILE} is unreadable ({exc}); republish the model"
            raise RegistryError(msg) from None
        return card


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def versions(self, name: str) -> list[Artifact]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = []
        for child in folder.iterdir():
            m = _VERSION.match(child.name)
            if m and (child / MODEL_FILE).is_file() and (child / CARD_FILE).is_file():
                found.append((int(m.group(1)), Artifact(name, child.name, child)))
        return [a for _, a in sorted(found, key=lambda t: t[0])]

    def latest(self, name: str) -> Artifact | None:
        versions = self.versions(name)
        return versions[-1] if versions else None

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def publish(self, trained: Trained) -> Artifact:
        """Write a new version of `trained.name` and return it; concurrent publishers get distinct versions."""
        folder = self.root / trained.name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
        except OSError as exc:
            msg = f"cannot write to the model registry {self.root}: {exc.strerror}; check TURNPOINT_MODEL__REGISTRY_DIR"
            raise RegistryError(msg) from None
        try:
            (staging / MODEL_FILE).write_bytes(trained.onnx)
            for _ in range(100):
                latest = self.latest(trained.name)
                number = int(latest.version[1:]) + 1 if latest else 1
                version = f"v{number}"
                card = {
                    **trained.card, "name": trained.name, "version": version,
                    "sha256": hashlib.sha256(trained.onnx).hexdigest(),
                }
                (staging / CARD_FILE).write_bytes(orjson.dumps(card, option=orjson.OPT_INDENT_2))
                try:
                    os.rename(staging, folder / version)  # fails if another publisher took the number
                except OSError:
                    time.sleep(0.01)
                    continue
                return Artifact(trained.name, version, folder / version)
            msg = f"could not allocate a version under {folder}"
            raise RegistryError(msg)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def ensure_demo_models(registry_dir: Path, bars_csv: Path | None = None, readings_csv: Path | None = None) -> dict[str, str]:
    """Make sure the registry holds a forecaster and an anomaly scorer; return {name: version}.

    Trains the missing ones on the given CSVs (SPEC section 4 columns), or on generated data when a file
    is not given or too short. Fast (a few seconds): the demo runner calls it before `turnpoint model run`.
    """
    from turnpoint.model import data, synthetic, training
    from turnpoint.model.errors import TrainingError

    registry = Registry(registry_dir)
    out: dict[str, str] = {}
    for name, path, load, make, train in (
        (FORECAST_MODEL, bars_csv, data.load_bars, lambda: synthetic.bars_rows(5, 300), training.train_forecaster),
        (ANOMALY_MODEL, readings_csv, data.load_readings, lambda: synthetic.readings_rows(3, 24 * 60),
         training.train_anomaly),
    ):
        latest = registry.latest(name)
        if latest is not None:
            out[name] = latest.version
            continue
        trained = None
        if path is not None and Path(path).is_file():
            try:
                trained = train(load(Path(path)), source=str(path))
            except TrainingError:
                trained = None  # too little data in the demo file: fall back to generated history
        if trained is None:
            with tempfile.TemporaryDirectory() as tmp:
                csv_path = synthetic.write_csv(Path(tmp) / f"{name}.csv", make())
                trained = train(load(csv_path), source="generated (turnpoint.model.synthetic)")
        out[name] = registry.publish(trained).version
    return out
