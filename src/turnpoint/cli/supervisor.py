"""A small process supervisor for the embedded stack: starts each service, restarts it if it dies.

Run detached by `turnpoint dev up`; SIGTERM stops every child (SIGTERM, then SIGKILL after a grace
period) and exits. Children's pids are written to `<home>/services.json` for `dev status`.

It also watches the embedded broker. A dead broker comes back empty (memory storage), so the supervisor
stops every service but the read API, starts a new broker on the same address, restores it
(`turnpoint.cli.restore`: topics, PostgreSQL's history, the ingest journal) and only then starts the
services again: nothing consumes or ingests before the history is back in every partition. A broker whose
RSS passes `TURNPOINT_BROKER__MAX_RSS_MB` is recycled the same way after the intake was held and the
pipeline drained (`turnpoint.cli.recycle`). The ingest is never stopped for either: it keeps reading its
ports and holds its publishing (`turnpoint.ingest.hold`: `<home>/spool/hold`), spooling what it accepts
until the transform has consumed the restored history. `services.json` shows the broker's RSS, peak, restarts and
recycles and each service's peak RSS.
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
from turnpoint.cli.recycle import (
    BrokerLimits,
    Recycled,
    SupervisorSettings,
    drain,
    group_lags,
    rss_mb,
    save_dead_letters,
    tree_peak_rss_mb,
)
from turnpoint.core.observability import configure_logging, ecs_line
from turnpoint.core.settings import TurnpointSettings
from turnpoint.ingest.hold import PublishHold

BACKOFF_MAX = 30.0
SETTLE_MAX = 600.0  # a recycled broker's floor is taken after this long even if the pipeline never idles
INTAKE = ("ingest", "schedule")  # the services that accept input: a recycle holds them first
HELD_RUNNING = "ingest"  # held by its publish hold, never stopped: it keeps reading serial and Modbus ports
SERVES_ON = ("api", HELD_RUNNING)  # the read API answers from PostgreSQL while the broker is away
INTAKE_WAIT_MAX = 600.0  # the intake starts after this long even if the transform has not caught up
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
        self.peak_mb = 0.0  # the peak RSS over every process of this child (a recycle restarts them)

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

    def note_peak(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.peak_mb = max(self.peak_mb, tree_peak_rss_mb(self.proc.pid))

    def stop(self) -> None:
        self.note_peak()
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
                "peak_rss_mb": round(self.peak_mb, 1), "log": str(self.log_path)}


def _say(message: str, level: str = "info", **fields: Any) -> None:
    """One ECS line on stdout (the supervisor's log file)."""
    sys.stdout.buffer.write(ecs_line(SERVICE, message, level=level, **fields))
    sys.stdout.flush()


def _hold(children: list[Child]) -> None:
    """Stop the children all at once: against a dead broker a service may need its whole grace period."""
    held = [threading.Thread(target=c.hold) for c in children]
    for t in held:
        t.start()
    for t in held:
        t.join()


class BrokerWatch:
    """The embedded broker of `<home>/stack.json` (none when the stack uses an external one): restarted when
    it dies, recycled when its RSS passes `limits.max_rss_mb` (`turnpoint.cli.recycle`)."""

    def __init__(self, home: Path, limits: BrokerLimits | None = None) -> None:
        self.home = home
        self.limits = limits or BrokerLimits(max_rss_mb=0)
        self.restarts = 0
        self.recycles = 0
        self.rss_mb: float | None = None
        self.peak_mb = 0.0
        self.last_recycle = -float("inf")
        self.floor_mb: float | None = None  # a recycled broker's RSS once the pipeline derived its history again
        self.settling_since: float | None = None
        self.idle_rounds = 0
        self.intake_held_since: float | None = None  # the intake waits until the transform derived the history
        self.publishing = PublishHold(home / "spool")  # the ingest's spool_dir (`turnpoint.cli.devstack`)
        self.hold_s = 0.0  # how long the last publish hold took to be acknowledged

    def _doc(self) -> dict[str, Any]:
        return dict(json.loads((self.home / "stack.json").read_text()))

    def dead(self) -> bool:
        pid = self._doc().get("broker_pid")
        if not pid:
            return False
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)  # reap it when it is our own child (a broker we restarted)
        return not embedded.pid_alive(pid)

    # -- memory -----------------------------------------------------------------------------------------

    def sample(self) -> None:
        """Read the broker's RSS and peak RSS (the peak over every broker of this supervisor)."""
        pid = self._doc().get("broker_pid")
        self.rss_mb = rss_mb(pid)
        if pid:
            self.peak_mb = max(self.peak_mb, tree_peak_rss_mb(pid))

    def over_limit(self) -> bool:
        """Past the limit and, after a recycle, past that recycle's floor by a quarter of the limit.

        The floor is the RSS of a recycled broker once the pipeline has derived the restored history again
        (`settle`). When that history alone takes more than the limit, another recycle would free nothing
        until the broker holds more than it did then.
        """
        limit = self.limits.limit_mb()
        if not limit or self.rss_mb is None or self.settling_since is not None:
            return False
        waited = time.monotonic() - self.last_recycle >= self.limits.recycle_interval_seconds
        return waited and self.rss_mb > max(limit, (self.floor_mb or 0.0) + limit / 4)

    def settle(self, services: list[str]) -> None:
        """After a recycle: once every consumer group is idle (two rounds in a row), the RSS is the floor."""
        if self.settling_since is None:
            return
        kafka = TurnpointSettings().kafka.model_copy(update={"bootstrap_servers": self._doc()["bootstrap"]})
        try:
            idle = all(v == 0 for v in group_lags(kafka, services).values())
        except Exception:  # a group still joining, the broker busy: ask again on the next round
            idle = False
        self.idle_rounds = self.idle_rounds + 1 if idle else 0
        timed_out = time.monotonic() - self.settling_since > SETTLE_MAX
        if self.idle_rounds < 2 and not timed_out:
            return
        self.settling_since = None
        self.floor_mb = self.rss_mb or 0.0
        how = "with its history derived again" if self.idle_rounds >= 2 else f"(not idle after {SETTLE_MAX:.0f}s)"
        fields: dict[str, Any] = {"labels": {"floor_mb": round(self.floor_mb, 1)}}
        _say(f"recycled broker settled at {self.floor_mb:.0f} MiB {how}", **fields)
        if self.floor_mb > 0.8 * self.limits.limit_mb():
            _say(f"the restored history alone takes {self.floor_mb:.0f} MiB of the broker's "
                 f"{self.limits.limit_mb():g} MiB limit: a recycle cannot bring it lower; raise "
                 "TURNPOINT_BROKER__MAX_RSS_MB", "warning")

    def describe(self) -> dict[str, Any]:
        return {"broker_restarts": self.restarts, "broker_recycles": self.recycles,
                "broker_rss_mb": None if self.rss_mb is None else round(self.rss_mb, 1),
                "broker_peak_rss_mb": round(self.peak_mb, 1), "broker_max_rss_mb": self.limits.limit_mb(),
                "broker_floor_mb": None if self.floor_mb is None else round(self.floor_mb, 1),
                "broker_settling": self.settling_since is not None}

    # -- replacing the broker ---------------------------------------------------------------------------

    def release(self, children: list[Child]) -> None:
        """Start the services again after a restore, the intake last (`release_intake`)."""
        for child in children:
            if child.spec["name"] not in INTAKE:
                child.release()
        self.intake_held_since = time.monotonic()

    def hold_intake(self, children: list[Child], also: list[Child] | None = None) -> None:
        """Hold the ingest's publishing (it keeps reading and spools) and stop the scheduler, and `also`.

        Returns once the ingest acknowledged (nothing it sent is in flight) or `drain_seconds` passed.
        """
        ingest = next((c for c in children if c.spec["name"] == HELD_RUNNING), None)

        def running() -> bool:
            return ingest is not None and ingest.proc is not None and ingest.proc.poll() is None

        acked: list[bool] = []
        t0 = time.monotonic()
        holder = threading.Thread(target=lambda: acked.append(self.publishing.hold(self.limits.drain_seconds, running)))
        holder.start()
        _hold([c for c in children if c.spec["name"] in INTAKE and c.spec["name"] != HELD_RUNNING] + (also or []))
        holder.join()
        self.hold_s = time.monotonic() - t0
        if acked and acked[0]:
            _say(f"ingest publishing held in {self.hold_s:.1f}s: it reads its ports and spools until the release")
        else:
            _say(f"the ingest did not acknowledge its publish hold within {self.limits.drain_seconds:g}s; going on",
                 "warning")

    def release_intake(self, children: list[Child]) -> None:
        """Release the ingest's publishing once the transform has consumed the re-published history (its
        group's lag is 0): the ingest then sends its spool, in order, then new records directly.

        New input must reach the transform in a later batch than the history: a batch holding both merges
        them per symbol into a state that never emitted the history's legs, so a revision could not withdraw
        the legs PostgreSQL still holds from before the restore (seen: a stale leg after a recycle whose
        restore was followed at once by a file of revisions).
        """
        if self.intake_held_since is None:
            return
        waited = time.monotonic() - self.intake_held_since
        kafka = TurnpointSettings().kafka.model_copy(update={"bootstrap_servers": self._doc()["bootstrap"]})
        try:
            lag = sum(group_lags(kafka, [c.spec["name"] for c in children if c.spec["name"] == "transform"]).values())
        except Exception:  # the group still joining: ask again
            lag = -1
        if lag != 0 and waited < INTAKE_WAIT_MAX:
            return
        self.intake_held_since = None
        if lag == 0:
            _say(f"the transform has consumed the restored history ({waited:.1f}s); starting the intake")
        else:
            _say(f"the transform has not consumed the restored history after {waited:.0f}s; starting the intake "
                 "anyway", "warning")
        self.publishing.release()
        for child in children:
            if child.spec["name"] in INTAKE:
                child.release()

    def _start_and_restore(self, doc: dict[str, Any], stopping: Callable[[], bool]) -> float:
        """Start a new broker on the address of `doc` and restore it (retrying); the restore's seconds."""
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
                return restored.seconds
            except Exception as exc:  # the port still held, PostgreSQL down, ...: try again
                _say(f"broker restart failed ({exc}); retrying in {delay:.0f}s", "error")
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
        return 0.0

    def restart(self, children: list[Child], stopping: Callable[[], bool]) -> None:
        """Hold the services, start a new broker on the same address, restore it, release the services."""
        doc = self._doc()
        _say(f"broker (pid {doc['broker_pid']}) is gone; holding the services and restarting it", "warning")
        self.hold_intake(children, also=[c for c in children if c.spec["name"] not in (*SERVES_ON, *INTAKE)])
        self._start_and_restore(doc, stopping)
        self.restarts += 1
        self.release(children)

    def recycle(self, children: list[Child], stopping: Callable[[], bool]) -> Recycled:
        """Hold intake, drain, save the dead letters, replace the broker by a restored fresh one, release."""
        t0 = time.monotonic()
        doc = self._doc()
        old_pid = doc["broker_pid"]
        before = self.rss_mb or 0.0
        _say(f"broker (pid {old_pid}) RSS {before:.0f} MiB is over TURNPOINT_BROKER__MAX_RSS_MB="
             f"{self.limits.limit_mb():g}: recycling it (hold intake, drain, save dead letters, restore)", "warning",
             **{"labels": {"rss_mb": round(before, 1), "max_rss_mb": self.limits.limit_mb(),
                           "floor_mb": self.floor_mb}})
        self.hold_intake(children)
        kafka = TurnpointSettings().kafka.model_copy(update={"bootstrap_servers": doc["bootstrap"]})
        drained, lags = drain(kafka, [c.spec["name"] for c in children], self.limits.drain_seconds, stopping)
        drain_s = time.monotonic() - t0
        if not drained:
            _say(f"not drained after {drain_s:.0f}s ({lags}): the ingest journal re-sends what the ingest accepted "
                 "and PostgreSQL lacks; records other producers sent since are lost", "warning")
        saved: dict[str, int] = {}
        try:
            saved = save_dead_letters(kafka, self.home / "dead-letters", str(old_pid))
        except Exception as exc:  # never keep a broker over its limit for the sake of its dead letters
            _say(f"dead letters not saved ({exc}); they are lost with the broker", "error")
        _hold([c for c in children if c.spec["name"] not in SERVES_ON])
        embedded.stop_pid(old_pid, timeout=15)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(old_pid, os.WNOHANG)
        restore_s = self._start_and_restore(doc, stopping)
        self.release(children)
        self.recycles += 1
        self.last_recycle = time.monotonic()
        self.settling_since, self.idle_rounds = self.last_recycle, 0
        self.sample()
        done = Recycled(before, self.rss_mb or 0.0, drained, drain_s, sum(saved.values()), restore_s,
                        time.monotonic() - t0, self.hold_s)
        _say(f"broker recycled: RSS {before:.0f} -> {done.rss_after_mb:.0f} MiB in {done.seconds:.1f}s (drain "
             f"{drain_s:.1f}s, restore {restore_s:.1f}s), {done.dead_letters} dead letters saved under "
             f"{self.home / 'dead-letters'}", **done.fields())
        return done


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
    broker = BrokerWatch(home, SupervisorSettings().broker)
    if json.loads((home / "stack.json").read_text()).get("broker_pid"):
        # `dev up` restored a new embedded broker: the intake publishes once the transform has the history;
        # the ingest starts at once, held (it reads its ports and spools)
        broker.publishing.hold()
        for child in children:
            if child.spec["name"] in INTAKE and child.spec["name"] != HELD_RUNNING:
                child.next_start = float("inf")
        broker.intake_held_since = time.monotonic()
    else:
        broker.publishing.release()  # an external broker is never replaced here: no hold left from a past run
    polls = 0
    while not stopping:
        if broker.dead():
            broker.restart(children, lambda: stopping)
        broker.sample()
        if broker.over_limit():
            broker.recycle(children, lambda: stopping)
        for child in children:
            child.poll()
        if polls % 2 == 0:
            broker.release_intake(children)
        if polls % 10 == 0:  # every 5 s: the services' peaks, and a recycled broker's floor
            for child in children:
                child.note_peak()
            broker.settle([c.spec["name"] for c in children])
        polls += 1
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps({"supervisor": os.getpid(), **broker.describe(),
                                   "services": [c.describe() for c in children]}))
        tmp.replace(state)
        time.sleep(0.5)
    for child in children:
        child.stop()
    state.unlink(missing_ok=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
