"""The batch commands on the public conformance vectors (tests/data/conformance, a copy of
../shared/conformance), matched like compare.py."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from turnpoint.cli.batch import app

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]
CONFORMANCE = REPO / "tests" / "data" / "conformance"
SHARED = REPO.parent / "shared" / "conformance"
KEYS = {"legs": ["symbol", "gtype", "start_date"], "stats": ["series", "period", "start", "weekday"],
        "outliers": ["series", "ts"]}


def _load(path: Path, keys: list[str]) -> tuple[dict[tuple[str, ...], dict[str, str]], list[str]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return {tuple(r[k] for k in keys): r for r in rows}, list(reader.fieldnames or [])


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    except ValueError:
        return False


CASES = [
    ("legs", "expected_legs_theta0.csv", ["rebounds", "--input", "market.csv"]),
    ("legs", "expected_legs_theta005.csv", ["rebounds", "--input", "market.csv", "--threshold", "0.05"]),
    ("stats", "expected_stats_seoul.csv", ["stats", "--input", "readings.csv", "--tz", "Asia/Seoul"]),
    ("stats", "expected_stats_newyork.csv", ["stats", "--input", "readings.csv", "--tz", "America/New_York"]),
    ("outliers", "expected_outliers_seoul.csv", ["outliers", "--input", "readings.csv", "--tz", "Asia/Seoul"]),
]


@pytest.mark.parametrize(("kind", "expected", "args"), CASES, ids=[c[1] for c in CASES])
def test_batch_output_matches_expected(kind: str, expected: str, args: list[str], tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    args = [str(CONFORMANCE / a) if a.endswith(".csv") else a for a in args]
    result = CliRunner().invoke(app, [*args, "--output", str(out)])
    assert result.exit_code == 0, result.output
    exp, cols = _load(CONFORMANCE / expected, KEYS[kind])
    act, act_cols = _load(out, KEYS[kind])
    assert act_cols == cols
    bad = [k for k, e in exp.items() if k not in act or not all(_same(e[c], act[k][c]) for c in cols)]
    assert bad == [], f"{len(bad)} of {len(exp)} differ, first {bad[:5]}"
    assert set(act) == set(exp)
    with open(out, newline="") as f:
        keys = [tuple(r[k] for k in KEYS[kind]) for r in csv.DictReader(f)]
    assert keys == sorted(keys), "rows must be sorted by their key columns"


def test_the_repository_copy_of_the_vectors_is_complete_and_matches_shared() -> None:
    """The copy in tests/data is what the suite uses; where ../shared is laid beside the clone, they agree."""
    names = {"market.csv", "readings.csv", *(c[1] for c in CASES)}
    assert names <= {p.name for p in CONFORMANCE.iterdir()}
    if SHARED.is_dir():  # a user's clone has no ../shared; CI and the developers' machines have it
        stale = [p.name for p in SHARED.glob("*.csv") if (CONFORMANCE / p.name).read_bytes() != p.read_bytes()]
        assert stale == [], f"tests/data/conformance differs from {SHARED}: {stale}; copy them again"
