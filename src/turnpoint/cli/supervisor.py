"""A small process supervisor for the embedded stack: starts each service, restarts it if it dies.

Run detached by `turnpoint dev up`; SIGTERM stops every child (SIGTERM, then SIGKILL after a grace
period) and exits. Children's pids are written to `<home>/services.json` for `dev status`.

It also watches the embedded broker. A dead broker comes back empty (memory storage), so the supervisor
stops every service but the read API, starts a new broker on the same address, restores it
(`turnpoint.cli.restore`: topics, PostgreSQL's history, the ingest journal) and only then starts the
services again: nothing consumes or ingests before the history is back in every partition.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from turnpoint.cli import embedded
from turnpoint.cli.embedded import stop_pid
from turnpoint.core.observability import configure_logging, ecs_line

BACKOFF_MAX = 30.0
SERVICE = "turnpoint-supervisor"


class Child:
    def __init__(self, spec: dict[str, Any], logs: Path) -> None:
        self.spec = spec
        self.log_path = logs / f"{spec['name']}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.next_start = 0.0
        self.backoff = 1.0
        self.started_at = 0.0

    def start(self) -> None:
        env = {**os.environ, **self.spec["env"]}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.spec["argv"], env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.spec.get("cwd"), start_new_session=True,
            )
        self.started_at = time.monotonic()

    def poll(self) -> None:
        now = time.monotonic()
        if self.proc is None:
            if now >= self.next_start:
                self.start()
            return
        if self.proc.poll() is None:
            if now - self.started_at > 60:
                self.backoff = 1.0  # it ran long enough: a later crash starts the backoff afresh
            return
        with self.log_path.open("ab") as log:
            log.write(ecs_line(SERVICE, f"{self.spec['name']} exited with {self.proc.returncode}; restarting in "
                               f"{self.backoff:.0f}s", level="error", **{"process.exit_code": self.proc.returncode}))
        self.proc = None
        self.restarts += 1
        self.next_start = now + self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc.pid, timeout=15)
            self.proc.wait(timeout=5)

    def hold(self) -> None:
        """Stop the process and do not start it again until `release` (not counted as a restart)."""
        self.stop()
        self.proc = None
        self.next_start = float("inf")

    def release(self) -> None:
        self.next_start = 0.0
        self.backoff = 1.0

    def describe(self) -> dict[str, Any]:
        pid = self.proc.pid if self.proc is not None and self.proc.poll() is None else None
        return {"name": self.spec["name"], "pid": pid, "port": self.spec.get("port"), "restarts": self.restarts,
                "log": str(self.log_path)}


def _say(message: str, level: str = "info") -> None:
    """One ECS line on stdout (the supervisor's log file)."""
    sys.stdout.buffer.write(ecs_line(SERVICE, message, level=level))
    sys.stdout.flush()


class BrokerWatch:
    """The embedded broker of `<home>/stack.json` (none when the stack uses an external one)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.restarts = 0

    def _doc(self) -> dict[str, Any]:
        return dict(json.loads((self.home / "stack.json").read_text()))

    def dead(self) -> bool:
        pid = self._doc().get("broker_pid")
        if not pid:
            return False
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)  # reap it when it is our own child (a broker we restarted)
        return not embedded.pid_alive(pid)

    def restart(self, children: list[Child], stopping: Callable[[], bool]) -> None:
        """Hold the services, start a new broker on the same address, restore it, release the services."""
        doc = self._doc()
        _say(f"broker (pid {doc['broker_pid']}) is gone; holding the services and restarting it", "warning")
        # all at once: against a dead broker a service may need its whole grace period to stop
        held = [threading.Thread(target=c.hold) for c in children if c.spec["name"] != "api"]  # the API serves on
        for t in held:
            t.start()
        for t in held:
            t.join()
        port = int(doc["bootstrap"].rsplit(":", 1)[1])
        delay = 1.0
        pid: int | None = None
        while not stopping():
            try:
                if not embedded.pid_alive(pid):  # a broker started by an attempt whose restore failed is reused
                    pid = embedded.start_broker(port, self.home / "logs" / "broker.log").pid
                    doc["broker_pid"] = pid
                    tmp = self.home / "stack.json.tmp"
                    tmp.write_text(json.dumps(doc, indent=2))
                    tmp.replace(self.home / "stack.json")
                from turnpoint.cli.restore import restore

                restored = restore(doc["bootstrap"], doc["database_url"], self.home / "spool" / "journal")
                _say(f"broker restarted (pid {pid}) and restored: {restored.line()} ({restored.seconds:.1f}s)")
                break
            except Exception as exc:  # the port still held, PostgreSQL down, ...: try again
                _say(f"broker restart failed ({exc}); retrying in {delay:.0f}s", "error")
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
        self.restarts += 1
        for child in children:
            child.release()


def main(home: Path) -> None:
    configure_logging(SERVICE)  # the restore's own lines (re-publish, journal, librdkafka) as ECS JSON too
    specs = json.loads((home / "stack.json").read_text())["services"]
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    children = [Child(s, logs) for s in specs]
    stopping = False

    def on_term(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    state = home / "services.json"
    broker = BrokerWatch(home)
    while not stopping:
        if broker.dead():
            broker.restart(children, lambda: stopping)
        for child in children:
            child.poll()
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps({"supervisor": os.getpid(), "broker_restarts": broker.restarts,
                                   "services": [c.describe() for c in children]}))
        tmp.replace(state)
        time.sleep(0.5)
    for child in children:
        child.stop()
    state.unlink(missing_ok=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
