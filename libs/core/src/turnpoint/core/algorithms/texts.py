"""Whole columns printed at once, exactly as the batch commands print single values.

:func:`float_texts` equals ``repr`` of each float (SPEC section 4: full precision) and :func:`iso_instants`
equals ``turnpoint.cli.csvio.iso_z`` of each instant; `tests/unit/algorithms/test_bulk.py` checks both.
"""

from __future__ import annotations

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


def float_texts(values: Any) -> list[str]:
    """``repr`` of each float of a float64 array, in bulk (orjson's shortest round-trip digits, which are
    repr's; the values below 1e-4 in magnitude, which orjson spells differently, through ``repr``)."""
    if not _ORJSON or len(values) == 0:
        return list(map(repr, values.tolist()))
    import orjson

    texts = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode().split(",")
    magnitude = np.abs(values)
    for i in np.flatnonzero((magnitude < 1e-4) & (magnitude > 0)).tolist():
        texts[i] = repr(float(values[i]))
    return texts


def iso_instants(micros: Any) -> list[str]:
    """ISO-8601 UTC with ``Z`` of epoch microseconds (an int64 array); microseconds only when present."""
    seconds = np.datetime_as_string(micros.astype("datetime64[us]"), unit="s").tolist()
    frac = (micros % 1_000_000).tolist()
    return [f"{s}.{f:06d}Z" if f else f"{s}Z" for s, f in zip(seconds, frac, strict=True)]
