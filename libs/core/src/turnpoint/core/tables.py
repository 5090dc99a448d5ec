"""Whole market and readings files as columns: the rows of :mod:`turnpoint.core.formats`, without a dict each.

The batch commands read whole files, so they take them a column at a time: every distinct symbol, date,
series and timestamp text is checked once by the row layer's own functions (:mod:`turnpoint.core.rows`),
and the numbers of a column are converted with one ``map(float, ...)`` and checked with numpy. That fast
path takes only files in which every row is well formed; as soon as anything is unusual (a short or blank
row, a bad value, thousands separators, an empty volume) the file is read again row by row through
:func:`~turnpoint.core.formats.read_bars` / :func:`~turnpoint.core.formats.read_readings`, which also
produce the rejections with their line numbers. Either way the table holds exactly the values those
readers accept (`tests/unit/test_rows_contract.py` checks it with hypothesis).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from turnpoint.core.errors import InputFileError
from turnpoint.core.formats import (
    CsvSource,
    Rejected,
    market_columns,
    read_bars,
    read_readings,
    reading_columns,
)
from turnpoint.core.rows import RowError, check_series, check_symbol, check_unit, parse_date, parse_instant

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)
F64 = npt.NDArray[np.float64]


@dataclass(slots=True)
class BarTable:
    """Accepted bars in file order, column by column; ``rejected`` holds the refused rows with their lines."""

    symbol: list[str] = field(default_factory=list)
    day: list[int] = field(default_factory=list)  # date ordinals
    open: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    close: list[float] = field(default_factory=list)
    volume: list[float] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def read(self) -> int:
        """Data rows read (blank lines excluded): accepted plus rejected."""
        return len(self.day) + len(self.rejected)


@dataclass(slots=True)
class ReadingTable:
    """Accepted readings in file order: series, instants as epoch microseconds (UTC), values."""

    series: list[str] = field(default_factory=list)
    micros: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def read(self) -> int:
        return len(self.micros) + len(self.rejected)


def micros(ts: dt.datetime) -> int:
    """Epoch microseconds of an aware datetime."""
    return (ts - _EPOCH) // _US


def read_bar_table(path: Path, symbol: str | None = None) -> BarTable:
    """Every bar of a market file (any dialect `turnpoint ingest market` reads) as columns."""
    with _decoding(path):
        table = _fast_bars(path, symbol)
        if table is not None:
            return table
        table = BarTable()
        for row in read_bars(path, symbol):
            if isinstance(row, Rejected):
                table.rejected.append(row)
                continue
            table.symbol.append(row["symbol"])
            table.day.append(dt.date.fromisoformat(row["date"]).toordinal())
            table.open.append(row["open"])
            table.high.append(row["high"])
            table.low.append(row["low"])
            table.close.append(row["close"])
            table.volume.append(row["volume"])
        return table


def read_reading_table(path: Path) -> ReadingTable:
    """Every reading of a sensor log (series,ts,value[,unit]) as columns."""
    with _decoding(path):
        table = _fast_readings(path)
        if table is not None:
            return table
        table = ReadingTable()
        for row in read_readings(path):
            if isinstance(row, Rejected):
                table.rejected.append(row)
                continue
            table.series.append(row["series"])
            table.micros.append(micros(parse_instant(row["ts"])))
            table.value.append(row["value"])
        return table


class _decoding:
    """Turns a decoding error deep in a file into the file's refusal, with the byte offset."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, UnicodeDecodeError):
            msg = f"{self.path}: not UTF-8 or CP949 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
            raise InputFileError(msg) from None
        if isinstance(exc, IsADirectoryError | PermissionError):
            msg = f"{self.path}: cannot read: {exc.strerror or exc}"
            raise InputFileError(msg) from None


_NOT_PLAIN = "\x1c\x1d\x1e\x1f"
"""The characters on which numpy's text reader and ``float`` disagree: numpy strips them around a number,
``float`` refuses them (`tests/unit/test_rows_contract.py` fails without this check)."""


def _text(src: CsvSource) -> str | None:
    return src._fh.read() if src.line == 1 else None


def _plain(text: str | None) -> tuple[str, list[str], int] | None:
    """The body, its lines and its width when it is plain: no quote, no carriage return, every line with
    the same number of fields (what the csv module splits exactly as ``str.split`` does), not empty."""
    if text is None or '"' in text or "\r" in text:
        return None
    body = text[:-1] if text.endswith("\n") else text
    if not body:
        return None
    lines = body.split("\n")
    commas = set(map(str.count, lines, repeat(",", len(lines))))
    return (body, lines, commas.pop() + 1) if len(commas) == 1 else None


def _numpy_columns(body: str, lines: list[str], texts: Sequence[int], numbers: Sequence[int]
                   ) -> tuple[list[list[str]], Any] | None:
    """A plain body's ``texts`` columns (lists) and ``numbers`` columns (float64 rows), parsed by
    numpy's C reader, or None when a number is not one numpy reads exactly as ``float`` does (then the
    caller splits the body in Python). Nothing else differs: the body is plain, and the characters on
    which numpy and ``float`` disagree (:data:`_NOT_PLAIN`) send it back too; numpy refuses ``1_000`` and
    non-ASCII digits, which ``float`` takes, so those files are split in Python. Strings keep every
    character (``StringDType``: no padding, no stripping). `tests/unit/test_rows_contract.py` compares
    the two paths."""
    if any(ch in body for ch in _NOT_PLAIN):
        return None
    try:
        strings = np.loadtxt(lines, dtype=np.dtypes.StringDType(), delimiter=",", comments=None,
                             quotechar=None, usecols=texts, ndmin=2, unpack=True)
        values = np.loadtxt(lines, dtype=np.float64, delimiter=",", comments=None, quotechar=None,
                            usecols=numbers, ndmin=2, unpack=True)
    except ValueError:
        return None
    return [column.tolist() for column in strings], values


def _columns(text: str | None, src: CsvSource, width: int) -> list[Sequence[str]] | None:
    """The data rows' fields column by column when each row has at least ``width`` fields (so no blank or
    short row), else None. A plain body (see :func:`_plain`) is split with two str methods, which is what
    the csv module makes of such text; any other body goes through the csv module."""
    plain = _plain(text)
    if plain is not None:
        body, _lines, w = plain
        if w < width:
            return None
        fields = body.replace("\n", ",").split(",")
        return [fields[k::w] for k in range(w)]
    if text in ("", "\n"):
        return []
    rows = list(csv.reader(io.StringIO(text, newline=""))) if text is not None else src.rest()
    if not rows:
        return []
    if min(map(len, rows)) < width:
        return None
    return list(zip(*rows, strict=False))  # rows may be longer than the columns used: extra ones ignored


def _distinct(column: list[str], check: Callable[[str], Any]) -> list[Any]:
    """``check`` of each text of a column, run once per distinct text."""
    done = {t: check(t) for t in set(column)}
    return list(map(done.__getitem__, column))


def _finite(*columns: F64, positive: bool = True) -> bool:
    ok = True
    for col in columns:
        ok = ok and bool(np.isfinite(col).all()) and bool((col > 0).all() if positive else (col >= 0).all())
    return ok


def _fast_bars(path: Path, symbol: str | None, *, numpy_reader: bool = True) -> BarTable | None:
    with CsvSource(path) as src:
        found, _source, fixed = market_columns(src, symbol)
        text = _text(src)
        width = max(found.values()) + 1
        plain = _plain(text) if numpy_reader else None
        if plain is not None and plain[2] >= width:
            table = _numpy_bars(plain[0], plain[1], found, fixed)
            if table is not None:
                return table
        columns = _columns(text, src, width)
    if columns is None:
        return None
    if not columns:
        return BarTable()
    n = len(columns[0])
    try:
        if fixed is not None:
            symbols = [fixed] * n
        else:
            names = {s: check_symbol(s) for s in set(columns[found["symbol"]])}
            symbols = list(map(names.__getitem__, columns[found["symbol"]]))
        days = {d: parse_date(d).toordinal() for d in set(columns[found["date"]])}
        o, h, lo, c = (list(map(float, columns[found[k]])) for k in ("open", "high", "low", "close"))
        v = list(map(float, columns[found["volume"]])) if "volume" in found else [0.0] * n
    except (RowError, ValueError):
        return None
    ao, ah, al, ac, av = (np.array(x, dtype=np.float64) for x in (o, h, lo, c, v))
    if not _bars_valid(ao, ah, al, ac, av):
        return None
    return BarTable(symbols, list(map(days.__getitem__, columns[found["date"]])), o, h, lo, c, v)


def _bars_valid(ao: F64, ah: F64, al: F64, ac: F64, av: F64) -> bool:
    return _finite(ao, ah, al, ac) and _finite(av, positive=False) and bool((al <= ah).all())


def _numpy_bars(body: str, lines: list[str], found: dict[str, int], fixed: str | None) -> BarTable | None:
    """:func:`_fast_bars` of a plain body with numpy's reader: the same table, or None to split in Python."""
    texts = [found["date"]] if fixed is not None else [found["date"], found["symbol"]]
    prices = [found[k] for k in ("open", "high", "low", "close")]
    parsed = _numpy_columns(body, lines, texts, [*prices, found["volume"]] if "volume" in found else prices)
    if parsed is None:
        return None
    strings, values = parsed
    ao, ah, al, ac = values[:4]
    av = values[4] if "volume" in found else np.zeros(len(ao))
    try:
        days = _distinct(strings[0], lambda d: parse_date(d).toordinal())
        symbols = [fixed] * len(days) if fixed is not None else _distinct(strings[1], check_symbol)
    except RowError:
        return None
    if not _bars_valid(ao, ah, al, ac, av):
        return None
    return BarTable(symbols, days, ao.tolist(), ah.tolist(), al.tolist(), ac.tolist(), av.tolist())


def _fast_readings(path: Path) -> ReadingTable | None:
    """Readings stay split in Python: two of their three columns are texts, which numpy's reader makes
    into strings no faster (0.21 s against 0.16 s for 200,000 readings, `bench/batch.py`'s file)."""
    with CsvSource(path) as src:
        found = reading_columns(src)
        columns = _columns(_text(src), src, max(found.values()) + 1)
    if columns is None:
        return None
    if not columns:
        return ReadingTable()
    try:
        series = columns[found["series"]]
        for s in set(series):
            check_series(s)
        if "unit" in found:
            for u in set(columns[found["unit"]]):
                check_unit(u)
        instants = {t: micros(parse_instant(t)) for t in set(columns[found["ts"]])}
        values = list(map(float, columns[found["value"]]))
    except (RowError, ValueError):
        return None
    if not bool(np.isfinite(np.array(values, dtype=np.float64)).all()):
        return None
    return ReadingTable(list(series), list(map(instants.__getitem__, columns[found["ts"]])), values)
