"""A local durable spool: records Kafka did not take wait here, in order, until the broker is back.

Segments are append-only JSON-lines files `YYYYMMDDTHHMMSSffffff-NNNNNN.jsonl` (one line per message:
topic, key, value), fsynced in batches (every `fsync_interval` seconds and on rotation/close) and rotated
by size. Replay sends segments oldest first, each message in order; a segment whose messages were all
acknowledged moves to `replayed/` and is deleted after `retention_days` (as the legacy CSV spool was).
A segment that was not fully acknowledged is replayed again from its start later (at-least-once: records
are identified by their keys, so a repeat is harmless). Segments not yet replayed are never deleted.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from turnpoint.core.contracts import utcnow
from turnpoint.core.observability import get_logger

log = get_logger("turnpoint.ingest.spool")

Line = tuple[str, str | None, bytes]  # topic, key, value

class Spool:
    """Thread-safe append and ordered read-back of spooled messages."""

    def __init__(self, folder: Path, segment_bytes: int = 16 << 20, retention_days: int = 7,
                 fsync_interval: float = 0.2) -> None:
        self.folder = folder
        self.done_folder = folder / "replayed"
        self.segment_bytes = segment_bytes
        self.retention_days = retention_days
        self.fsync_interval = fsync_interval
        self._lock = threading.RLock()
        self._fh: IO[bytes] | None = None
        self._path: Path | None = None
        self._size = 0
        self._seq = 0
        self._last_sync = 0.0
        self._dirty = False
        self.appended = 0

    # -- writing -------------------------------------------------------------------------------------
    def append(self, topic: str, key: str | bytes | None, value: bytes) -> None:
        k = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        line = orjson.dumps({"t": topic, "k": k, "v": value.decode("utf-8")}) + b"\n"
        with self._lock:
            if self._fh is None or self._size + len(line) > self.segment_bytes:
                self._open_new()
            assert self._fh is not None
            self._fh.write(line)
            self._size += len(line)
            self._dirty = True
            self.appended += 1
            if time.monotonic() - self._last_sync >= self.fsync_interval:
                self._sync()

    def _open_new(self) -> None:
        self._close_current()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"{utcnow():%Y%m%dT%H%M%S%f}-{self._seq:06d}.jsonl"
        self._path = self.folder / name
        self._fh = self._path.open("ab")
        self._size = 0
        _fsync_dir(self.folder)

    def _sync(self) -> None:
        if self._fh is not None and self._dirty:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._dirty = False
        self._last_sync = time.monotonic()

    def sync(self) -> None:
        with self._lock:
            self._sync()

    def _close_current(self) -> None:
        if self._fh is not None:
            self._sync()
            self._fh.close()
            self._fh = None
            self._path = None

    def rotate(self) -> None:
        """Close the open segment so that replay can take it."""
        with self._lock:
            self._close_current()

    def close(self) -> None:
        self.rotate()

    # -- reading -------------------------------------------------------------------------------------
    def segments(self) -> list[Path]:
        """Closed segments waiting for replay, oldest first."""
        if not self.folder.is_dir():
            return []
        with self._lock:
            current = self._path
        return sorted(p for p in self.folder.glob("*.jsonl") if p != current)

    def pending(self) -> bool:
        with self._lock:
            if self._fh is not None and self._size > 0:
                return True
        return bool(self.segments())

    def is_empty_locked(self) -> bool:
        """Call with `lock` held: nothing spooled at all (open or closed)."""
        return (self._fh is None or self._size == 0) and not self.segments()

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @staticmethod
    def read(segment: Path) -> Iterator[Line]:
        with segment.open("rb") as fh:
            for n, raw in enumerate(fh, 1):
                if not raw.endswith(b"\n"):
                    log.warning("spool segment ends with a partial line (crash while writing); skipped",
                                segment=str(segment), line=n)
                    break
                try:
                    doc = orjson.loads(raw)
                    yield doc["t"], doc["k"], doc["v"].encode("utf-8")
                except (orjson.JSONDecodeError, KeyError, AttributeError):
                    log.error("unreadable spool line skipped", segment=str(segment), line=n)

    def mark_replayed(self, segment: Path) -> None:
        self.done_folder.mkdir(parents=True, exist_ok=True)
        segment.replace(self.done_folder / segment.name)
        _fsync_dir(self.folder)

    def cleanup(self, now: dt.datetime | None = None) -> int:
        """Delete replayed segments older than the retention; return how many."""
        if not self.done_folder.is_dir():
            return 0
        cutoff = (now or utcnow()).timestamp() - self.retention_days * 86400
        removed = 0
        for p in self.done_folder.glob("*.jsonl"):
            if p.stat().st_mtime < cutoff:
                p.unlink(missing_ok=True)
                removed += 1
        return removed

def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

Sender = Callable[[str, str | None, bytes, Callable[[Any, Any], None]], None]
