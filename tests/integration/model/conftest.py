"""An Elasticsearch-API-compatible server (noida-db, elasticsearch only) and tiny models for the session."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import httpx
import pytest
from turnpoint.model.registry import ensure_demo_models


@pytest.fixture(scope="session")
def model_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("registry")
    ensure_demo_models(root)
    return root


@pytest.fixture(scope="session")
def elasticsearch_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`TURNPOINT_TEST_ELASTICSEARCH` if set, else noida-db's Elasticsearch API on a free port."""
    external = os.environ.get("TURNPOINT_TEST_ELASTICSEARCH")
    if external:
        yield external
        return
    from turnpoint.cli.embedded import free_port

    binary = files("noida_db").joinpath("noida-db")
    if not binary.is_file():
        pytest.skip("noida-db binary not installed (dev dependency group)")
    os.chmod(str(binary), 0o755)
    port = free_port()
    root = tmp_path_factory.mktemp("noida")
    log = (root / "noida.log").open("wb")
    proc = subprocess.Popen(
        [str(binary), "start", "--data-dir", str(root / "data"), "--only", "elasticsearch",
         "--elasticsearch-port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"noida-db did not start; see {root / 'noida.log'}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
