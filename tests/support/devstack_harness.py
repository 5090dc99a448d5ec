"""Driving a real `turnpoint dev up` stack from tests and benchmarks: faults, waits and process facts.

The stack runs under its supervisor (restarts killed services); `stack.json` and `services.json` in
`TURNPOINT_HOME` tell where the broker, the database and each service are.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from turnpoint.cli.embedded import free_port, pid_alive
from turnpoint.core import topics

WORKERS = ("transform", "loader", "ingest", "model")
# Every service `dev up` starts with a port of its own (alerts included): each gets a free port here, so
# stacks of concurrent runs never answer each other's health checks.
SERVICES = tuple(topics.PORTS)


class StackError(AssertionError):
    """The stack did not reach the state a test waited for (the message says which and where the logs are)."""


class DevStack:
    """One embedded stack in its own TURNPOINT_HOME, on free ports."""

    def __init__(self, home: Path, extra_env: dict[str, str] | None = None, tz: str = "Asia/Seoul") -> None:
        self.home = home
        self.ports = {name: free_port() for name in SERVICES}
        env = {k: v for k, v in os.environ.items() if not k.startswith("TURNPOINT_") and k != "DATABASE_URL"}
        env |= {"TURNPOINT_HOME": str(home), "TURNPOINT_TZ": tz}
        env |= {f"TURNPOINT_{n.upper()}__PORT": str(p) for n, p in self.ports.items()}
        self.env = env | (extra_env or {})
        self.tz = tz
        self.up_seconds = 0.0

    # -- lifecycle --------------------------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "turnpoint.cli.main", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def up(self, wait: float = 240) -> None:
        t0 = time.monotonic()
        done = self.cli("dev", "up", "--wait", str(wait), timeout=wait + 120)
        if done.returncode != 0:
            msg = f"dev up failed:\n{done.stdout}\n{done.stderr}\n{self.log_tails()}"
            raise StackError(msg)
        self.up_seconds = time.monotonic() - t0

    def down(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.cli("dev", "down", timeout=120)

    @property
    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.home / "stack.json").read_text()))

    @property
    def database_url(self) -> str:
        return str(self.state["database_url"])

    @property
    def bootstrap(self) -> str:
        return str(self.state["bootstrap"])

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def pids(self) -> dict[str, int | None]:
        try:
            doc = json.loads((self.home / "services.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return {s["name"]: s.get("pid") for s in doc.get("services", [])}

    def restarts(self) -> dict[str, int]:
        try:
            doc = json.loads((self.home / "services.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return {s["name"]: int(s.get("restarts", 0)) for s in doc.get("services", [])}

    def healthy(self, service: str) -> bool:
        try:
            return httpx.get(f"{self.url(service)}/readyz", timeout=2).status_code == 200  # ready, not only alive
        except httpx.HTTPError:
            return False

    def log_tails(self, chars: int = 2000) -> str:
        out = []
        for path in sorted((self.home / "logs").glob("*.log")):
            text = path.read_text(errors="replace")
            out.append(f"--- {path.name}\n{text[-chars:]}")
        return "\n".join(out)

    # -- faults -----------------------------------------------------------------------------------------

    def kill(self, service: str) -> int:
        """SIGKILL the service's process group (it is a session leader); return the killed pid."""
        pid = self.pids().get(service)
        if not pid:
            msg = f"{service} has no running process to kill"
            raise StackError(msg)
        os.killpg(pid, signal.SIGKILL)
        return int(pid)

    def wait_restarted(self, service: str, old_pid: int, timeout: float = 120) -> int:
        """Wait until the supervisor runs a new process for `service` and it is ready (/readyz 200)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.pids().get(service)
            if pid and pid != old_pid and pid_alive(pid) and self.healthy(service):
                return int(pid)
            time.sleep(0.3)
        msg = f"{service} was not restarted and healthy within {timeout:.0f}s\n{self.log_tails()}"
        raise StackError(msg)

    def wait_all_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.healthy(s) for s in SERVICES):
                return
            time.sleep(0.5)
        bad = [s for s in SERVICES if not self.healthy(s)]
        msg = f"not healthy after {timeout:.0f}s: {bad}\n{self.log_tails()}"
        raise StackError(msg)

    def stop_postgres(self) -> None:
        from turnpoint.cli.embedded import stop_postgres

        stop_postgres(Path(self.state["pgdata"]), mode="fast")

    def start_postgres(self) -> None:
        from psycopg.conninfo import conninfo_to_dict

        from turnpoint.cli.embedded import start_postgres

        port = int(conninfo_to_dict(self.database_url)["port"])  # type: ignore[arg-type]
        start_postgres(Path(self.state["pgdata"]), port)

    def freeze_broker(self) -> None:
        """SIGSTOP the broker: connections stay open but nothing answers (memory storage survives)."""
        os.kill(int(self.state["broker_pid"]), signal.SIGSTOP)

    def thaw_broker(self) -> None:
        os.kill(int(self.state["broker_pid"]), signal.SIGCONT)

    # -- waits ------------------------------------------------------------------------------------------

    def wait_drop_folder_empty(self, timeout: float = 300) -> None:
        drop = Path(self.env.get("TURNPOINT_INGEST__DROP_DIR", str(self.home / "drop")))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not list(drop.glob("*.csv")):
                return
            time.sleep(0.3)
        msg = f"drop folder {drop} still holds files after {timeout:.0f}s\n{self.log_tails()}"
        raise StackError(msg)

    def wait_spool_empty(self, timeout: float = 300) -> None:
        spool = self.home / "spool"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not list(spool.glob("*.jsonl")):  # replayed segments move to spool/replayed/
                return
            time.sleep(0.3)
        msg = f"spool {spool} not replayed after {timeout:.0f}s\n{self.log_tails()}"
        raise StackError(msg)

    def wait_idle(self, timeout: float = 300) -> None:
        self.wait_drop_folder_empty(timeout)
        done = self.cli("dev", "wait-idle", "--timeout", str(timeout), timeout=timeout + 60)
        if done.returncode != 0:
            msg = f"dev wait-idle failed: {done.stderr}\n{self.log_tails()}"
            raise StackError(msg)

    # -- facts --------------------------------------------------------------------------------------------

    def create_token(self, name: str, *scopes: str) -> str:
        args = ["ingest", "token", "create", name]
        for scope in scopes:
            args += ["--scope", scope]
        done = self.cli(*args, timeout=60)
        if done.returncode != 0:
            msg = f"token create failed: {done.stdout}\n{done.stderr}"
            raise StackError(msg)
        return done.stdout.strip().splitlines()[-1].strip()

    def peak_rss_mb(self) -> dict[str, float]:
        """VmHWM of each live service process and its children (MiB), plus the broker; at least the peak the
        supervisor recorded (its services and brokers before a recycle or a restart included)."""
        out: dict[str, float] = {}
        for name, pid in self.pids().items():
            if pid:
                out[name] = round(tree_peak_rss_mb(int(pid)), 1)
        broker = self.state.get("broker_pid")
        if broker:
            out["broker"] = round(tree_peak_rss_mb(int(broker)), 1)
        try:
            doc = json.loads((self.home / "services.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return out
        recorded = {s["name"]: s.get("peak_rss_mb") or 0.0 for s in doc.get("services", [])}
        if broker:
            recorded["broker"] = doc.get("broker_peak_rss_mb") or 0.0
        return {name: max(value, float(recorded.get(name, 0.0))) for name, value in out.items()}

    def rss_mb(self) -> dict[str, float]:
        """VmRSS now of each live service process (the largest of its tree) and of the broker (MiB)."""
        out = {name: tree_rss_mb(int(pid)) for name, pid in self.pids().items() if pid}
        broker = self.state.get("broker_pid")
        if broker:
            out["broker"] = tree_rss_mb(int(broker))
        return out

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each live service process and its children have used so far, plus the
        broker's: the difference of two readings says which process a stage spent the machine's cores on."""
        out = {name: round(tree_cpu_seconds(int(pid)), 2) for name, pid in self.pids().items() if pid}
        broker = self.state.get("broker_pid")
        if broker:
            out["broker"] = round(tree_cpu_seconds(int(broker)), 2)
        return out

    def broker_cycles(self) -> dict[str, int]:
        """How often the supervisor restarted (crash) and recycled (memory limit) the embedded broker."""
        try:
            doc = json.loads((self.home / "services.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return {"restarts": int(doc.get("broker_restarts", 0)), "recycles": int(doc.get("broker_recycles", 0))}


def tree_rss_mb(pid: int) -> float:
    """The largest VmRSS among a process and its descendants now (MiB)."""
    return tree_peak_rss_mb(pid, "VmRSS:")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants (/proc/PID/stat utime, stime)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15 of stat)
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return total


def tree_peak_rss_mb(pid: int, field: str = "VmHWM:") -> float:
    """The largest VmHWM (or another /proc/PID/status field in kB) among a process and its descendants (MiB)."""
    best = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(field):
                    best = max(best, int(line.split()[1]) / 1024)
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(c) for c in children)
    return best
