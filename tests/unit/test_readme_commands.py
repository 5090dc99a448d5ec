"""The README's two commands, `.ci/run` and the configuration table must not drift apart."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def _block_after(heading: str) -> str:
    match = re.search(re.escape(heading) + r".*?```bash\n(.*?)```", README, re.S)
    assert match, f"README has no bash block after {heading!r}"
    return match.group(1).strip()


def _commands(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def test_readme_has_exactly_two_commands() -> None:
    section = README.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert [len(_commands(b)) for b in blocks] == [1, 1]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_cmd = _block_after("Run the tests:")
    ci = _commands((REPO / ".ci" / "run").read_text())
    assert ci[-1] == test_cmd, f".ci/run ends with {ci[-1]!r}, README says {test_cmd!r}"


def test_run_command_runs_the_pipeline() -> None:
    run_cmd = _block_after("for a bounded run that prints what flowed through each stage):")
    script = REPO / run_cmd.split()[0]
    assert script.is_file()
    body = script.read_text()
    assert "scripts/bootstrap.sh" in body and "turnpoint run" in body


def test_env_table_matches_settings() -> None:
    table = README.split("<!-- env-table:start -->\n", 1)[1].split("\n<!-- env-table:end -->", 1)[0]
    generated = subprocess.run(
        [sys.executable, "-m", "turnpoint.cli.envdoc"], capture_output=True, text=True,
        check=True,
    ).stdout.strip()
    assert table.strip() == generated, "README's configuration table is stale: regenerate it with envdoc"
