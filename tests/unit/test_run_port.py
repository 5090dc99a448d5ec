"""`turnpoint run` (what ./run.sh runs) leaves the API port to TURNPOINT_API__PORT unless --api-port is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from turnpoint.cli import demo, devstack
from turnpoint.cli.main import app

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("args", "asked"), [([], None), (["--api-port", "8123"], {"api": 8123})])
def test_run_asks_dev_up_only_for_an_explicit_port(args: list[str], asked: dict[str, int] | None, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNPOINT_HOME", str(tmp_path))
    monkeypatch.setenv("TURNPOINT_API__PORT", "8099")
    seen: list[Any] = []

    def fake_up(ports: dict[str, int] | None = None, **_: Any) -> devstack.Stack:
        seen.append(ports)
        raise typer.Exit(3)  # stop before anything starts

    monkeypatch.setattr(devstack, "up", fake_up)
    monkeypatch.setattr(demo, "_ensure_models", lambda *a: None)
    result = CliRunner().invoke(app, ["run", *args])
    assert result.exit_code == 3, result.output
    assert seen == [asked]  # None: dev up takes TURNPOINT_API__PORT (8099) itself


def test_run_sh_passes_no_port() -> None:
    script = (Path(__file__).resolve().parents[2] / "run.sh").read_text()
    assert "--api-port" not in script.split("exec", 1)[1]
