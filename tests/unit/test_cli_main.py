"""The root command line: --version, lazy sub-commands (start-up cost), every command still reachable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.unit


def _modules_after(*args: str) -> set[str]:
    """The modules imported by `turnpoint ARGS` in a fresh interpreter."""
    code = ("import sys\nfrom turnpoint.cli.main import app\n"
            f"try:\n    app({list(args)!r})\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return set(done.stderr.rsplit("MODULES ", 1)[1].split())


def test_version() -> None:
    from importlib.metadata import version

    from turnpoint.cli.main import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"turnpoint {version('turnpoint')}"


def test_help_lists_every_command_without_importing_them() -> None:
    from turnpoint.cli.main import SUBAPPS, app

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    installed = [n for n, (m, _) in SUBAPPS.items() if __import__("importlib").util.find_spec(m.rsplit(".", 1)[0])]
    for name in [*installed, "run"]:
        assert f" {name} " in result.output, name
    loaded = _modules_after("--help")
    # (finding a service's cli module imports its package's empty __init__, nothing below it)
    assert not {m for m in loaded if m.startswith(("turnpoint.cli.devstack", "turnpoint.ingest.", "turnpoint.api.",
                                                    "turnpoint.transform.", "httpx", "confluent_kafka"))}


def test_batch_imports_no_service_and_no_client(tmp_path: object) -> None:
    loaded = _modules_after("batch", "stats", "--help")
    assert "turnpoint.cli.batch" in loaded
    assert not {m for m in loaded if m.startswith(("turnpoint.cli.devstack", "turnpoint.cli.demo", "httpx",
                                                    "confluent_kafka", "turnpoint.core.settings", "faust"))}


def test_help_imports_neither_numpy_nor_pydantic() -> None:
    """`turnpoint --help` lists commands: no numeric or validation library is needed for that (start-up)."""
    loaded = _modules_after("--help")
    assert "turnpoint.cli.main" in loaded
    assert not {m for m in loaded if m.split(".")[0] in ("numpy", "pydantic", "pydantic_core", "orjson")}


def test_batch_run_does_not_build_the_pydantic_contracts(tmp_path: Path) -> None:
    """A batch command checks rows with the row layer and `core.limits`; building the contracts' models
    would cost ~0.1 CPU-s of start-up for nothing (bench/startup.py)."""
    data = tmp_path / "r.csv"
    data.write_text("series,ts,value\ns1,2024-01-01T00:00:00Z,1.5\n")
    loaded = _modules_after("batch", "stats", "-i", str(data), "-o", str(tmp_path / "out.csv"))
    assert (tmp_path / "out.csv").read_text().startswith("series,period,")
    assert {"turnpoint.core.tables", "turnpoint.core.algorithms.bulk", "turnpoint.core.limits"} <= loaded
    assert "turnpoint.core.contracts" not in loaded


@pytest.mark.parametrize("words", [["dev", "status"], ["batch", "rebounds"], ["run"], ["ingest", "market"]])
def test_sub_commands_still_run_their_help(words: list[str]) -> None:
    from turnpoint.cli.main import app

    result = CliRunner().invoke(app, [*words, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_unknown_command_is_a_usage_error() -> None:
    from turnpoint.cli.main import app

    result = CliRunner().invoke(app, ["nope"])
    assert result.exit_code == 2
