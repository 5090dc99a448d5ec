"""SPEC section 3 outlier rule over whole arrays, the baseline the anomaly scorer is compared with.

TODO(shared): the transform service owns the streaming implementation; when a batch function lands in
turnpoint.core, the backtest should call that one instead of this vectorised copy.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np


def local_days(times: np.ndarray, tz: str) -> np.ndarray:
    """Local calendar day numbers (days since 1970-01-01) of UTC datetime64 instants."""
    if tz == "UTC":
        return times.astype("datetime64[D]").astype(np.int64)
    zone = ZoneInfo(tz)
    epoch = dt.date(1970, 1, 1)
    out = np.empty(len(times), dtype=np.int64)
    for i, t in enumerate(times.astype("datetime64[us]").astype(object)):
        out[i] = (t.replace(tzinfo=dt.UTC).astimezone(zone).date() - epoch).days
    return out


def outlier_flags(
    times: np.ndarray, values: np.ndarray, *, tz: str = "UTC", window_days: int = 28, min_count: int = 30,
    k: float = 1.5,
) -> tuple[np.ndarray, np.ndarray]:
    """(direction, judged) per reading: +1 high, -1 low, 0 not an outlier; judged is False when the
    reference set (local days D-W .. D-1) holds fewer than `min_count` readings."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int8), np.zeros(0, dtype=bool)
    days = local_days(times, tz)
    first = int(days.min())
    idx = days - first
    span = int(idx.max()) + 1
    shift = float(np.mean(values))
    v = values - shift
    cnt = np.bincount(idx, minlength=span).astype(np.float64)
    s1 = np.bincount(idx, weights=v, minlength=span)
    s2 = np.bincount(idx, weights=v * v, minlength=span)
    c_cnt, c_s1, c_s2 = (np.concatenate([[0.0], np.cumsum(a)]) for a in (cnt, s1, s2))
    hi = idx  # days < D  -> cumulative up to index D (exclusive)
    lo = np.maximum(idx - window_days, 0)
    n = c_cnt[hi] - c_cnt[lo]
    judged = n >= min_count
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (c_s1[hi] - c_s1[lo]) / n
        var = np.maximum((c_s2[hi] - c_s2[lo]) / n - mean * mean, 0.0)
    std = np.sqrt(var)
    direction = np.zeros(len(values), dtype=np.int8)
    direction[judged & (v > mean + k * std)] = 1
    direction[judged & (v < mean - k * std)] = -1
    return direction, judged
