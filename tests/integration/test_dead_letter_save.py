"""A recycle (and `dev down`) copies the broker's dead letters to files before the broker goes (real broker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from turnpoint.cli.recycle import save_dead_letters
from turnpoint.core import topics

pytestmark = pytest.mark.integration


def test_every_dead_letter_is_saved_once_with_its_bytes_and_headers(kafka_settings: Any, tmp_path: Path) -> None:
    names = topics.Names(kafka_settings.topic_prefix)
    bars_dlq, loader_dlq = names.dead_letter(topics.BARS), names.topic(topics.LOADER_DLQ)
    producer = Producer({"bootstrap.servers": kafka_settings.bootstrap_servers})
    for i in range(30):
        producer.produce(bars_dlq, key=f"S{i}", value=b'{"reason": "bad close"}', partition=i % 2,
                         headers=[("dlq.reason", b"invalid"), ("raw", b"\xff\xfe")])
    producer.produce(loader_dlq, key=None, value=b"\xff\x00 not text", partition=1)
    assert producer.flush(30) == 0

    saved = save_dead_letters(kafka_settings, tmp_path, broker="4242")
    assert saved == {bars_dlq: 30, loader_dlq: 1}
    bars = [json.loads(line) for line in (tmp_path / f"{bars_dlq}.jsonl").read_text().splitlines()]
    assert sorted(d["key"] for d in bars) == sorted(f"S{i}" for i in range(30))
    assert {(d["partition"], d["offset"]) for d in bars} == {(p, o) for p in (0, 1) for o in range(15)}
    first = bars[0]
    assert first["value"] == '{"reason": "bad close"}' and first["broker"] == "4242" and first["topic"] == bars_dlq
    assert first["headers"] == [["dlq.reason", {"v": "invalid"}], ["raw", {"v_base64": "//4="}]]
    (loader,) = [json.loads(line) for line in (tmp_path / f"{loader_dlq}.jsonl").read_text().splitlines()]
    assert loader["value_base64"] == "/wAgbm90IHRleHQ=" and loader["key"] is None

