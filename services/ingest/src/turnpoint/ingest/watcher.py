"""The drop folder: market files that appear are ingested once, then moved to `done/` or `failed/`.

A file is taken when its size and mtime stayed the same for one poll (so half-copied files wait). Files
named `symbols*.csv` are symbol metadata; every other `*.csv` is market bars (symbol from its column or
the file name). Success moves the file to `done/` with a `.summary.json`; a file that cannot be read
moves to `failed/` with a `.reason.txt`; when Kafka is unavailable the file stays and is tried again.
While publishing is held (`turnpoint.ingest.hold`) no file is taken: they wait in the folder.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from turnpoint.core.contracts import utcnow
from turnpoint.core.errors import InfrastructureUnavailable
from turnpoint.core.observability import get_logger
from turnpoint.core.settings import TurnpointSettings
from turnpoint.ingest import metrics
from turnpoint.ingest.errors import InputFileError
from turnpoint.ingest.files import Summary, publish_market_file, publish_symbols_file
from turnpoint.ingest.hold import Gate

log = get_logger("turnpoint.ingest.watcher")


class DropFolderWatcher:
    def __init__(self, settings: TurnpointSettings, folder: Path, poll_seconds: float = 1.0,
                 gate: Gate | None = None) -> None:
        self.settings = settings
        self.gate = gate or Gate()
        self.folder = folder
        self.poll_seconds = poll_seconds
        self.done = folder / "done"
        self.failed = folder / "failed"
        self._seen: dict[Path, tuple[int, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="drop-folder", daemon=True)
        self.processed: dict[str, int] = {"done": 0, "failed": 0, "retry": 0}

    def start(self) -> None:
        for d in (self.folder, self.done, self.failed):
            d.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def status(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "alive": self._thread.is_alive(), **self.processed}

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan()
            except Exception as exc:
                log.error("drop folder scan failed", folder=str(self.folder), error=str(exc))
            self._stop.wait(self.poll_seconds)

    def scan(self) -> list[Path]:
        """Process the files that are complete; return them."""
        taken: list[Path] = []
        for path in sorted(self.folder.glob("*.csv")):
            if path.name.startswith("."):
                continue
            st = path.stat()
            sig = (st.st_size, st.st_mtime)
            if self._seen.get(path) != sig:
                self._seen[path] = sig  # seen changing: take it next time if it stays the same
                continue
            with self.gate.passage() as open_:
                if not open_:  # held: the file waits, and is taken once it stayed the same after the release
                    break
                del self._seen[path]
                self.process(path)
            taken.append(path)
        return taken

    def process(self, path: Path) -> str:
        stamp = f"{utcnow():%Y%m%dT%H%M%S}"
        try:
            if path.name.lower().startswith("symbols"):
                summary = publish_symbols_file(self.settings, path)
            else:
                summary = publish_market_file(self.settings, path)
        except InputFileError as exc:
            target = self.failed / f"{stamp}-{path.name}"
            path.replace(target)
            target.with_name(target.name + ".reason.txt").write_text(f"{exc}\n", encoding="utf-8")
            log.warning("drop file failed", file=path.name, reason=str(exc))
            return self._count("failed")
        except InfrastructureUnavailable as exc:
            log.warning("Kafka unavailable; the file stays for the next try", file=path.name, error=str(exc))
            return self._count("retry")
        if not summary.ok:
            log.warning("not every record was acknowledged; the file stays for the next try", file=path.name)
            return self._count("retry")
        target = self.done / f"{stamp}-{path.name}"
        path.replace(target)
        _write_summary(target, summary)
        log.info("drop file ingested", file=path.name, published=summary.published, rejected=summary.rejected)
        return self._count("done")

    def _count(self, outcome: str) -> str:
        self.processed[outcome] += 1
        metrics.FILES.labels(outcome).inc()
        return outcome


def _write_summary(target: Path, summary: Summary) -> None:
    target.with_name(target.name + ".summary.json").write_text(json.dumps(summary.as_dict(), indent=1) + "\n")
