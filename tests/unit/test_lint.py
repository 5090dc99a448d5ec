"""The production code stays ruff-clean and the shared library mypy-strict (pyproject.toml configures both)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_ruff_is_clean_on_production_code() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "services", "libs", "src"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:]


def test_mypy_strict_on_the_shared_library() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
