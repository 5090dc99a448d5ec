"""Tiny models trained once per session on generated data (nothing large is committed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from turnpoint.model.registry import ensure_demo_models


@pytest.fixture(scope="session")
def model_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("registry")
    ensure_demo_models(root)
    return root
