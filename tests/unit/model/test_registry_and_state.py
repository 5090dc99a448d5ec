from __future__ import annotations

import time

from turnpoint.model.registry import Registry, ensure_demo_models
from turnpoint.model.state import History
from turnpoint.model.training import FORECAST_MODEL, Trained


def _trained(name: str = "m") -> Trained:
    return Trained(name, "forecast", b"not-really-onnx", {"kind": "forecast", "summary": "s"})


def test_publish_allocates_increasing_versions(tmp_path) -> None:
    reg = Registry(tmp_path)
    assert reg.latest("m") is None
    versions = [reg.publish(_trained()).version for _ in range(11)]
    assert versions == [f"v{i}" for i in range(1, 12)]
    assert reg.latest("m").version == "v11"  # numeric, not lexical order
    card = reg.latest("m").card()
    assert card["version"] == "v11" and len(card["sha256"]) == 64


def test_staging_folders_are_invisible(tmp_path) -> None:
    reg = Registry(tmp_path)
    reg.publish(_trained())
    (tmp_path / "m" / ".staging-x").mkdir()
    (tmp_path / "m" / "v9").mkdir()  # no files: not a complete artifact
    assert [a.version for a in reg.versions("m")] == ["v1"]


def test_ensure_demo_models_is_fast_and_idempotent(tmp_path) -> None:
    t0 = time.monotonic()
    first = ensure_demo_models(tmp_path)
    assert time.monotonic() - t0 < 10
    assert set(first) == {FORECAST_MODEL, "anomaly-reading"}
    assert ensure_demo_models(tmp_path) == first


def test_history_applies_revisions_and_ignores_duplicates() -> None:
    h: History[str] = History(keep=3)
    assert h.update("2024-01-02", 1.0) == "new"
    assert h.update("2024-01-03", 2.0) == "new"
    assert h.update("2024-01-03", 2.0) == "duplicate"
    assert h.update("2024-01-03", 2.5) == "revised-latest"
    assert h.update("2024-01-01", 0.5) == "revised"
    assert h.window(3) == [0.5, 1.0, 2.5]
    assert h.update("2023-12-01", 9.0) == "too-old"
    assert h.update("2024-01-04", 3.0) == "new"
    assert h.times == ["2024-01-02", "2024-01-03", "2024-01-04"]
    assert h.window(4) is None
    assert h.previous_time() == "2024-01-03"
