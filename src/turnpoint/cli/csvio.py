"""The files of the batch commands (SPEC section 4): input through core's row layer, output as CSV.

Input files are read by :mod:`turnpoint.core.tables`, that is by the same readers as `turnpoint ingest`
(every market dialect: SPEC columns, Yahoo and Korean exchange exports in UTF-8 or CP949; readings with
their aliases). Rejected rows keep their line numbers; a file that cannot be used at all raises
:class:`InputError` (the command exits 2). Output paths are checked before any work is done, so a bad
``--output`` costs nothing and says what is wrong.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from turnpoint.core.errors import InputFileError

BAR_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "volume")
READING_COLUMNS = ("series", "ts", "value")

InputError = InputFileError
"""The input file cannot be used at all (missing, unreadable, wrong header)."""


class OutputError(InputFileError):
    """The output path cannot be written (a directory, a missing folder, no permission)."""


def check_output(path: Path) -> None:
    """Refuse an output path that cannot be written, before the command reads its input."""
    if path.is_dir():
        msg = f"{path}: is a directory; give a file name for --output, e.g. {path / 'out.csv'}"
        raise OutputError(msg)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        msg = f"{path}: the folder {parent} does not exist; create it first"
        raise OutputError(msg)
    if not os.access(path if path.exists() else parent, os.W_OK):
        msg = f"{path}: not writable (permission denied)"
        raise OutputError(msg)


def write_lines(path: Path, header: Sequence[str], blocks: Iterable[bytes]) -> None:
    """Write the header and pre-formatted CSV lines (UTF-8 blocks of whole lines, each ending in a newline)."""
    try:
        with open(path, "wb") as f:
            f.write((",".join(header) + "\n").encode())
            f.writelines(blocks)
    except OSError as exc:
        msg = f"{path}: cannot write: {exc.strerror or exc}"
        raise OutputError(msg) from None


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write rows as they come; floats keep full precision (``repr``), ``None`` becomes an empty field.
    Returns the number of rows written."""
    import csv

    written = 0
    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            for r in rows:
                w.writerow(["" if x is None else repr(x) if isinstance(x, float) else x for x in r])
                written += 1
    except OSError as exc:
        msg = f"{path}: cannot write: {exc.strerror or exc}"
        raise OutputError(msg) from None
    return written


def write_columns(path: Path, header: Sequence[str], columns: Sequence[Sequence[str]]) -> None:
    """Write columns of ready-made texts (see :mod:`turnpoint.core.algorithms.texts`) as CSV rows; the csv
    module still quotes a field that needs it (a series name with a comma)."""
    import csv

    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            w.writerows(zip(*columns, strict=True))
    except OSError as exc:
        msg = f"{path}: cannot write: {exc.strerror or exc}"
        raise OutputError(msg) from None


def iso_z(ts: dt.datetime) -> str:
    """ISO-8601 UTC with ``Z``; microseconds only when present."""
    u = ts.astimezone(dt.UTC)
    return u.strftime("%Y-%m-%dT%H:%M:%S") + (f".{u.microsecond:06d}" if u.microsecond else "") + "Z"
