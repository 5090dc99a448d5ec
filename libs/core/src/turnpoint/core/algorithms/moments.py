"""Exact summaries (count, mean, M2, min, max) and their numerically stable combination.

A summary is a tuple ``(n, mean, m2, min, max)`` with ``m2 = sum((x - mean)**2)``; population
std is ``sqrt(m2 / n)``. :func:`merge` is the pairwise update of Chan, Golub and LeVeque, so a
period's statistics can be rebuilt from day summaries without keeping the raw values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

Summary = tuple[int, float, float, float, float]
EMPTY: Summary = (0, 0.0, 0.0, math.inf, -math.inf)


def summarize(values: Sequence[float]) -> Summary:
    n = len(values)
    if n == 0:
        return EMPTY
    mean = math.fsum(values) / n
    m2 = math.fsum((x - mean) * (x - mean) for x in values)
    return n, mean, m2, min(values), max(values)


def merge(a: Summary, b: Summary) -> Summary:
    na, ma, m2a, lo_a, hi_a = a
    nb, mb, m2b, lo_b, hi_b = b
    if nb == 0:
        return a
    if na == 0:
        return b
    n = na + nb
    delta = mb - ma
    mean = ma + delta * nb / n
    m2 = m2a + m2b + delta * delta * na * nb / n
    return n, mean, m2, min(lo_a, lo_b), max(hi_a, hi_b)


def merge_all(parts: Iterable[Summary]) -> Summary:
    acc = EMPTY
    for p in parts:
        acc = merge(acc, p)
    return acc


def std(s: Summary) -> float:
    return math.sqrt(s[2] / s[0]) if s[0] else 0.0
