"""The production code stays ruff-clean and type-checked: mypy over every package, strict on libs/core and libs/web
(pyproject.toml configures both)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_ruff_is_clean_on_production_code() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "services", "libs", "src"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:]


def test_mypy_over_every_package() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
