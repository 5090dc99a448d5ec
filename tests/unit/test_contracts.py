"""Record contracts: strict validation and envelope round trips."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from turnpoint.core.contracts import Bar, Reading
from turnpoint.core.errors import InvalidRecord
from turnpoint.core.serde import decode_items, encode_items


def test_reading_requires_offset() -> None:
    with pytest.raises(InvalidRecord, match="offset"):
        decode_items(Reading, orjson.dumps({"v": 1, "items": [{"series": "s", "ts": "2025-01-01T00:00:00", "value": 1}]}))


def test_reading_normalised_to_utc() -> None:
    [r] = decode_items(Reading, orjson.dumps({"v": 1, "items": [{"series": "a/b", "ts": "2025-01-01T09:00:00+09:00", "value": 1.5}]}))
    assert r.ts == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("bar", "reason"),
    [
        ({"open": 0, "high": 2, "low": 1, "close": 1}, "greater than 0"),
        ({"open": 1, "high": 1, "low": 2, "close": 1}, "high 1.0 < low 2.0"),
        ({"open": 1, "high": 2, "low": 1, "close": 1, "extra": 3}, "Extra inputs"),
    ],
)
def test_bad_bars_rejected(bar: dict[str, float], reason: str) -> None:
    doc = {"v": 1, "items": [{"symbol": "X", "date": "2024-01-02", **bar}]}
    with pytest.raises(InvalidRecord, match=reason):
        decode_items(Bar, orjson.dumps(doc))


@pytest.mark.parametrize("raw", [b"{", b"[]", b'{"v": 2, "items": []}', b'{"v": 1, "items": 3}', None])
def test_bad_envelopes(raw: bytes | None) -> None:
    with pytest.raises(InvalidRecord):
        decode_items(Bar, raw)


def test_round_trip() -> None:
    bar = Bar(symbol="AAPL", date=dt.date(2024, 1, 2), open=1, high=2, low=0.5, close=1.5, volume=3)
    assert decode_items(Bar, encode_items([bar, bar])) == [bar, bar]
