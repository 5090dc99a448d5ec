"""When the supervisor recycles the embedded broker (`BrokerWatch.over_limit`), and its memory readings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from turnpoint.cli.recycle import BrokerLimits, SupervisorSettings, rss_mb, tree_peak_rss_mb
from turnpoint.cli.supervisor import BrokerWatch

pytestmark = pytest.mark.unit


def _watch(tmp_path: Path, **limits: float) -> BrokerWatch:
    (tmp_path / "stack.json").write_text(json.dumps({"broker_pid": os.getpid(), "bootstrap": "127.0.0.1:1"}))
    return BrokerWatch(tmp_path, BrokerLimits(**limits))


def test_recycles_past_the_limit_only(tmp_path: Path) -> None:
    watch = _watch(tmp_path, max_rss_mb=100, recycle_interval_seconds=0)
    watch.rss_mb = 99.0
    assert not watch.over_limit()
    watch.rss_mb = 101.0
    assert watch.over_limit()


def test_a_limit_of_zero_never_recycles(tmp_path: Path) -> None:
    watch = _watch(tmp_path, max_rss_mb=0, recycle_interval_seconds=0)
    watch.rss_mb = 1e6
    assert not watch.over_limit()


def test_no_recycle_while_the_last_one_settles_nor_within_the_interval(tmp_path: Path) -> None:
    watch = _watch(tmp_path, max_rss_mb=100, recycle_interval_seconds=3600)
    watch.rss_mb = 500.0
    watch.settling_since = 0.0
    assert not watch.over_limit()
    watch.settling_since = None
    import time

    watch.last_recycle = time.monotonic()
    assert not watch.over_limit()


def test_a_floor_above_the_limit_needs_a_quarter_of_the_limit_more(tmp_path: Path) -> None:
    """A history that alone exceeds the limit must not make the broker recycle in a loop."""
    watch = _watch(tmp_path, max_rss_mb=100, recycle_interval_seconds=0)
    watch.floor_mb = 150.0
    watch.rss_mb = 170.0
    assert not watch.over_limit()
    watch.rss_mb = 176.0
    assert watch.over_limit()
    watch.floor_mb = 20.0  # a floor well below the limit leaves the limit as it is
    watch.rss_mb = 101.0
    assert watch.over_limit()


def test_describe_reports_memory_and_counts(tmp_path: Path) -> None:
    watch = _watch(tmp_path, max_rss_mb=100)
    watch.sample()
    doc = watch.describe()
    assert doc["broker_rss_mb"] > 1 and doc["broker_peak_rss_mb"] >= doc["broker_rss_mb"] * 0.5
    assert doc["broker_recycles"] == 0 and doc["broker_restarts"] == 0 and doc["broker_max_rss_mb"] == 100


def test_memory_of_a_process_and_of_one_that_is_gone() -> None:
    mine = rss_mb(os.getpid())
    assert mine is not None and mine > 1
    assert tree_peak_rss_mb(os.getpid()) >= mine * 0.5
    assert rss_mb(None) is None and tree_peak_rss_mb(None) == 0.0
    assert rss_mb(2**22 + 12345) is None  # above pid_max's default: no such process


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNPOINT_BROKER__MAX_RSS_MB", "512")
    monkeypatch.setenv("TURNPOINT_BROKER__DRAIN_SECONDS", "5")
    limits = SupervisorSettings().broker
    assert limits.max_rss_mb == 512 and limits.drain_seconds == 5
    monkeypatch.setenv("TURNPOINT_BROKER__MAX_RSS_MB", "-1")
    with pytest.raises(ValueError, match="max_rss_mb"):
        SupervisorSettings()


def test_the_bound_is_on_by_default_a_quarter_of_the_memory_within_512_and_3072() -> None:
    from turnpoint.cli.recycle import default_limit_mb

    assert default_limit_mb(24 * 1024) == 3072  # 12 GB and more: the target is a broker under 3 GB
    assert default_limit_mb(8 * 1024) == 2048
    assert default_limit_mb(4 * 1024) == 1024
    assert default_limit_mb(1024) == 512  # never below the floor
    assert default_limit_mb(None) == 3072
    assert 512 <= BrokerLimits().limit_mb() <= 3072
    assert BrokerLimits(max_rss_mb=0).limit_mb() == 0 and BrokerLimits(max_rss_mb=60).limit_mb() == 60
