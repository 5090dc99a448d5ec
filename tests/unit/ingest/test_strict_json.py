"""Duplicate keys in a write-API body are refused (422), whichever value a parser would keep (issue 15)."""

from __future__ import annotations

import orjson
import pytest

from turnpoint.core.contracts import Reading
from turnpoint.core.strictjson import duplicate_key
from turnpoint.ingest.write_api.app import parse_records
from turnpoint.ingest.write_api.problems import Problem

GOOD = {"series": "plant/1", "ts": "2025-01-01T00:00:00Z", "value": 1.0}


@pytest.mark.parametrize(("text", "key"), [
    (b'{"series": "a", "series": "b", "ts": "2025-01-01T00:00:00Z", "value": 1}', "series"),
    (b'[{"a": 1}, {"b": 1, "c": 2, "b": 3}]', "b"),
    (b'{"items": [{"x": 1}], "items": []}', "items"),
    (b'{"a": 1, "\\u0061": 2}', "a"),  # the same name, escaped
    (b'{"a": {"b": 1, "b": 1}}', "b"),
    (b'[{"a": 1}, {"a": 2}]', None),  # the same key in two objects is fine
    (b'{"a": 1, "A": 2}', None),
    (b"[" * 2000 + b"]" * 2000, None),  # nested past the standard library's depth: no record, no crash
])
def test_duplicate_key_finds_the_first_name_used_twice_in_one_object(text: bytes, key: str | None) -> None:
    assert duplicate_key(text) == key


def test_a_body_with_a_duplicate_key_is_422_and_one_without_is_validated() -> None:
    body = orjson.dumps([GOOD])[:-2] + b', "series": "plant/2"}]'
    assert orjson.loads(body)[0]["series"] == "plant/2"  # orjson alone keeps the last one
    with pytest.raises(Problem) as refused:
        parse_records(body, Reading, 100)
    assert refused.value.status == 422 and "'series' appears twice" in refused.value.detail
    assert parse_records(orjson.dumps([GOOD, {**GOOD, "series": "plant/2"}]), Reading, 100)[1]["series"] == "plant/2"


def test_a_body_nested_too_deep_is_422_not_500() -> None:
    with pytest.raises(Problem) as refused:
        parse_records(b"[" * 1000 + b"]" * 1000, Reading, 100)
    assert refused.value.status == 422
