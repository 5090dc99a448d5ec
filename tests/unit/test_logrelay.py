"""The broker's plain-text output becomes ECS lines: its own time, level and module kept, nothing dropped."""

from __future__ import annotations

import io

import orjson

from turnpoint.cli.logrelay import ecs_document, relay

TANSU_ERROR = (b"\x1b[2m2026-12-01T23:00:56.119685Z\x1b[0m \x1b[31mERROR\x1b[0m \x1b[2mtansu_service::stream\x1b[0m"
               b"\x1b[2m:\x1b[0m \x1b[2m359:\x1b[0m \x1b[3merr\x1b[0m\x1b[2m=\x1b[0mOs { code: 32, kind: BrokenPipe }")


def test_a_coloured_tracing_line_keeps_its_time_level_module_and_line() -> None:
    doc = ecs_document("turnpoint-broker", TANSU_ERROR)
    assert doc["@timestamp"] == "2026-12-01T23:00:56.119Z"
    assert doc["log.level"] == "error"
    assert doc["log.logger"] == "tansu_service::stream"
    assert doc["log.origin"] == {"file": {"line": 359}}
    assert doc["message"] == "err=Os { code: 32, kind: BrokenPipe }"
    assert doc["service"] == {"name": "turnpoint-broker"}


def test_a_warning_without_a_line_number() -> None:
    doc = ecs_document("b", b"2026-12-01T23:00:56Z  WARN tansu_broker::coordinator: member left")
    assert (doc["log.level"], doc["log.logger"], doc["message"]) == ("warning", "tansu_broker::coordinator",
                                                                      "member left")
    assert doc["@timestamp"] == "2026-12-01T23:00:56.000Z"
    assert "log.origin" not in doc


def test_a_line_in_no_known_format_is_kept_whole() -> None:
    raw = "thread 'main' panicked at src/lib.rs:10:5: \xff oops".encode("latin-1")
    doc = ecs_document("b", raw)
    assert doc["message"] == "thread 'main' panicked at src/lib.rs:10:5: \ufffd oops"
    assert doc["log.level"] == "info"
    assert doc["@timestamp"].endswith("Z")


def test_relay_writes_one_json_line_per_non_blank_input_line() -> None:
    sink = io.BytesIO()
    count = relay("b", io.BytesIO(TANSU_ERROR + b"\n\n  \nplain words\r\n"), sink)
    lines = sink.getvalue().splitlines()
    assert count == len(lines) == 2
    assert [orjson.loads(line)["message"] for line in lines][1] == "plain words"
