"""Holding the ingest's publishing while the embedded broker is replaced (`turnpoint dev up`'s supervisor).

The ingest keeps reading its ports during a recycle or a broker-crash restore; it only stops publishing.
Two small objects do it:

- `PublishHold`, a control file shared by the supervisor and the ingest: `<spool_dir>/hold` exists while
  publishing is held; it holds a nonce that the ingest copies into `<spool_dir>/hold.ack` once nothing it
  sent is in flight any more. A file survives an ingest restart: an ingest that starts while it exists
  starts held.
- `Gate`, inside the ingest: every publish (a serial record, an HTTP request, a drop file, a spool replay)
  passes it; `close()` refuses new passages and waits until the ones under way have left.

While held, serial and Modbus records go to the spool in order (`ReliableSender`) and are replayed after
the release; the write API answers 503 with Retry-After; drop files wait in the drop folder.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from turnpoint.core.observability import get_logger

log = get_logger("turnpoint.ingest.hold")


class PublishHold:
    """The control file `<folder>/hold` and its acknowledgement `<folder>/hold.ack`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "hold"
        self.ack_path = folder / "hold.ack"

    # -- the supervisor's side ------------------------------------------------------------------------
    def hold(self, timeout: float = 0.0, running: Callable[[], bool] = lambda: True) -> bool:
        """Ask for a hold; wait up to `timeout` s for the ingest's acknowledgement while `running()`.

        True once acknowledged, or at once when the ingest does not run (it will start held).
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        nonce = f"{os.getpid()}-{time.time_ns()}"
        self.ack_path.unlink(missing_ok=True)
        _write_atomic(self.path, nonce)
        deadline = time.monotonic() + timeout
        while True:
            if self.acknowledged(nonce) or not running():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def release(self) -> None:
        self.path.unlink(missing_ok=True)

    # -- the ingest's side ----------------------------------------------------------------------------
    def requested(self) -> str | None:
        """The nonce of the hold asked for, None when publishing is free."""
        with contextlib.suppress(FileNotFoundError):
            return self.path.read_text().strip() or "held"
        return None

    def acknowledge(self, nonce: str) -> None:
        _write_atomic(self.ack_path, nonce)

    def acknowledged(self, nonce: str) -> bool:
        with contextlib.suppress(FileNotFoundError):
            return self.ack_path.read_text().strip() == nonce
        return False


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


class Gate:
    """Publishing, open or held; `close()` returns once no passage is under way."""

    def __init__(self, held: bool = False) -> None:
        self._cond = threading.Condition()
        self._held = held
        self._active = 0

    @property
    def held(self) -> bool:
        return self._held

    def enter(self) -> bool:
        """Start one publish; False (nothing entered) while held."""
        with self._cond:
            if self._held:
                return False
            self._active += 1
            return True

    def leave(self) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    @contextlib.contextmanager
    def passage(self) -> Iterator[bool]:
        """`with gate.passage() as open_:` publish only when `open_`; leaves on exit."""
        entered = self.enter()
        try:
            yield entered
        finally:
            if entered:
                self.leave()

    def close(self, timeout: float | None = None) -> bool:
        """Refuse new passages; wait (at most `timeout` s) for those under way; True when none is left."""
        with self._cond:
            self._held = True
            return self._cond.wait_for(lambda: self._active == 0, timeout)

    def open(self) -> None:
        with self._cond:
            self._held = False


class HoldWatch:
    """The ingest's thread that follows `PublishHold`: closes the gate, flushes, acknowledges; opens on release.

    `quiesce()` runs once the gate is closed (flush what is in flight, so that nothing reaches a broker that
    is about to be replaced); `resume()` runs before the gate opens again (new producers for a new broker).
    """

    def __init__(self, control: PublishHold, gate: Gate, quiesce: Callable[[], None], resume: Callable[[], None],
                 interval: float = 0.2) -> None:
        self.control, self.gate = control, gate
        self.quiesce, self.resume = quiesce, resume
        self.interval = interval
        self.acked: str | None = None
        self.holds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-hold", daemon=True)

    def start(self) -> HoldWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def step(self) -> None:
        """Follow the control file once."""
        nonce = self.control.requested()
        if nonce is not None and nonce != self.acked:
            t0 = time.monotonic()
            while not self.gate.close(timeout=5.0):
                log.info("publishing held: waiting for the publishes under way", waited_s=round(time.monotonic() - t0))
            self.quiesce()
            self.control.acknowledge(nonce)
            self.acked = nonce
            self.holds += 1
            log.info("publishing held: records are spooled until the release", took_s=round(time.monotonic() - t0, 2))
        elif nonce is None and (self.gate.held or self.acked is not None):
            self.resume()
            self.gate.open()
            self.acked = None
            log.info("publishing released")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.step()
            except Exception as exc:
                log.error("publish hold step failed", error=str(exc))
