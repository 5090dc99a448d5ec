"""Training data: CSV loading (SPEC section 4 columns) and sliding windows, as numpy arrays."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from turnpoint.model.errors import TrainingError


@dataclass(frozen=True, slots=True)
class Series:
    """One symbol's closes or one sensor series' values, in time order, revisions applied."""

    name: str
    times: np.ndarray  # datetime64[D] for bars, datetime64[us] (UTC) for readings
    values: np.ndarray  # float64


def _rows(path: Path, required: Iterable[str]) -> Iterable[tuple[int, dict[str, str]]]:
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read training data {path}: {exc.strerror}; pass an existing CSV file with --input"
        raise TrainingError(msg) from None
    with fh:
        reader = csv.DictReader(fh)
        missing = set(required) - set(reader.fieldnames or ())
        if missing:
            msg = f"{path}: missing column(s) {', '.join(sorted(missing))}; expected {', '.join(required)}"
            raise TrainingError(msg)
        yield from enumerate(reader, start=2)


def load_bars(path: Path) -> list[Series]:
    """Daily closes per symbol; a later row for the same symbol+date revises the earlier one."""
    closes: dict[str, dict[str, float]] = {}
    for line, row in _rows(path, ("symbol", "date", "close")):
        try:
            value = float(row["close"])
            day = dt.date.fromisoformat(row["date"]).isoformat()
        except ValueError:
            msg = f"{path}:{line}: unreadable date or close {row.get('date')!r}, {row.get('close')!r}"
            raise TrainingError(msg) from None
        if not np.isfinite(value) or value <= 0:
            msg = f"{path}:{line}: close must be a positive number, got {value}"
            raise TrainingError(msg)
        closes.setdefault(row["symbol"], {})[day] = value
    return [_series(name, by_day, "D") for name, by_day in sorted(closes.items())]


def load_readings(path: Path) -> list[Series]:
    """Readings per series; a later row for the same (series, instant) replaces the earlier one."""
    values: dict[str, dict[str, float]] = {}
    for line, row in _rows(path, ("series", "ts", "value")):
        try:
            ts = dt.datetime.fromisoformat(row["ts"].replace("Z", "+00:00"))
            value = float(row["value"])
        except ValueError:
            msg = f"{path}:{line}: unreadable ts or value {row.get('ts')!r}, {row.get('value')!r}"
            raise TrainingError(msg) from None
        if ts.tzinfo is None:
            msg = f"{path}:{line}: timestamp {row['ts']!r} has no UTC offset; write ISO-8601 with an offset or Z"
            raise TrainingError(msg)
        if not np.isfinite(value):
            msg = f"{path}:{line}: value must be finite"
            raise TrainingError(msg)
        key = ts.astimezone(dt.UTC).replace(tzinfo=None).isoformat()
        values.setdefault(row["series"], {})[key] = value
    return [_series(name, by_ts, "us") for name, by_ts in sorted(values.items())]


def _series(name: str, by_time: dict[str, float], unit: str) -> Series:
    keys = sorted(by_time)
    return Series(name, np.array(keys, dtype=f"datetime64[{unit}]"), np.array([by_time[k] for k in keys]))


@dataclass(frozen=True, slots=True)
class Windows:
    """Sliding windows over many series: inputs X [n, width], targets Y [n, horizon], and their times."""

    X: np.ndarray
    Y: np.ndarray
    asof: np.ndarray  # time of the last input value
    target_end: np.ndarray  # time of the last target value (asof when horizon is 0)
    series: np.ndarray  # index into the list of series


def windows(series: list[Series], width: int, horizon: int) -> Windows:
    """Every window of `width` consecutive values followed by `horizon` values, per series."""
    xs, ys, ts, te, ids = [], [], [], [], []
    for i, s in enumerate(series):
        n = len(s.values) - width - horizon + 1
        if n <= 0:
            continue
        view = np.lib.stride_tricks.sliding_window_view(s.values, width + horizon)
        xs.append(view[:, :width])
        ys.append(view[:, width:])
        ts.append(s.times[width - 1 : width - 1 + n])
        te.append(s.times[width + horizon - 1 : width + horizon - 1 + n])
        ids.append(np.full(n, i))
    if not xs:
        msg = f"no series has {width + horizon} values; training needs longer history"
        raise TrainingError(msg)
    return Windows(
        np.concatenate(xs), np.concatenate(ys), np.concatenate(ts), np.concatenate(te), np.concatenate(ids)
    )
