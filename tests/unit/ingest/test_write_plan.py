"""The write API sizes every message before producing: envelopes equal `encode_items`, none too large."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from turnpoint.core.serde import encode_items
from turnpoint.ingest.settings import IngestSettings
from turnpoint.ingest.write_api.plan import envelope, plan_messages
from turnpoint.ingest.write_api.problems import Problem


def _reading(series: str, i: int, source: str | None = None) -> dict[str, object]:
    return {"series": series, "ts": f"2024-01-01T00:00:{i % 60:02d}Z", "value": float(i), "unit": None,
            "source": source}


def test_envelopes_are_the_bytes_encode_items_writes() -> None:
    items = [_reading("a/b", i) for i in range(3)]
    assert envelope([orjson.dumps(i) for i in items]) == encode_items(items)


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 150)), min_size=1, max_size=60),
       batch=st.integers(1, 7), max_bytes=st.integers(1024, 4096))
def test_messages_hold_every_record_once_in_order_within_both_limits(sizes: list[tuple[str, int]], batch: int,
                                                                     max_bytes: int) -> None:
    records = [_reading(s, i, "x" * n) for i, (s, n) in enumerate(sizes)]
    messages = plan_messages(records, "series", batch, max_bytes)
    for m in messages:
        items = orjson.loads(m.value)["items"]
        assert len(m.value) + len(m.key) <= max_bytes and 1 <= len(items) <= batch and m.items == len(items)
        assert {i["series"] for i in items} == {m.key}
    for key in {s for s, _ in sizes}:
        sent = [i for m in messages if m.key == key for i in orjson.loads(m.value)["items"]]
        assert sent == [r for r in records if r["series"] == key]


def test_a_record_too_large_for_any_message_is_413_naming_its_index() -> None:
    records = [_reading("a", i) for i in range(10)] + [_reading("a", 10, "€" * 400)]
    with pytest.raises(Problem) as err:
        plan_messages(records, "series", 500, 1024)
    assert err.value.status == 413 and err.value.extra["index"] == 10
    assert "record 10" in err.value.detail


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_drop_dir_turns_the_drop_folder_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TURNPOINT_INGEST__DROP_DIR", value)
    assert IngestSettings().ingest.drop_dir is None
    monkeypatch.setenv("TURNPOINT_INGEST__DROP_DIR", "drop")
    assert str(IngestSettings().ingest.drop_dir) == "drop"
