"""The transform's Faust-free processing core: batches in, records out, state through a store.

Streaming through the processors in arbitrary message batches, with revisions and redeliveries and
restarts (state only via the store's bytes), must give what one batch run of the algorithms gives.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from turnpoint.core.algorithms import SeriesCalendar, SymbolRebounds
from turnpoint.transform.bars import BarsProcessor
from turnpoint.transform.processing import DictStore, InMessage, TopicNames
from turnpoint.transform.readings import CountsProcessor, ReadingsProcessor
from turnpoint.transform.settings import TransformOptions

NAMES = TopicNames("t.")


def _msg(topic: str, key: str, items: list[dict[str, Any]] | bytes, offset: int = 0) -> InMessage:
    value = items if isinstance(items, bytes) else orjson.dumps({"v": 1, "items": items})
    return InMessage(topic, 0, offset, key.encode(), value)


def _bars(conformance_dir: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    with (conformance_dir / "market.csv").open() as f:
        for r in csv.DictReader(f):
            bar = {"symbol": r["symbol"], "date": r["date"],
                   **{k: float(r[k]) for k in ("open", "high", "low", "close", "volume")}}
            out.setdefault(r["symbol"], []).append(bar)
    return out


def _decoded(records: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    return [item for _, value in records for item in orjson.loads(value)["items"]]


def test_streamed_bars_with_revisions_equal_one_batch_run(conformance_dir: Path) -> None:
    rng = random.Random(5)
    options = TransformOptions(threshold=0.0, revision_horizon=20)
    by_symbol = _bars(conformance_dir)
    final: dict[str, dict[str, dict[str, Any]]] = {}
    messages: list[InMessage] = []
    for symbol, bars in list(by_symbol.items())[:3]:
        i = 0
        while i < len(bars):
            n = rng.randint(1, 40)
            chunk = [dict(b) for b in bars[i:i + n]]
            i += n
            messages.append(_msg("t.turnpoint.bars.v1", symbol, chunk))
            # a daily job re-sends the last few days with corrected closes (revisions) and identical copies
            resend = []
            for b in bars[max(0, i - 3):i]:
                r = dict(b)
                r["close"] = min(r["high"], max(r["low"], round(r["close"] * rng.uniform(0.99, 1.01), 2)))
                resend.append(r)
            messages.append(_msg("t.turnpoint.bars.v1", symbol, resend))
            messages.append(_msg("t.turnpoint.bars.v1", symbol, resend))
        final[symbol] = {}
    for m in messages:
        for item in orjson.loads(m.value)["items"]:  # type: ignore[arg-type]
            final[item["symbol"]][item["date"]] = item

    store = DictStore()
    legs: dict[tuple[str, str, str], dict[str, Any]] = {}
    states: dict[tuple[str, str], dict[str, Any]] = {}
    pos = 0
    while pos < len(messages):
        take = rng.randint(1, 7)
        processor = BarsProcessor(options, NAMES)  # a fresh worker each batch: state only via the store
        out = processor.process(messages[pos:pos + take], store)
        pos += take
        assert not out.dead
        for leg in _decoded(out.records.get("t.turnpoint.legs.v1", [])):
            key = (leg["symbol"], leg["gtype"], leg["start_date"])
            if leg["deleted"]:
                legs.pop(key, None)
            else:
                legs[key] = leg
        for st in _decoded(out.records.get("t.turnpoint.rebound-states.v1", [])):
            states[(st["symbol"], st["gtype"])] = st

    expected_legs: dict[tuple[str, str, str], dict[str, Any]] = {}
    expected_states: dict[tuple[str, str], dict[str, Any]] = {}
    for symbol, by_date in final.items():
        ref = SymbolRebounds(symbol, threshold=0.0, revision_horizon=10_000)
        rows = [by_date[d] for d in sorted(by_date)]
        update = ref.apply((dt.date.fromisoformat(b["date"]), b["open"], b["high"], b["low"], b["close"], b["volume"])
                           for b in rows)
        for leg in orjson.loads(orjson.dumps(update.legs)):
            expected_legs[(leg["symbol"], leg["gtype"], leg["start_date"])] = leg
        for st in orjson.loads(orjson.dumps(update.states)):
            expected_states[(st["symbol"], st["gtype"])] = st
    assert len(expected_legs) > 100
    assert legs == expected_legs
    assert states == expected_states


def test_bad_bars_are_dead_lettered_with_reasons() -> None:
    processor = BarsProcessor(TransformOptions(revision_horizon=2), NAMES)
    store = DictStore()
    good = [{"symbol": "A", "date": f"2024-01-{d:02d}", "open": 10, "high": 11, "low": 9, "close": 10 + d / 10,
             "volume": 1} for d in range(2, 12)]
    msgs = [
        _msg("t.turnpoint.bars.v1", "A", good),
        _msg("t.turnpoint.bars.v1", "A", b"not json", 1),
        _msg("t.turnpoint.bars.v1", "A", [{**good[0], "date": "2024-02-01", "high": 8}], 2),
        _msg("t.turnpoint.bars.v1", "A", [{**good[0], "date": "2024-02-02", "close": -1}], 3),
        _msg("t.turnpoint.bars.v1", "A", [{**good[0], "symbol": "B", "date": "2024-02-03"}], 4),
    ]
    out = processor.process(msgs, store)
    dead = _decoded(out.records["t.turnpoint.dlq.bars.v1"])
    reasons = sorted(d["reason"] for d in dead)
    assert reasons == ["invalid", "invalid", "key-mismatch", "unparseable"]
    assert all(d["source_topic"] == "t.turnpoint.bars.v1" and d["payload"] for d in dead)
    assert {d["offset"] for d in dead} == {1, 2, 3, 4}
    # a revision far older than the 2-bar in-memory tail is applied exactly, not refused
    old = processor.process([_msg("t.turnpoint.bars.v1", "A", [{**good[0], "close": 10.9}], 5)], store)
    assert not old.dead
    assert [p["close"] for p in _decoded(old.records["t.turnpoint.prices.v1"]) if p["interval"] == "day"] == [10.9]
    prices = _decoded(out.records["t.turnpoint.prices.v1"])
    assert {p["start"] for p in prices if p["interval"] == "day"} == {b["date"] for b in good}


def _readings(conformance_dir: Path) -> list[dict[str, Any]]:
    with (conformance_dir / "readings.csv").open() as f:
        return [{"series": r["series"], "ts": r["ts"], "value": float(r["value"])} for r in csv.DictReader(f)]


def test_streamed_readings_equal_one_batch_run(conformance_dir: Path) -> None:
    rng = random.Random(9)
    readings = _readings(conformance_dir)[:6000]
    msgs = [_msg("t.turnpoint.readings.v1", r["series"], [r], i) for i, r in enumerate(readings)]
    msgs += [msgs[i] for i in rng.sample(range(len(msgs)), 200)]  # redeliveries count once
    store = DictStore()
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    outliers: dict[tuple[str, str], dict[str, Any]] = {}
    pos = 0
    while pos < len(msgs):
        take = rng.randint(1, 900)
        out = ReadingsProcessor(TransformOptions(), NAMES, "Asia/Seoul").process(msgs[pos:pos + take], store)
        pos += take
        for row in _decoded(out.records.get("t.turnpoint.stats.v1", [])):
            rows[(row["series"], row["period"], row["start"], row["weekday"])] = row
        for o in _decoded(out.records.get("t.turnpoint.outliers.v1", [])):
            outliers[(o["series"], o["ts"])] = o
    expected: dict[tuple[Any, ...], dict[str, Any]] = {}
    expected_outliers: dict[tuple[str, str], dict[str, Any]] = {}
    by_series: dict[str, list[tuple[dt.datetime, float]]] = {}
    for r in readings:
        by_series.setdefault(r["series"], []).append((dt.datetime.fromisoformat(r["ts"].replace("Z", "+00:00")), r["value"]))
    for series, values in by_series.items():
        update = SeriesCalendar(series, tz="Asia/Seoul").apply(values)
        for row in orjson.loads(orjson.dumps(update.rows)):
            expected[(row["series"], row["period"], row["start"], row["weekday"])] = row
        for o in orjson.loads(orjson.dumps(update.outliers)):
            expected_outliers[(o["series"], o["ts"])] = o
    assert rows.keys() == expected.keys()
    for key, row in expected.items():
        for col in ("count", "min", "max"):
            assert rows[key][col] == row[col], (key, col)
        for col in ("mean", "std"):
            assert rows[key][col] == pytest.approx(row[col], rel=1e-9, abs=1e-12), (key, col)
    assert outliers.keys() == expected_outliers.keys()


def test_late_and_invalid_readings_are_dead_lettered() -> None:
    p = ReadingsProcessor(TransformOptions(), NAMES, "UTC", lateness_days=1)
    store = DictStore()
    msgs = [
        _msg("t.turnpoint.readings.v1", "s", [{"series": "s", "ts": "2025-03-10T00:00:00Z", "value": 1.0}], 0),
        _msg("t.turnpoint.readings.v1", "s", [{"series": "s", "ts": "2025-03-05T00:00:00Z", "value": 2.0}], 1),
        _msg("t.turnpoint.readings.v1", "s", [{"series": "s", "ts": "2025-03-10T00:00:00", "value": 2.0}], 2),
        _msg("t.turnpoint.readings.v1", "s", [{"series": "", "ts": "2025-03-10T00:00:00Z", "value": 2.0}], 3),
    ]
    out = p.process(msgs, store)
    dead = _decoded(out.records["t.turnpoint.dlq.readings.v1"])
    assert sorted(d["reason"] for d in dead) == ["invalid", "invalid", "late"]
    assert [d["offset"] for d in dead if d["reason"] == "late"] == [1]


def test_counts_become_readings() -> None:
    out = CountsProcessor(NAMES).process([
        _msg("t.turnpoint.counts.v1", "cam1", [{"camera": "cam1", "period_start": "2025-01-01T00:00:00+09:00",
                                               "period_end": "2025-01-01T00:15:00+09:00", "people": 3, "vehicle": 1}]),
    ])
    readings = _decoded(out.records["t.turnpoint.readings.v1"])
    assert {(r["series"], r["ts"], r["value"]) for r in readings} == {
        ("cam1/people", "2024-12-31T15:00:00Z", 3.0), ("cam1/vehicle", "2024-12-31T15:00:00Z", 1.0)}


@pytest.mark.parametrize(("threshold", "expected_file"), [(0.0, "expected_legs_theta0.csv"), (0.05, "expected_legs_theta005.csv")])
def test_streamed_conformance_market_file_gives_the_expected_legs(
    conformance_dir: Path, threshold: float, expected_file: str
) -> None:
    """market.csv in file order (with its late revisions) streamed in messages of up to 50 bars."""
    with (conformance_dir / "market.csv").open() as f:
        rows = [{"symbol": r["symbol"], "date": r["date"], **{k: float(r[k]) for k in ("open", "high", "low", "close", "volume")}}
                for r in csv.DictReader(f)]
    msgs: list[InMessage] = []
    run: list[dict[str, Any]] = []
    for row in rows:
        if run and (run[-1]["symbol"] != row["symbol"] or len(run) == 50):
            msgs.append(_msg("t.turnpoint.bars.v1", run[0]["symbol"], run, len(msgs)))
            run = []
        run.append(row)
    msgs.append(_msg("t.turnpoint.bars.v1", run[0]["symbol"], run, len(msgs)))
    store = DictStore()
    legs: dict[tuple[str, str, str], dict[str, Any]] = {}
    processor = BarsProcessor(TransformOptions(threshold=threshold), NAMES)
    for i in range(0, len(msgs), 13):
        for leg in _decoded(processor.process(msgs[i:i + 13], store).records.get("t.turnpoint.legs.v1", [])):
            key = (leg["symbol"], leg["gtype"], leg["start_date"])
            if leg["deleted"]:
                legs.pop(key, None)
            else:
                legs[key] = leg
    with (conformance_dir / expected_file).open() as f:
        expected = {(r["symbol"], r["gtype"], r["start_date"]): r for r in csv.DictReader(f)}
    gtypes = {k[1] for k in expected}
    got = {k: v for k, v in legs.items() if k[1] in gtypes}
    assert got.keys() == expected.keys()
    for key, row in expected.items():
        leg = got[key]
        assert (leg["end_date"], leg["bars"], leg["direction"]) == (row["end_date"], int(row["bars"]), row["direction"])
        for col in ("start_value", "end_value", "change", "pct"):
            assert leg[col] == pytest.approx(float(row[col]), rel=1e-9, abs=1e-9), (key, col)
