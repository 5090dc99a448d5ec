"""Rebounds of one symbol: the zigzag of its four price types plus weekly/monthly aggregates.

:class:`SymbolRebounds` is an incremental state machine over explicit, serialisable state. The stream
worker keeps one per symbol (``to_bytes``/``from_bytes`` into its table); the batch command feeds one per
symbol with the final, date-sorted bars. Both run :func:`turnpoint.core.algorithms.zigzag.advance`.

State layout: a *checkpoint* (zigzag states and partial week/month aggregates after the first ``n0``
bars, which are forgotten) and a *tail* of the most recent bars (``revision_horizon`` .. 2x that many).
Appending bars after the last date advances the current state directly. A revision or insert inside the
tail replays the tail from the checkpoint and diffs the legs confirmed in the tail before and after:
vanished legs are withdrawn (``deleted=True``), new or changed legs are upserted. A bar dated at or before
the checkpoint is rejected with reason ``revision-too-old``: it can no longer be applied exactly.
"""

from __future__ import annotations

import datetime as dt
import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import lt
from typing import Any, cast

import orjson

from turnpoint.core.algorithms.records import LegRecord, PriceBarRecord, RejectedBar, StateRecord
from turnpoint.core.algorithms.resample import INTERVALS, MONTH, WEEK, Aggregate, aggregate, period_of
from turnpoint.core.algorithms.zigzag import (
    UP,
    LegTuple,
    ZigzagState,
    advance,
    direction_name,
    empty_state,
    pct,
)
from turnpoint.core.limits import GTYPES, GType

BarTuple = tuple[dt.date, float, float, float, float, float]
"""``(date, open, high, low, close, volume)``: the input of :meth:`SymbolRebounds.apply`."""

_FORMAT = 1
_NO_DATE = 0


@dataclass(slots=True)
class ReboundUpdate:
    """What one :meth:`SymbolRebounds.apply` call changed.

    ``legs`` holds new or changed legs and, with ``deleted=True``, withdrawn ones (key symbol, gtype,
    start_date). ``states`` is the current state of each gtype (empty if nothing was accepted).
    ``bars`` are the weekly and monthly aggregates that changed. ``accepted`` counts bars applied
    (revisions included, identical redeliveries excluded).
    """

    legs: list[LegRecord] = field(default_factory=list)
    states: list[StateRecord] = field(default_factory=list)
    bars: list[PriceBarRecord] = field(default_factory=list)
    rejected: list[RejectedBar] = field(default_factory=list)
    accepted: int = 0


class SymbolRebounds:
    """Incremental rebounds (SPEC section 1) of one symbol, all four gtypes, plus week/month bars.

    ``apply`` accepts bars in arrival order (any order within a call; a later bar for the same date
    revises the earlier one). After any sequence of calls, the legs emitted so far (upserts minus
    withdrawals) and the current states equal the zigzag run once over the final bars, provided no bar
    was rejected as ``revision-too-old``.
    """

    __slots__ = ("_c", "_ck", "_ck_agg", "_ck_last", "_cur", "_d", "_h", "_l", "_n0", "_o", "_v",
                 "horizon", "symbol", "threshold")

    def __init__(self, symbol: str, *, threshold: float = 0.0, revision_horizon: int = 60) -> None:
        if not (threshold >= 0 and math.isfinite(threshold)):
            msg = f"threshold must be a finite number >= 0, got {threshold!r}"
            raise ValueError(msg)
        if revision_horizon < 1:
            msg = f"revision_horizon must be >= 1 bar, got {revision_horizon!r}"
            raise ValueError(msg)
        self.symbol = symbol
        self.threshold = float(threshold)
        self.horizon = int(revision_horizon)
        self._n0 = 0
        self._ck_last = _NO_DATE
        self._ck: list[ZigzagState] = [empty_state() for _ in GTYPES]
        self._ck_agg: list[Aggregate | None] = [None, None]
        self._cur: list[ZigzagState] = [empty_state() for _ in GTYPES]
        self._d = array("i")
        self._o = array("d")
        self._h = array("d")
        self._l = array("d")
        self._c = array("d")
        self._v = array("d")

    # ------------------------------------------------------------------ public
    @property
    def bar_count(self) -> int:
        """Number of distinct bar dates seen (folded and in the tail)."""
        return self._n0 + len(self._d)

    @property
    def last_date(self) -> dt.date | None:
        return dt.date.fromordinal(self._d[-1]) if self._d else None

    def apply(self, bars: Iterable[BarTuple], *, validated: bool = False) -> ReboundUpdate:
        """Apply a batch of ``(date, open, high, low, close, volume)`` bars of this symbol.

        ``validated=True`` skips the per-bar value checks for callers whose bars already passed the
        `Bar` contract (the stream worker), which checks the same rules.
        """
        out = ReboundUpdate()
        incoming: dict[int, tuple[float, float, float, float, float]] = {}
        for bar in bars:
            day, o, h, lo, c, v = bar
            problem = None if validated else _invalid(o, h, lo, c, v)
            if problem is not None:
                out.rejected.append({"date": day, "reason": problem[0], "detail": problem[1]})
                continue
            n = day.toordinal()
            if self._n0 and n <= self._ck_last:
                out.rejected.append({
                    "date": day,
                    "reason": "revision-too-old",
                    "detail": f"{day} is at or before {dt.date.fromordinal(self._ck_last)}, the oldest date "
                    f"that can still be revised (revision horizon {self.horizon} bars)",
                })
                continue
            incoming[n] = (float(o), float(h), float(lo), float(c), float(v))
        if not incoming:
            return out
        return self._finish(self._merge(incoming, out), out)

    def extend(
        self,
        days: Sequence[int],
        o: Sequence[float],
        h: Sequence[float],
        lo: Sequence[float],
        c: Sequence[float],
        v: Sequence[float],
    ) -> ReboundUpdate | None:
        """``apply(..., validated=True)`` for the common case, from columns: bars (date ordinals ``days``,
        float prices and volumes) whose dates strictly increase after :attr:`last_date`.

        Returns None, changing nothing, when the bars are not such an append (revisions, inserts,
        duplicate or unsorted dates): the caller then uses :meth:`apply`. The update is the one
        :meth:`apply` returns for the same bars.
        """
        if not days:
            return None
        last = self._d[-1] if self._d else _NO_DATE
        if days[0] <= last or not all(map(lt, days, islice(days, 1, None))):
            return None
        out = ReboundUpdate()
        self._append(list(days), [list(x) for x in (o, h, lo, c, v)], out)
        return self._finish(list(days), out)

    def states(self) -> list[StateRecord]:
        """The current state of each gtype (empty before the first bar)."""
        out = ReboundUpdate()
        if self._d:
            self._emit_states(out)
        return out.states

    def to_bytes(self) -> bytes:
        """Compact JSON (orjson) of the whole state; floats round-trip exactly."""
        return orjson.dumps([
            _FORMAT, self.symbol, self.threshold, self.horizon, self._n0, self._ck_last,
            self._ck, self._ck_agg, self._cur,
            self._d.tolist(), self._o.tolist(), self._h.tolist(), self._l.tolist(), self._c.tolist(),
            self._v.tolist(),
        ])

    @classmethod
    def from_bytes(cls, data: bytes | str) -> SymbolRebounds:
        doc = orjson.loads(data)
        if not isinstance(doc, list) or not doc or doc[0] != _FORMAT:
            msg = "not a SymbolRebounds state of format 1"
            raise ValueError(msg)
        (_, symbol, threshold, horizon, n0, ck_last, ck, ck_agg, cur, d, o, h, lo, c, v) = doc
        self = cls(symbol, threshold=threshold, revision_horizon=horizon)
        self._n0, self._ck_last = n0, ck_last
        self._ck, self._ck_agg, self._cur = ck, ck_agg, cur
        self._d = array("i", d)
        self._o, self._h, self._l, self._c, self._v = (array("d", x) for x in (o, h, lo, c, v))
        return self

    # ----------------------------------------------------------------- private
    def _series(self) -> tuple[array[float], array[float], array[float], array[float]]:
        return self._o, self._h, self._l, self._c

    def _finish(self, changed: list[int], out: ReboundUpdate) -> ReboundUpdate:
        """Count and emit what changed (aggregates, states); fold the tail when it is too long."""
        out.accepted = len(changed)
        if changed:
            self._emit_aggregates(changed, out)
            self._emit_states(out)
        if len(self._d) > 2 * self.horizon:
            self._fold(len(self._d) - self.horizon)
        return out

    def _append(self, days: list[int], columns: list[list[float]], out: ReboundUpdate) -> None:
        """Append bars dated after the tail (open, high, low, close, volume columns); emit new legs."""
        start = len(self._d)
        self._d.extend(days)
        for arr, col in zip((self._o, self._h, self._l, self._c, self._v), columns, strict=True):
            arr.extend(col)
        for g in range(len(GTYPES)):
            legs: list[LegTuple] = []
            advance(self._cur[g], self._n0 + start, days, columns[g], self.threshold, legs)
            out.legs += self._legs(GTYPES[g], legs, False)

    def _merge(
        self, incoming: dict[int, tuple[float, float, float, float, float]], out: ReboundUpdate
    ) -> list[int]:
        """Merge accepted bars into the tail; emit legs. Returns the ordinals that changed."""
        last = self._d[-1] if self._d else _NO_DATE
        if min(incoming) > last:  # the common case: pure append, no replay
            days = sorted(incoming)
            self._append(days, [[incoming[n][j] for n in days] for j in range(5)], out)
            return days
        pos = {n: k for k, n in enumerate(self._d)}
        changed: list[int] = []
        replay = False
        rows = list(zip(self._d, self._o, self._h, self._l, self._c, self._v, strict=True))
        for n, bar in incoming.items():
            k = pos.get(n)
            if k is None:
                rows.append((n, *bar))
                replay = True
            elif rows[k][1:] != bar:
                replay = replay or rows[k][1:5] != bar[:4]
                rows[k] = (n, *bar)
            else:
                continue
            changed.append(n)
        if not changed:
            return changed
        if not replay:  # only volumes changed: no zigzag effect
            self._v = array("d", (r[5] for r in rows))
            return changed
        old_legs = self._tail_legs()
        rows.sort()
        self._d = array("i", (r[0] for r in rows))
        self._o, self._h, self._l, self._c, self._v = (array("d", (r[j] for r in rows)) for j in range(1, 6))
        self._cur = [list(s) for s in self._ck]
        self._replay(old_legs, out)
        return changed

    def _tail_legs(self) -> list[dict[tuple[int, int], LegTuple]]:
        """Legs confirmed in the tail, per gtype, keyed by (gtype index, start ordinal)."""
        dates = self._d.tolist()
        result: list[dict[tuple[int, int], LegTuple]] = []
        for g, arr in enumerate(self._series()):
            st = list(self._ck[g])
            legs: list[LegTuple] = []
            advance(st, self._n0, dates, arr.tolist(), self.threshold, legs)
            result.append({(g, leg[1]): leg for leg in legs})
        return result

    def _replay(self, withdraw: list[dict[tuple[int, int], LegTuple]], out: ReboundUpdate) -> None:
        """Advance each gtype over the whole tail from the checkpoint; emit the diff with the old tail legs."""
        dates = self._d.tolist()
        for g, arr in enumerate(self._series()):
            legs: list[LegTuple] = []
            advance(self._cur[g], self._n0, dates, arr.tolist(), self.threshold, legs)
            before = withdraw[g]
            out.legs += self._legs(GTYPES[g], [leg for leg in legs if before.pop((g, leg[1]), None) != leg], False)
            out.legs += self._legs(GTYPES[g], list(before.values()), True)

    def _legs(self, gtype: GType, legs: list[LegTuple], deleted: bool) -> list[LegRecord]:
        """Leg records; ``pct`` as :func:`pct` computes it, inlined (this runs ~1.5 times per bar)."""
        symbol = self.symbol
        get = _DAYS.get
        return [
            {
                "symbol": symbol, "gtype": gtype,
                "start_date": get(pd) or _day(pd), "start_value": py,
                "end_date": get(ed) or _day(ed), "end_value": ey,
                "bars": ei - pi, "change": ey - py, "pct": (ey / py - 1.0) * 100.0,
                "direction": "up" if d == UP else "down", "deleted": deleted,
            }
            for pi, pd, py, ei, ed, ey, d in legs
        ]

    def _emit_states(self, out: ReboundUpdate) -> None:
        last_i = self._n0 + len(self._d) - 1
        last_d = dt.date.fromordinal(self._d[-1])
        for g, arr in enumerate(self._series()):
            d, pi, pd, py, _ei, ed, ey = self._cur[g]
            y = arr[-1]
            out.states.append({
                "symbol": self.symbol, "gtype": GTYPES[g], "threshold": self.threshold,
                "direction": cast(Any, direction_name(d)),
                "pivot_date": dt.date.fromordinal(pd), "pivot_value": py,
                "extreme_date": dt.date.fromordinal(ed), "extreme_value": ey,
                "last_date": last_d, "last_value": y, "bars_since_pivot": last_i - pi,
                "pct_from_pivot": pct(py, y), "pct_from_extreme": pct(ey, y),
            })

    def _emit_aggregates(self, changed: list[int], out: ReboundUpdate) -> None:
        days = sorted(changed)
        dates = self._d.tolist()
        o, h, lo, c, v = (arr.tolist() for arr in (self._o, self._h, self._l, self._c, self._v))
        for kind in (WEEK, MONTH):
            starts: list[int] = []
            end = _NO_DATE
            for n in days:  # the periods of the changed days, each once, in order
                if n > end:
                    s, end = period_of(kind, n)
                    starts.append(s)
            for s in starts:
                agg = aggregate(self._ck_agg[kind], kind, s, dates, o, h, lo, c, v)
                if agg is not None:
                    out.bars.append(self._bar(kind, agg))

    def _bar(self, kind: int, agg: Aggregate) -> PriceBarRecord:
        start, end, o, h, lo, c, v, n = agg
        return {
            "symbol": self.symbol, "interval": cast(Any, INTERVALS[kind]),
            "start": dt.date.fromordinal(start), "end": dt.date.fromordinal(end),
            "open": o, "high": h, "low": lo, "close": c, "volume": v, "bars": n,
        }

    def _fold(self, k: int) -> None:
        """Forget the oldest ``k`` tail bars into the checkpoint."""
        dates = self._d[:k].tolist()
        for g, arr in enumerate(self._series()):
            advance(self._ck[g], self._n0, dates, arr[:k].tolist(), self.threshold, [])
        last = dates[-1]
        for kind in (WEEK, MONTH):
            s = period_of(kind, last)[0]
            self._ck_agg[kind] = aggregate(self._ck_agg[kind], kind, s, dates, self._o[:k], self._h[:k],
                                           self._l[:k], self._c[:k], self._v[:k])
        self._n0 += k
        self._ck_last = last
        for name in ("_d", "_o", "_h", "_l", "_c", "_v"):
            arr = getattr(self, name)
            del arr[:k]


_DAYS: dict[int, dt.date] = {}
"""Dates of recently seen day ordinals: leg records reuse them (a dict lookup beats ``fromordinal``)."""


def _day(n: int) -> dt.date:
    if len(_DAYS) >= 1 << 16:
        _DAYS.clear()
    day = _DAYS[n] = dt.date.fromordinal(n)
    return day


def _invalid(o: float, h: float, lo: float, c: float, v: float) -> tuple[str, str] | None:
    """A (reason, detail) pair when the bar cannot be used, else None."""
    for name, x in (("open", o), ("high", h), ("low", lo), ("close", c), ("volume", v)):
        if not isinstance(x, (int, float)) or not math.isfinite(x):
            return "invalid", f"{name} must be a finite number, got {x!r}"
    for name, x in (("open", o), ("high", h), ("low", lo), ("close", c)):
        if x <= 0:
            return "non-positive-price", f"{name} must be > 0, got {x!r}"
    if h < lo:
        return "high-below-low", f"high {h!r} < low {lo!r}"
    if v < 0:
        return "negative-volume", f"volume must be >= 0, got {v!r}"
    return None
