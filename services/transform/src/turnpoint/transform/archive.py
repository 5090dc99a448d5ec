"""Per-symbol bar archive in the state store, chunked by calendar year.

The rebound state keeps only a bounded tail of recent bars. A revision older than that tail (the
conformance vectors have revisions 300 bars back) is applied exactly by rebuilding the symbol from this
archive. Chunks are packed doubles (`date ordinal, open, high, low, close, volume` per bar), and only the
years a batch touches are rewritten, so the changelog carries about one year-chunk per symbol per batch.

The archive is most of the worker's memory (48 bytes a bar: 240 MB for 5M bars) and grows with the history,
so a closed year (any year before the symbol's latest) is stored zlib-compressed: about a third of its size
on market prices, written once when the next year begins and read back when a batch crosses into it or revises one of
its dates, and by a rebuild. The current year stays plain, as it is rewritten by every batch. Both forms are read: a compressed chunk starts with `Z`,
which a plain chunk never does (its first byte is the low byte of an integral date ordinal as a double,
always 0), so archives written before compression are read as they are.
"""

from __future__ import annotations

import zlib
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Sequence

import numpy as np
import orjson

from turnpoint.transform.processing import StateStore

BarValues = tuple[float, float, float, float, float]
_WIDTH = 6
_COMPRESSED = b"Z"
_LEVEL = 1  # zlib's fastest: ~0.1 ms a year-chunk, a third of its size; higher levels gain ~5 % more


def encode_chunk(flat: bytes, *, closed: bool) -> bytes:
    """A year-chunk's stored form: the packed doubles, compressed when the year is closed."""
    return _COMPRESSED + zlib.compress(flat, _LEVEL) if closed else flat


def decode_chunk(raw: bytes) -> bytes:
    """The packed doubles of a stored year-chunk, either form."""
    return zlib.decompress(raw[1:]) if raw[:1] == _COMPRESSED else raw


def _key(symbol: str, suffix: str) -> str:
    return f"{symbol}\x1f{suffix}"


class BarArchive:
    """Every final bar of one symbol, by date ordinal, loaded lazily per year."""

    def __init__(self, symbol: str, store: StateStore) -> None:
        self.symbol = symbol
        self.store = store
        raw = store.get(_key(symbol, "years"))
        self.years: list[int] = orjson.loads(raw) if raw else []
        self._chunks: dict[int, dict[int, BarValues]] = {}
        self._dirty: set[int] = set()

    def _chunk(self, year: int) -> dict[int, BarValues]:
        chunk = self._chunks.get(year)
        if chunk is None:
            raw = self.store.get(_key(self.symbol, str(year))) if year in self.years else None
            flat = array("d", decode_chunk(raw) if raw else b"")
            chunk = {
                int(flat[i]): (flat[i + 1], flat[i + 2], flat[i + 3], flat[i + 4], flat[i + 5])
                for i in range(0, len(flat), _WIDTH)
            }
            self._chunks[year] = chunk
        return chunk

    def put(self, ordinal: int, year: int, values: BarValues) -> None:
        chunk = self._chunk(year)
        if chunk.get(ordinal) != values:
            chunk[ordinal] = values
            self._dirty.add(year)

    def put_sorted(self, ordinals: Sequence[int], years: Sequence[int], values: Sequence[BarValues]) -> None:
        """`put` of many bars at once, in ascending date order (so years never decrease)."""
        i, n = 0, len(ordinals)
        while i < n:
            year = years[i]
            j = bisect_right(years, year, i)
            chunk = self._chunk(year)
            new = dict(zip(ordinals[i:j], values[i:j], strict=True))
            if chunk.keys().isdisjoint(new):
                chunk.update(new)
                self._dirty.add(year)
            else:
                for ordinal, bar in new.items():
                    self.put(ordinal, year, bar)
            i = j

    def all_bars(self) -> dict[int, BarValues]:
        out: dict[int, BarValues] = {}
        for year in self.years:
            out.update(self._chunk(year))
        for year in self._dirty:
            out.update(self._chunk(year))
        return out

    def flush(self, partition: int) -> None:
        """Write the chunks that changed (and the list of years when it grew).

        A year that the batch closed (a later year began) is rewritten compressed even when no bar of it
        changed; every other year before the latest is written compressed too, the latest plain.
        """
        if not self._dirty:
            return
        latest_before = self.years[-1] if self.years else None
        years = sorted(set(self.years) | self._dirty)
        latest = years[-1]
        rewrite = set(self._dirty)
        if latest_before is not None and latest_before < latest:
            rewrite.add(latest_before)
        for year in sorted(rewrite):
            chunk = self._chunk(year)
            ordinals = sorted(chunk)
            # rows of (ordinal, open, high, low, close, volume) as native doubles: array("d") bytes
            flat = np.empty((len(ordinals), _WIDTH))
            flat[:, 0] = ordinals
            flat[:, 1:] = np.array(list(map(chunk.__getitem__, ordinals))).reshape(-1, _WIDTH - 1)
            self.store.put(_key(self.symbol, str(year)), encode_chunk(flat.tobytes(), closed=year < latest), partition)
        if years != self.years:
            self.years = years
            self.store.put(_key(self.symbol, "years"), orjson.dumps(years), partition)
        self._dirty.clear()


def sorted_bars(bars: dict[int, BarValues]) -> Iterable[tuple[int, BarValues]]:
    return sorted(bars.items())
