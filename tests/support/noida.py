"""An Elasticsearch-API server (noida-db, `--only elasticsearch`) that tests can stop and start again."""

from __future__ import annotations

import os
import subprocess
import time
from importlib.resources import files
from pathlib import Path

import httpx

from turnpoint.cli.embedded import free_port


class Noida:
    def __init__(self, root: Path) -> None:
        binary = files("noida_db").joinpath("noida-db")
        if not binary.is_file():
            msg = "noida-db binary not installed (dev dependency group)"
            raise FileNotFoundError(msg)
        os.chmod(str(binary), 0o755)
        self.binary = str(binary)
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "noida.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "start", "--data-dir", str(self.root / "data"), "--only", "elasticsearch",
                 "--elasticsearch-port", str(self.port)], stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        msg = f"noida-db did not start; see {self.root / 'noida.log'}"
        raise RuntimeError(msg)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def count(self, index: str, attempts: int = 5) -> int:
        """Documents in `index` after a refresh. The server can be slow to answer while a writer re-indexes a
        large backlog into it, so a timeout is retried (with a longer pause each time) before it is raised."""
        for attempt in range(1, attempts):
            try:
                return self._count(index)
            except httpx.TimeoutException:
                time.sleep(2 * attempt)
        return self._count(index)

    def _count(self, index: str) -> int:
        httpx.post(f"{self.url}/{index}/_refresh", timeout=60)
        r = httpx.get(f"{self.url}/{index}/_count", timeout=60)
        return int(r.json().get("count", 0)) if r.status_code == 200 else 0
