"""SymbolRebounds against a direct transcription of SPEC section 1 run once over the final bars."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turnpoint.core.algorithms import SymbolRebounds, window_summary
from turnpoint.core.contracts import GTYPES, Leg, PriceBar, ReboundState

pytestmark = pytest.mark.unit
D0 = dt.date(2024, 12, 23)


# ---------------------------------------------------------------- reference (SPEC 1, batch, final data)
def ref_zigzag(dates: list[dt.date], ys: list[float], theta: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    legs = []
    p = e = (0, ys[0])
    d = "none"
    for i in range(1, len(ys)):
        y = ys[i]
        if d == "none":
            if y > p[1] and y >= p[1] * (1 + theta):
                d, e = "up", (i, y)
            elif y < p[1] and y <= p[1] * (1 - theta):
                d, e = "down", (i, y)
        elif d == "up":
            if y > e[1]:
                e = (i, y)
            elif y < e[1] and y <= e[1] * (1 - theta):
                legs.append((p, e, "up"))
                p, d, e = e, "down", (i, y)
        else:
            if y < e[1]:
                e = (i, y)
            elif y > e[1] and y >= e[1] * (1 + theta):
                legs.append((p, e, "down"))
                p, d, e = e, "up", (i, y)
    out = [
        {"start_date": dates[a[0]], "start_value": a[1], "end_date": dates[b[0]], "end_value": b[1],
         "bars": b[0] - a[0], "change": b[1] - a[1], "pct": (b[1] / a[1] - 1) * 100, "direction": dr}
        for a, b, dr in legs
    ]
    last = len(ys) - 1
    state = {"direction": d, "pivot_date": dates[p[0]], "pivot_value": p[1], "extreme_date": dates[e[0]],
             "extreme_value": e[1], "last_date": dates[last], "last_value": ys[last],
             "bars_since_pivot": last - p[0], "pct_from_pivot": (ys[last] / p[1] - 1) * 100,
             "pct_from_extreme": (ys[last] / e[1] - 1) * 100}
    return out, state


def ref_aggregates(bars: dict[dt.date, tuple[float, ...]]) -> dict[tuple[str, dt.date], tuple[Any, ...]]:
    groups: dict[tuple[str, dt.date], list[dt.date]] = defaultdict(list)
    for day in sorted(bars):
        groups[("week", day - dt.timedelta(days=day.weekday()))].append(day)
        groups[("month", day.replace(day=1))].append(day)
    return {
        key: (days[-1], bars[days[0]][0], max(bars[x][1] for x in days), min(bars[x][2] for x in days),
              bars[days[-1]][3], sum(bars[x][4] for x in days), len(days))
        for key, days in groups.items()
    }


# ---------------------------------------------------------------- helpers
class Sink:
    """What a stream worker's sink would hold after upserting every update."""

    def __init__(self) -> None:
        self.legs: dict[tuple[str, dt.date], dict[str, Any]] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self.bars: dict[tuple[str, dt.date], tuple[Any, ...]] = {}
        self.rejected: list[Any] = []

    def take(self, update: Any) -> None:
        for leg in update.legs:
            Leg.model_validate(leg)
            key = (leg["gtype"], leg["start_date"])
            if leg["deleted"]:
                assert key in self.legs, f"withdrew a leg never emitted: {key}"
                del self.legs[key]
            else:
                self.legs[key] = leg
        for s in update.states:
            ReboundState.model_validate(s)
            self.states[s["gtype"]] = s
        for b in update.bars:
            PriceBar.model_validate(b)
            self.bars[(b["interval"], b["start"])] = (b["end"], b["open"], b["high"], b["low"], b["close"],
                                                      b["volume"], b["bars"])
        self.rejected.extend(update.rejected)


def expected(final: dict[dt.date, tuple[float, ...]], theta: float) -> tuple[dict[Any, Any], dict[str, Any]]:
    dates = sorted(final)
    legs: dict[Any, Any] = {}
    states = {}
    for g, gtype in enumerate(GTYPES):
        ys = [final[d][g] for d in dates]
        ref_legs, state = ref_zigzag(dates, ys, theta)
        for leg in ref_legs:
            legs[(gtype, leg["start_date"])] = {"symbol": "SYM", "gtype": gtype, **leg, "deleted": False}
        states[gtype] = {"symbol": "SYM", "gtype": gtype, "threshold": theta, **state}
    return legs, states


def bar(day: dt.date, y: tuple[int, int, int, int], vol: int) -> tuple[Any, ...]:
    o, c, a, b = (float(x) for x in y)
    return (day, o, max(a, b, o, c), min(a, b, o, c), c, float(vol))


prices = st.tuples(*[st.integers(1, 6)] * 4)


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[tuple[Any, ...]], dict[dt.date, tuple[float, ...]], float, int]:
    """Final bars, and an arrival sequence with bounded disorder (inserts), drafts later revised, redeliveries."""
    n = draw(st.integers(1, 70))
    gaps = draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    days = [D0 + dt.timedelta(days=sum(gaps[: i + 1])) for i in range(n)]
    final = {d: bar(d, draw(prices), draw(st.integers(0, 9)))[1:] for d in days}
    events: list[tuple[float, tuple[Any, ...]]] = []
    for i, d in enumerate(days):
        delay = draw(st.integers(0, 3))
        if draw(st.booleans()):  # a draft first, revised later with the final values
            events.append((i + delay, bar(d, draw(prices), draw(st.integers(0, 9)))))
            events.append((i + delay + draw(st.integers(0, 3)) + 0.5, (d, *final[d])))
        else:
            events.append((i + delay, (d, *final[d])))
        if draw(st.integers(0, 4)) == 0:  # redelivery of the final bar
            events.append((i + delay + draw(st.integers(1, 3)) + 0.7, (d, *final[d])))
    events.sort(key=lambda e: e[0])
    theta = draw(st.sampled_from([0.0, 0.05, 0.25]))
    return [e[1] for e in events], final, theta, draw(st.integers(0, 10**9))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario(), st.data())
def test_stream_with_revisions_equals_batch(sc: Any, data: st.DataObject) -> None:
    events, final, theta, _ = sc
    state = SymbolRebounds("SYM", threshold=theta, revision_horizon=10)
    sink = Sink()
    i = 0
    while i < len(events):
        size = data.draw(st.integers(1, 8))
        sink.take(state.apply(events[i : i + size]))
        i += size
        if data.draw(st.integers(0, 3)) == 0:  # restart from the serialised state
            state = SymbolRebounds.from_bytes(state.to_bytes())
    assert sink.rejected == []
    legs, states = expected(final, theta)
    assert sink.legs == legs
    assert sink.states == states
    assert sink.bars == ref_aggregates(final)
    assert state.bar_count == len(final)


@settings(max_examples=60, deadline=None)
@given(scenario())
def test_restart_gives_identical_output(sc: Any) -> None:
    events, _, theta, _ = sc
    a = SymbolRebounds("SYM", threshold=theta, revision_horizon=10)
    b = SymbolRebounds("SYM", threshold=theta, revision_horizon=10)
    for ev in events:
        ua = a.apply([ev])
        b = SymbolRebounds.from_bytes(b.to_bytes())
        ub = b.apply([ev])
        assert (ua.legs, ua.states, ua.bars) == (ub.legs, ub.states, ub.bars)
    assert a.to_bytes() == b.to_bytes()


def test_revision_older_than_horizon_is_rejected() -> None:
    state = SymbolRebounds("SYM", revision_horizon=5)
    days = [D0 + dt.timedelta(days=i) for i in range(40)]
    state.apply([(d, 10.0 + i % 3, 12.0 + i % 3, 9.0, 10.0 + i % 4, 1.0) for i, d in enumerate(days)])
    before = state.to_bytes()
    update = state.apply([(days[2], 50.0, 50.0, 50.0, 50.0, 1.0)])
    assert [r["reason"] for r in update.rejected] == ["revision-too-old"]
    assert update.legs == [] and update.accepted == 0
    assert state.to_bytes() == before
    # the most recent `revision_horizon` bars can always be revised
    ok = state.apply([(days[-5], 50.0, 50.0, 50.0, 50.0, 1.0)])
    assert ok.rejected == [] and ok.accepted == 1


def test_invalid_bars_are_rejected_with_reasons() -> None:
    state = SymbolRebounds("SYM")
    update = state.apply([
        (D0, 0.0, 1.0, 1.0, 1.0, 1.0),
        (D0, 1.0, 1.0, 2.0, 1.0, 1.0),
        (D0, float("nan"), 1.0, 1.0, 1.0, 1.0),
        (D0, 1.0, 1.0, 1.0, 1.0, -1.0),
    ])
    assert [r["reason"] for r in update.rejected] == [
        "non-positive-price", "high-below-low", "invalid", "negative-volume"]
    assert state.bar_count == 0 and update.states == []


def test_identical_redelivery_is_a_no_op() -> None:
    state = SymbolRebounds("SYM")
    bars = [(D0 + dt.timedelta(days=i), 1.0 + i % 2, 2.0 + i % 2, 1.0, 1.0 + i % 2, 5.0) for i in range(6)]
    state.apply(bars)
    again = state.apply(bars[-3:])
    assert again.accepted == 0 and again.legs == [] and again.bars == []


def test_memory_stays_bounded() -> None:
    state = SymbolRebounds("SYM", revision_horizon=60)
    for i in range(1000):
        state.apply([(D0 + dt.timedelta(days=i), 10.0 + i % 7, 11.0 + i % 7, 9.0, 10.0 + i % 5, 1.0)])
    assert len(state.to_bytes()) < 8000
    assert state.bar_count == 1000


def test_window_summary_counts_legs_ending_in_last_trading_days() -> None:
    dates = [D0 + dt.timedelta(days=i) for i in range(10)]
    legs = [
        {"end_date": dates[1], "pct": 5.0, "direction": "up"},
        {"end_date": dates[3], "pct": -2.0, "direction": "down"},
        {"end_date": dates[4], "pct": 4.0, "direction": "up"},
        {"end_date": dates[8], "pct": 2.0, "direction": "up"},
        {"end_date": dates[9], "pct": -1.0, "direction": "down", "deleted": True},
    ]
    s = window_summary(legs, dates, days=7)  # window: dates[3] .. dates[9]
    assert (s.up_count, s.up_mean_pct, s.down_count, s.down_mean_pct) == (2, 3.0, 1, -2.0)
    assert window_summary(legs, dates, days=0).up_count == 0


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 4), st.floats(1.0, 100.0)), min_size=1, max_size=60),
    st.lists(st.integers(1, 40), min_size=1, max_size=6),
    st.sampled_from([0.0, 0.03]),
    st.integers(1, 8),
)
def test_extend_equals_apply_for_appended_bars(
    steps: list[tuple[int, float]], cuts: list[int], theta: float, horizon: int,
) -> None:
    """The column fast path gives apply's update and state, call by call, and declines anything else."""
    day, bars = dt.date(2024, 1, 1).toordinal(), []
    for gap, close in steps:
        day += gap
        bars.append((day, close * 0.99, close * 1.02, close * 0.97, close, float(gap)))
    fast = SymbolRebounds("X", threshold=theta, revision_horizon=horizon)
    slow = SymbolRebounds("X", threshold=theta, revision_horizon=horizon)
    pos = 0
    for n in cuts:
        chunk = bars[pos:pos + n]
        pos += n
        if not chunk:
            break
        days, o, h, lo, c, v = (list(col) for col in zip(*chunk, strict=True))
        got = fast.extend(days, o, h, lo, c, v)
        want = slow.apply([(dt.date.fromordinal(b[0]), *b[1:]) for b in chunk], validated=True)
        assert got == want
        assert fast.to_bytes() == slow.to_bytes()
        # a revision of the last bar, a duplicate date or an unsorted batch is not an append
        assert fast.extend(days[-1:], o[-1:], h[-1:], lo[-1:], c[-1:], v[-1:]) is None
        if len(days) > 1:
            assert fast.extend(days[::-1], o, h, lo, c, v) is None
        assert fast.to_bytes() == slow.to_bytes()
