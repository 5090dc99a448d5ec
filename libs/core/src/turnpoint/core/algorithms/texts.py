"""Whole columns printed at once, exactly as the batch commands print single values.

:func:`float_texts` equals ``repr`` of each float (SPEC section 4: full precision) and :func:`iso_instants`
equals ``turnpoint.cli.csvio.iso_z`` of each instant; `tests/unit/algorithms/test_bulk.py` checks both.

Big outputs (the legs of `turnpoint batch rebounds`) are not made of one Python string per row: a column
is a numpy array of UTF-8 texts (``S``, NUL-padded: orjson's output split for a float column, the
distinct texts of a column of names or dates indexed), and :func:`csv_rows` lays the columns side by side
and drops the padding, a block of rows at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np


def _orjson_prints_like_repr() -> bool:
    """orjson writes floats as ``repr`` does except below 1e-4 (``1e-5`` for ``1e-05``); checked once, on
    values that tell the formats apart, so another orjson version falls back to ``repr``."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - a core dependency
        return False
    probes = [0.1 + 0.2, 1e16, 1.5e22, 123456789012345.6, 0.0001, -0.0, 100.0, 2.5e-4, 1e300, -7.0]
    return bool(orjson.dumps(probes).decode() == "[" + ",".join(map(repr, probes)) + "]")


_ORJSON = _orjson_prints_like_repr()


def _tiny(values: Any) -> Any:
    magnitude = np.abs(values)
    return (magnitude < 1e-4) & (magnitude > 0)


def float_texts(values: Any) -> list[str]:
    """``repr`` of each float of a float64 array, in bulk (orjson's shortest round-trip digits, which are
    repr's; the values below 1e-4 in magnitude, which orjson spells differently, through ``repr``)."""
    if not _ORJSON or len(values) == 0:
        return list(map(repr, values.tolist()))
    import orjson

    texts = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode().split(",")
    for i in np.flatnonzero(_tiny(values)).tolist():
        texts[i] = repr(float(values[i]))
    return texts


def iso_instants(micros: Any) -> list[str]:
    """ISO-8601 UTC with ``Z`` of epoch microseconds (an int64 array); microseconds only when present."""
    seconds = np.datetime_as_string(micros.astype("datetime64[us]"), unit="s").tolist()
    frac = (micros % 1_000_000).tolist()
    return [f"{s}.{f:06d}Z" if f else f"{s}Z" for s, f in zip(seconds, frac, strict=True)]


def text_column(texts: Sequence[str], index: Any = None) -> Any:
    """A column (a numpy ``S`` array: UTF-8, NUL-padded) whose row ``i`` is ``texts[index[i]]``
    (``texts[i]`` without an index). The texts hold no NUL."""
    column = np.array([t.encode() for t in texts], dtype=np.bytes_) if texts else np.zeros(0, dtype="S1")
    return column if index is None else column[index]


def _split(blob: bytes) -> Any:
    """The comma-separated texts of orjson's output for a numeric array (brackets stripped), as a column."""
    texts = blob.split(b",")
    return np.fromiter(texts, dtype=f"S{max(map(len, texts))}", count=len(texts))  # sized: twice as fast


def float_column(values: Any) -> Any:
    """:func:`float_texts` of a float64 array as a column: orjson's output as it is when no value is
    below 1e-4 in magnitude (the only place it spells numbers otherwise than ``repr``)."""
    if not _ORJSON or len(values) == 0 or bool(_tiny(values).any()):
        return text_column(float_texts(values))
    import orjson

    return _split(orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1])


def int_column(values: Any) -> Any:
    """``str`` of each integer of an int64 array, as a column."""
    if len(values) == 0:
        return text_column([])
    import orjson

    return _split(orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1])


def csv_rows(columns: Sequence[Any], block: int = 1 << 16) -> Iterator[bytes]:
    """The rows of ``columns`` (texts that need no CSV quoting), fields joined by commas, each row ending
    in a newline, as byte strings of up to ``block`` rows: the columns' padded texts side by side, each
    followed by its separator, then every NUL of the padding dropped."""
    rows = len(columns[0]) if columns else 0
    for a in range(0, rows, block):
        n = min(block, rows - a)
        parts = []
        for k, column in enumerate(columns):
            parts.append(column[a:a + n].view(np.uint8).reshape(n, column.itemsize))
            parts.append(np.full((n, 1), ord("\n") if k == len(columns) - 1 else ord(","), dtype=np.uint8))
        table = np.concatenate(parts, axis=1)
        yield table[table != 0].tobytes()
