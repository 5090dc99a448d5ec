"""Helpers shared by the benchmarks: an embedded broker, worker processes, lag and memory readings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def broker() -> Iterator[str]:
    """Bootstrap servers: `TURNPOINT_TEST_KAFKA`, else an embedded Tansu for the benchmark's lifetime."""
    external = os.environ.get("TURNPOINT_TEST_KAFKA")
    if external:
        yield external
        return
    from turnpoint.cli.embedded import free_port, start_broker, stop_pid

    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-broker-{uuid.uuid4().hex[:6]}.log"
    handle = start_broker(free_port(), log)
    try:
        yield handle.bootstrap
    finally:
        stop_pid(handle.pid)


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_lag_zero(bootstrap: str, group: str, topic_names: list[str], timeout: float, proc: Any = None) -> float:
    """Block until `group` has committed every message of `topic_names`; return the monotonic time of the
    check that saw it.

    One client for the whole wait. The partitions' ends are read (`end_offsets`: a read of each last batch,
    ~0.2 s) at the start, and again once the commits reached them, in case records came meanwhile; in
    between the group's commits are asked every 20 ms (one OffsetFetch each). A fresh client per check,
    as before, took ~0.4 s a check and put up to 0.65 s of the benchmark's own into every figure.
    """
    from confluent_kafka import Consumer, TopicPartition

    from turnpoint.core.kafka import committed_offsets, end_offsets
    from turnpoint.core.settings import KafkaSettings

    settings = KafkaSettings(bootstrap_servers=bootstrap)
    consumer = Consumer({**settings.client_config(), "group.id": group, "enable.auto.commit": False,
                         "fetch.wait.max.ms": 10})
    deadline = time.monotonic() + timeout
    try:
        md = consumer.list_topics(timeout=10)
        tps = [TopicPartition(t, p) for t in topic_names if t in md.topics for p in md.topics[t].partitions]
        ends = end_offsets(consumer, tps)
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                msg = f"worker exited with {proc.returncode}"
                raise RuntimeError(msg)
            committed = committed_offsets(consumer, ends)
            if all((committed[tp] or 0) >= end for tp, end in ends.items()):
                seen = time.monotonic()
                again = end_offsets(consumer, tps)
                if again == ends:
                    return seen
                ends = again
                continue
            time.sleep(0.02)
    finally:
        consumer.close()
    msg = f"group {group} still lagging after {timeout:.0f}s"
    raise TimeoutError(msg)


def percentile(xs: list[float], q: float) -> float:
    """The q-quantile of xs by rank (no interpolation); NaN for no samples."""
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def final_line(bench: str, throughput: float, unit: str, baseline_name: str, baseline: float, **extra: Any) -> None:
    doc = {"bench": bench, "throughput": round(throughput, 1), "unit": unit, "baseline_name": baseline_name,
           "baseline": round(baseline, 1), "ratio": round(throughput / baseline, 2) if baseline else None, **extra}
    print(json.dumps(doc), flush=True)


def python() -> str:
    return sys.executable
