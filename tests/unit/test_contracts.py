"""Record contracts: strict validation and envelope round trips."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from turnpoint.core.contracts import CAMERA_MAX, COUNT_SERIES, Bar, Count, Reading
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


BAR = {"symbol": "X", "open": 1, "high": 2, "low": 1, "close": 1}


@pytest.mark.parametrize("date", ["9999-12-31", "0999-12-31", "3000-01-01", "0001-01-01"])
def test_dates_outside_the_years_1000_to_2999_are_refused(date: str) -> None:
    with pytest.raises(InvalidRecord, match="outside the years 1000-2999"):
        decode_items(Bar, orjson.dumps({"v": 1, "items": [{**BAR, "date": date}]}))


@pytest.mark.parametrize("date", ["1000-01-01", "2999-12-31", "1700-03-01"])
def test_dates_at_the_ends_of_the_range_are_accepted(date: str) -> None:
    [bar] = decode_items(Bar, orjson.dumps({"v": 1, "items": [{**BAR, "date": date}]}))
    assert bar.date.isoformat() == date


@pytest.mark.parametrize("ts", ["9999-12-31T00:00:00Z", "0001-01-01T00:00:00+01:00", "0999-12-31T23:59:59Z",
                                "2999-12-31T23:00:00-02:00", "1000-01-01T00:30:00+01:00"])
def test_instants_outside_the_years_are_refused(ts: str) -> None:
    with pytest.raises(InvalidRecord, match="outside the years 1000-2999"):
        decode_items(Reading, orjson.dumps({"v": 1, "items": [{"series": "s", "ts": ts, "value": 1}]}))


@pytest.mark.parametrize("value", ["1.5", True, False, None, [1]])
def test_json_numbers_are_strict(value: object) -> None:
    with pytest.raises(InvalidRecord, match="value"):
        decode_items(Reading, orjson.dumps({"v": 1, "items": [{"series": "s", "ts": "2024-01-01T00:00:00Z",
                                                               "value": value}]}))
    with pytest.raises(InvalidRecord, match="close"):
        decode_items(Bar, orjson.dumps({"v": 1, "items": [{**BAR, "date": "2024-01-02", "close": value}]}))


@pytest.mark.parametrize("people", ["3", True, 3.0, -1])
def test_counts_are_json_integers(people: object) -> None:
    count = {"camera": "gate", "period_start": "2024-01-01T00:00:00Z", "period_end": "2024-01-01T00:15:00Z",
             "people": people, "vehicle": 0}
    with pytest.raises(InvalidRecord, match="people"):
        decode_items(Count, orjson.dumps({"v": 1, "items": [count]}))


@pytest.mark.parametrize("series", ["a\x00b", "line\nbreak", "tab\t", "del\x7f", "c1\x85"])
def test_control_characters_are_refused(series: str) -> None:
    with pytest.raises(InvalidRecord, match="control character"):
        decode_items(Reading, orjson.dumps({"v": 1, "items": [{"series": series, "ts": "2024-01-01T00:00:00Z",
                                                               "value": 1}]}))
    with pytest.raises(InvalidRecord, match="control character"):
        decode_items(Reading, orjson.dumps({"v": 1, "items": [{"series": "s", "ts": "2024-01-01T00:00:00Z",
                                                               "value": 1, "unit": series}]}))


def test_a_camera_is_refused_when_its_derived_series_would_be_too_long() -> None:
    def count(camera: str) -> dict[str, object]:
        return {"camera": camera, "period_start": "2024-01-01T00:00:00Z", "period_end": "2024-01-01T00:15:00Z",
                "people": 1, "vehicle": 0}

    [ok] = decode_items(Count, orjson.dumps({"v": 1, "items": [count("c" * CAMERA_MAX)]}))
    for kind in COUNT_SERIES:  # both derived series are valid readings
        Reading(series=f"{ok.camera}/{kind}", ts="2024-01-01T00:00:00Z", value=1)
    with pytest.raises(InvalidRecord, match="camera"):
        decode_items(Count, orjson.dumps({"v": 1, "items": [count("c" * (CAMERA_MAX + 1))]}))
    with pytest.raises(InvalidRecord, match="camera"):
        decode_items(Count, orjson.dumps({"v": 1, "items": [count("c" * 200)]}))


def test_units_and_sources_are_bounded() -> None:
    base = {"series": "s", "ts": "2024-01-01T00:00:00Z", "value": 1}
    with pytest.raises(InvalidRecord, match="unit"):
        decode_items(Reading, orjson.dumps({"v": 1, "items": [{**base, "unit": '"' * 450_000}]}))
    with pytest.raises(InvalidRecord, match="source"):
        decode_items(Reading, orjson.dumps({"v": 1, "items": [{**base, "source": "s" * 201}]}))
