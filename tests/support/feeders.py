"""Feeding a running stack the way producers do: files into the drop folder, HTTP batches, serial lines."""

from __future__ import annotations

import os
import time
import tty
from pathlib import Path
from typing import Any

import httpx

from support.pipeline_check import BAR_COLUMNS, write_csv


def drop_market_file(drop_dir: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    """Write a market CSV beside the drop folder and rename it in, so the watcher never sees half a file."""
    drop_dir.mkdir(parents=True, exist_ok=True)
    tmp = write_csv(drop_dir.parent / f".{name}.partial", rows, BAR_COLUMNS)
    target = drop_dir / f"{name}.csv"
    tmp.replace(target)
    return target


class HttpFeeder:
    """POST records in batches; retry each batch until it gets 202 (connection errors, 5xx, 409 are retried).

    Retrying without an Idempotency-Key may publish a batch twice; readings and bars are identified by
    their keys, so the database must still count them once.
    """

    def __init__(self, base_url: str, token: str, timeout: float = 300) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.timeout = timeout
        self.retries = 0
        self.statuses: dict[int, int] = {}

    def post(self, path: str, items: list[dict[str, Any]]) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                r = httpx.post(f"{self.base_url}{path}", json={"items": items}, headers=self.headers, timeout=30)
                self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
                if r.status_code == 202:
                    return
                if r.status_code < 500 and r.status_code != 409:
                    msg = f"POST {path} refused with {r.status_code}: {r.text}"
                    raise AssertionError(msg)
            except httpx.HTTPError:
                self.statuses[0] = self.statuses.get(0, 0) + 1
            if time.monotonic() > deadline:
                msg = f"POST {path} not accepted within {self.timeout:.0f}s ({self.statuses})"
                raise AssertionError(msg)
            self.retries += 1
            time.sleep(0.5)

    def post_all(self, path: str, items: list[dict[str, Any]], batch: int = 500, pause: float = 0.0) -> None:
        for i in range(0, len(items), batch):
            self.post(path, items[i:i + batch])
            if pause:
                time.sleep(pause)


class PtySerialDevice:
    """A serial sensor on a pseudo-terminal: `path` is a symlink to the pty slave; lines go to the master."""

    def __init__(self, path: Path) -> None:
        self.path = path
        master, slave = os.openpty()
        tty.setraw(slave)
        name = os.ttyname(slave)
        os.close(slave)
        path.unlink(missing_ok=True)
        path.symlink_to(name)
        self.master = master
        os.set_blocking(master, True)

    def write_line(self, line: str) -> None:
        view = memoryview((line + "\n").encode())
        while view:
            n = os.write(self.master, view)
            view = view[n:]

    def close(self) -> None:
        self.path.unlink(missing_ok=True)
        os.close(self.master)
