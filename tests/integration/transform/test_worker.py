"""The Faust transform worker through the real broker: exact results, dead letters, crash recovery."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from turnpoint.core.kafka import make_producer
from turnpoint.core.serde import encode_items

from support.transform import Worker, assert_legs_equal, expected_legs, final_legs, market_messages, read_topic


def _produce(settings: Any, topic: str, messages: list[tuple[str, Any]]) -> None:
    producer = make_producer(settings)
    for key, value in messages:
        producer.produce(f"{settings.topic_prefix}{topic}", key=key.encode(),
                         value=value if isinstance(value, bytes) else encode_items(value))
        producer.poll(0)
    assert producer.flush(30) == 0


def test_market_file_through_the_broker_equals_conformance(
    kafka_settings: Any, transform_worker: Worker, conformance_dir: Path
) -> None:
    transform_worker.start()
    _produce(kafka_settings, "turnpoint.bars.v1", [*market_messages(conformance_dir / "market.csv"),
                                                    ("BAD", b"{not json")])
    expected = expected_legs(conformance_dir / "expected_legs_theta0.csv")
    legs_topic = f"{kafka_settings.topic_prefix}turnpoint.legs.v1"
    items = read_topic(kafka_settings.bootstrap_servers, legs_topic, lambda xs: len(final_legs(xs)) >= len(expected))
    assert_legs_equal(final_legs(items), expected)
    dead = read_topic(kafka_settings.bootstrap_servers, f"{kafka_settings.topic_prefix}turnpoint.dlq.bars.v1",
                      lambda xs: len(xs) >= 1)
    assert [d["reason"] for d in dead] == ["unparseable"]
    assert dead[0]["payload"] == "{not json" and dead[0]["key"] == "BAD"


def test_readings_statistics_through_the_broker_equal_conformance(
    kafka_settings: Any, transform_worker: Worker, conformance_dir: Path
) -> None:
    transform_worker.start()
    with (conformance_dir / "readings.csv").open() as f:
        rows = list(csv.DictReader(f))
    _produce(kafka_settings, "turnpoint.readings.v1",
             [(r["series"], [{"series": r["series"], "ts": r["ts"], "value": float(r["value"])}]) for r in rows])
    with (conformance_dir / "expected_stats_seoul.csv").open() as f:
        expected = {(r["series"], r["period"], r["start"], r["weekday"]): r for r in csv.DictReader(f)}
    stats_topic = f"{kafka_settings.topic_prefix}turnpoint.stats.v1"

    def latest(items: list[dict[str, Any]]) -> dict[tuple[str, ...], dict[str, Any]]:
        return {(i["series"], i["period"], i["start"], "" if i["weekday"] is None else str(i["weekday"])): i for i in items}

    def complete(items: list[dict[str, Any]]) -> bool:
        got = latest(items)
        return all(k in got and got[k]["count"] == int(r["count"]) for k, r in expected.items())

    got = latest(read_topic(kafka_settings.bootstrap_servers, stats_topic, complete, timeout=120))
    assert got.keys() == expected.keys()
    for key, row in expected.items():
        for col in ("mean", "std", "min", "max"):
            assert got[key][col] == pytest.approx(float(row[col]), rel=1e-9, abs=1e-12), (key, col)


def test_sigkill_and_restart_gives_the_same_result(
    kafka_settings: Any, transform_worker: Worker, conformance_dir: Path
) -> None:
    """A worker killed with SIGKILL mid-stream and restarted recovers its tables from the changelog."""
    messages = market_messages(conformance_dir / "market.csv", per_message=10)
    half = len(messages) // 2
    legs_topic = f"{kafka_settings.topic_prefix}turnpoint.legs.v1"
    transform_worker.start()
    _produce(kafka_settings, "turnpoint.bars.v1", messages[:half])
    read_topic(kafka_settings.bootstrap_servers, legs_topic, lambda xs: len(xs) > 500, quiet=0.0)
    transform_worker.kill()
    _produce(kafka_settings, "turnpoint.bars.v1", messages[half:])
    transform_worker.start()
    expected = expected_legs(conformance_dir / "expected_legs_theta0.csv")
    try:
        items = read_topic(kafka_settings.bootstrap_servers, legs_topic,
                           lambda xs: final_legs(xs).keys() == expected.keys(), timeout=240)
    except AssertionError:
        got = final_legs(read_topic(kafka_settings.bootstrap_servers, legs_topic, lambda xs: True, timeout=30))
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        log = transform_worker.log.read_text()[-4000:]
        pytest.fail(f"after the restart: {len(missing)} legs missing {missing[:5]}, {len(extra)} extra {extra[:5]};"
                    f" worker log tail:\n{log}")
    assert_legs_equal(final_legs(items), expected)
    states = read_topic(kafka_settings.bootstrap_servers, f"{kafka_settings.topic_prefix}turnpoint.rebound-states.v1",
                        lambda xs: len(xs) > 0)
    last = {(s["symbol"], s["gtype"]): s for s in states}
    with (conformance_dir / "market.csv").open() as f:
        final_dates: dict[str, str] = {}
        for r in csv.DictReader(f):
            final_dates[r["symbol"]] = max(final_dates.get(r["symbol"], ""), r["date"])
    assert {k[0]: v["last_date"] for k, v in last.items()} == final_dates


def test_the_worker_pages_are_liveness_readiness_and_problems(transform_worker: Worker) -> None:
    import httpx

    transform_worker.start()  # returns once /readyz answers 200
    base = f"http://127.0.0.1:{transform_worker.port}"
    live = httpx.get(f"{base}/healthz", timeout=5)
    assert live.status_code == 200 and live.json()["status"] == "ok"
    missing = httpx.get(f"{base}/nothing", timeout=5)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["status"] == 404 and missing.json()["instance"] == "/nothing"
