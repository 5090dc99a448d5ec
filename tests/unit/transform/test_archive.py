"""The per-symbol bar archive: closed years compressed, the latest plain, both forms read back exactly."""

from __future__ import annotations

import datetime as dt
import random
from array import array

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from turnpoint.transform.archive import BarArchive, decode_chunk, encode_chunk
from turnpoint.transform.processing import DictStore

BarValues = tuple[float, float, float, float, float]


def _bars(start: dt.date, n: int, seed: int) -> dict[dt.date, BarValues]:
    rng = random.Random(seed)
    out: dict[dt.date, BarValues] = {}
    day, price = start, 100.0
    while len(out) < n:
        if day.weekday() < 5:
            close = round(price * (1 + rng.gauss(0, 0.02)), 2)
            out[day] = (price, max(price, close) + 0.5, min(price, close) - 0.5, close, float(rng.randint(1, 10**6)))
            price = close
        day += dt.timedelta(days=1)
    return out


def _put_all(store: DictStore, bars: dict[dt.date, BarValues], batch: int) -> None:
    days = sorted(bars)
    for i in range(0, len(days), batch):
        archive = BarArchive("A", store)  # a fresh archive per batch, as the processor makes one
        part = days[i:i + batch]
        archive.put_sorted([d.toordinal() for d in part], [d.year for d in part], [bars[d] for d in part])
        archive.flush(0)


def _stored(store: DictStore, year: int) -> bytes:
    return store.data[f"A\x1f{year}"]


def test_closed_years_are_stored_compressed_and_the_latest_plain() -> None:
    store = DictStore()
    bars = _bars(dt.date(2019, 1, 2), 1400, seed=1)  # 2019 .. 2024
    _put_all(store, bars, batch=97)
    years = orjson.loads(store.data["A\x1fyears"])
    assert years == [2019, 2020, 2021, 2022, 2023, 2024]
    for year in years[:-1]:
        raw = _stored(store, year)
        assert raw[:1] == b"Z"
        plain = decode_chunk(raw)
        assert len(raw) < 0.6 * len(plain)  # market prices compress to well under two thirds
    latest = _stored(store, years[-1])
    assert latest[:1] != b"Z"
    assert len(latest) % 48 == 0
    expected = {d.toordinal(): v for d, v in bars.items()}
    assert BarArchive("A", store).all_bars() == expected


def test_a_year_closed_by_the_next_batch_is_rewritten_compressed() -> None:
    store = DictStore()
    first = _bars(dt.date(2023, 12, 1), 10, seed=2)  # December 2023 only: the latest year, plain
    _put_all(store, first, batch=100)
    assert _stored(store, 2023)[:1] != b"Z"
    later = {d: v for d, v in _bars(dt.date(2024, 1, 2), 3, seed=3).items()}
    _put_all(store, later, batch=100)  # no bar of 2023 changed, but 2023 is now closed
    assert _stored(store, 2023)[:1] == b"Z"
    assert _stored(store, 2024)[:1] != b"Z"
    assert BarArchive("A", store).all_bars() == {d.toordinal(): v for d, v in {**first, **later}.items()}


def test_revising_a_closed_year_keeps_it_compressed_and_exact() -> None:
    store = DictStore()
    bars = _bars(dt.date(2020, 1, 2), 600, seed=4)
    _put_all(store, bars, batch=250)
    day = sorted(d for d in bars if d.year == 2020)[17]
    revised: BarValues = (1.0, 2.0, 0.5, 1.5, 42.0)
    archive = BarArchive("A", store)
    archive.put(day.toordinal(), day.year, revised)
    archive.flush(0)
    assert _stored(store, 2020)[:1] == b"Z"
    assert BarArchive("A", store).all_bars()[day.toordinal()] == revised


def test_archives_written_before_compression_are_read_as_they_are() -> None:
    store = DictStore()
    bars = _bars(dt.date(2021, 1, 4), 300, seed=5)
    for year in (2021, 2022):
        rows = [(d.toordinal(), *v) for d, v in sorted(bars.items()) if d.year == year]
        store.data[f"A\x1f{year}"] = array("d", [x for row in rows for x in row]).tobytes()  # the old plain form
    store.data["A\x1fyears"] = orjson.dumps([2021, 2022])
    assert BarArchive("A", store).all_bars() == {d.toordinal(): v for d, v in bars.items()}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3_000_000), st.floats(allow_nan=False), st.floats(allow_nan=True),
                          st.floats(), st.floats(), st.floats()), max_size=400))
def test_encode_decode_round_trips_every_chunk_bit_for_bit(rows: list[tuple[float, ...]]) -> None:
    flat = np.array(rows, dtype=float).reshape(-1, 6).tobytes()
    for closed in (False, True):
        stored = encode_chunk(flat, closed=closed)
        assert decode_chunk(stored) == flat
        assert (stored[:1] == b"Z") == closed
    # a plain chunk never starts with the compressed marker: its first byte is the low byte of an integral
    # ordinal as a double
    if rows:
        assert flat[:1] != b"Z"
