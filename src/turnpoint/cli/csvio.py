"""Reading and writing the CSV files of the batch commands (SPEC section 4).

Readers validate every row and return the good ones with their line numbers plus a list of
``(line, reason)`` for the bad ones; they never drop a row silently. A missing or unreadable file or a
header without the required columns raises :class:`InputError` (the command exits non-zero).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from turnpoint.core.errors import TurnpointError

BAR_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "volume")
READING_COLUMNS = ("series", "ts", "value")
_SYMBOL = re.compile(r"^[A-Za-z0-9._^=\-]{1,32}$")
_PROGRESS_MIN_BYTES = 20 * 1024 * 1024


class InputError(TurnpointError):
    """The input file cannot be used at all (missing, unreadable, wrong header)."""


@dataclass(slots=True)
class Parsed:
    """Good rows (each starting with its line number) and bad rows ``(line, reason)``."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)

    @property
    def read(self) -> int:
        return len(self.rows) + len(self.bad)


def _number(name: str, text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        msg = f"{name}: not a number: {text!r}"
        raise ValueError(msg) from None
    if not math.isfinite(x):
        msg = f"{name}: must be finite, got {text!r}"
        raise ValueError(msg)
    return x


def parse_bar(rec: dict[str, str]) -> tuple[str, dt.date, float, float, float, float, float]:
    symbol = rec["symbol"]
    if not _SYMBOL.match(symbol):
        msg = f"symbol: {symbol!r} is not 1-32 characters of A-Z a-z 0-9 . _ ^ = -"
        raise ValueError(msg)
    try:
        day = dt.date.fromisoformat(rec["date"])
    except ValueError:
        msg = f"date: not an ISO date YYYY-MM-DD: {rec['date']!r}"
        raise ValueError(msg) from None
    o, h, lo, c = (_number(k, rec[k]) for k in ("open", "high", "low", "close"))
    for k, x in (("open", o), ("high", h), ("low", lo), ("close", c)):
        if x <= 0:
            msg = f"{k}: price must be > 0, got {rec[k]!r}"
            raise ValueError(msg)
    if h < lo:
        msg = f"high {rec['high']} < low {rec['low']}"
        raise ValueError(msg)
    v = _number("volume", rec["volume"]) if rec["volume"].strip() else 0.0
    if v < 0:
        msg = f"volume: must be >= 0, got {rec['volume']!r}"
        raise ValueError(msg)
    return symbol, day, o, h, lo, c, v


def parse_reading(rec: dict[str, str]) -> tuple[str, dt.datetime, float]:
    series = rec["series"]
    if not series or len(series) > 200:
        msg = f"series: must be 1-200 characters, got {len(series)}"
        raise ValueError(msg)
    try:
        ts = dt.datetime.fromisoformat(rec["ts"])
    except ValueError:
        msg = f"ts: not an ISO-8601 timestamp: {rec['ts']!r}"
        raise ValueError(msg) from None
    if ts.tzinfo is None or ts.utcoffset() is None:
        msg = f"ts: {rec['ts']!r} has no UTC offset (add Z or +HH:MM)"
        raise ValueError(msg)
    return series, ts.astimezone(dt.UTC), _number("value", rec["value"])


def read_rows(path: Path, columns: Sequence[str], parse: Any) -> Parsed:
    """Read ``path`` (header required), parse each row; rows are ``(line, *parse(record))``."""
    out = Parsed()
    with _open(path) as f, _progress(path, f) as lines:
        reader = csv.reader(lines)
        header = next(reader, None)
        if header is None:
            msg = f"{path}: empty file, expected a header {','.join(columns)}"
            raise InputError(msg)
        names = [h.strip() for h in header]
        missing = [c for c in columns if c not in names]
        if missing:
            msg = (f"{path}: header {','.join(names)!r} lacks column(s) {', '.join(missing)}; "
                   f"expected {','.join(columns)}")
            raise InputError(msg)
        idx = [names.index(c) for c in columns]
        width = len(names)
        for rec in reader:
            line = reader.line_num
            if not rec or rec == [""]:
                continue  # blank line
            if len(rec) != width:
                out.bad.append((line, f"expected {width} fields, got {len(rec)}"))
                continue
            try:
                out.rows.append((line, *parse({c: rec[i].strip() for c, i in zip(columns, idx, strict=True)})))
            except ValueError as exc:
                out.bad.append((line, str(exc)))
    return out


@contextmanager
def _open(path: Path) -> Iterator[IO[str]]:
    try:
        f = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115
    except FileNotFoundError:
        msg = f"{path}: no such file"
        raise InputError(msg) from None
    except OSError as exc:
        msg = f"{path}: cannot read: {exc.strerror or exc}"
        raise InputError(msg) from None
    try:
        yield f
    except UnicodeDecodeError as exc:
        msg = f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise InputError(msg) from None
    finally:
        f.close()


@contextmanager
def _progress(path: Path, f: IO[str]) -> Iterator[Iterator[str]]:
    """Lines of ``f``, with a rich progress bar on stderr for big files when stderr is a terminal."""
    size = os.fstat(f.fileno()).st_size
    if size < _PROGRESS_MIN_BYTES or not sys.stderr.isatty():
        yield iter(f)
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"reading {path.name}", total=size)

        def lines() -> Iterator[str]:
            done = 0
            for n, line in enumerate(f):
                done += len(line)
                if n % 10000 == 0:
                    bar.update(task, completed=done)
                yield line

        yield lines()


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write rows as they come (a generator keeps memory flat); floats keep full precision (``repr``),
    ``None`` becomes an empty field. Returns the number of rows written."""
    written = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow(["" if x is None else repr(x) if isinstance(x, float) else x for x in r])
            written += 1
    return written


def iso_z(ts: dt.datetime) -> str:
    """ISO-8601 UTC with ``Z``; microseconds only when present."""
    u = ts.astimezone(dt.UTC)
    return u.strftime("%Y-%m-%dT%H:%M:%S") + (f".{u.microsecond:06d}" if u.microsecond else "") + "Z"
