"""Hypothesis fuzzing of every ingest parser: serial line protocols, market/readings CSV rows, HTTP bodies.

For every input: no crash, and exactly one outcome — accepted (and then valid under the record contract)
or rejected with a reason (what the services dead-letter or answer 4xx). accepted + rejected = sent.
Blank lines/rows are the one documented exception: they are no record and are skipped.

2,000 examples per parser by default; `TURNPOINT_FUZZ_EXAMPLES=100000` for the long run.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from turnpoint.core.contracts import Bar, Count, Reading
from turnpoint.ingest.formats import Rejected, read_bars, read_readings
from turnpoint.ingest.serial.config import PortConfig
from turnpoint.ingest.serial.lines import LinePortReader
from turnpoint.ingest.write_api.app import parse_records
from turnpoint.ingest.write_api.problems import Problem

EXAMPLES = int(os.environ.get("TURNPOINT_FUZZ_EXAMPLES", "2000"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.function_scoped_fixture])

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers().map(str),
                    st.sampled_from(["", " ", "1,5", "1e309", "-0", "0x10", "٣", "1_000", "NaN", "inf", "+-1"]))
instants = st.one_of(st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
                     st.datetimes().map(lambda d: d.isoformat()), st.text(max_size=30),
                     st.sampled_from(["2024-01-01T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T25:00Z"]))
junk = st.text(max_size=40)


class CountingSink:
    def __init__(self) -> None:
        self.readings: list[dict[str, Any]] = []
        self.dead: list[str] = []
        self.jobs: list[dict[str, Any]] = []  # the port's freshness records (turnpoint.jobs.v1), not readings

    def send(self, spec: Any, key: str, items: list[dict[str, Any]]) -> None:
        (self.jobs if spec.name == "turnpoint.jobs.v1" else self.readings).extend(items)

    def dead_letter(self, spec: Any, reason: str, detail: str, payload: bytes | str, key: str | None = None) -> None:
        self.dead.append(reason)


PORTS = {
    "value": PortConfig(name="v", device="loop://", protocol="value", series="fz/value"),
    "csv": PortConfig(name="c", device="loop://", protocol="csv", columns=["ts", "v"], timestamp_field="ts",
                      fields={"v": {"series": "fz/csv"}}),
    "kv": PortConfig(name="k", device="loop://", protocol="kv", checksum="xor8", fields={"t": {"series": "fz/kv"}}),
    "json": PortConfig(name="j", device="loop://", protocol="json", fields={"t": {"series": "fz/json"}},
                       timestamp_field="ts"),
}


def _frame(protocol: str) -> st.SearchStrategy[bytes]:
    """Frames near the protocol's shape (so the parser's deeper paths run) mixed with raw bytes."""
    shaped = {
        "value": numbers.map(str.encode),
        "csv": st.tuples(instants, numbers).map(lambda t: f"{t[0]},{t[1]}".encode()),
        "kv": st.tuples(numbers, st.sampled_from(["", "*00", "*ZZ", "*"])).map(
            lambda t: _xor(f"t={t[0]}".encode()) if not t[1] else f"t={t[0]}{t[1]}".encode()),
        "json": st.one_of(st.tuples(numbers, instants).map(lambda t: orjson.dumps({"t": t[0], "ts": t[1]})),
                          st.recursive(st.none() | st.booleans() | st.floats() | st.text(max_size=5),
                                       lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c,
                                                                                           max_size=3),
                                       max_leaves=6).map(orjson.dumps)),
    }[protocol]
    return st.one_of(shaped, st.binary(max_size=60), junk.map(lambda s: s.encode("utf-8", "surrogatepass")))


def _xor(body: bytes) -> bytes:
    c = 0
    for b in body:
        c ^= b
    return body + b"*%02X" % c


@pytest.mark.parametrize("protocol", sorted(PORTS))
def test_serial_frames_are_accepted_or_dead_lettered_exactly(protocol: str) -> None:
    cfg = PORTS[protocol]
    seen = {"sent": 0, "blank": 0, "accepted": 0, "dead_lettered": 0}

    @FUZZ
    @given(frame=_frame(protocol))
    def run(frame: bytes) -> None:
        frame = frame.replace(b"\n", b" ")
        sink = CountingSink()
        reader = LinePortReader(cfg, sink)  # not started: feed() is the per-chunk path of the port thread
        rest = reader.feed(frame + b"\n")
        assert rest == b""
        if _blank_after_decode(frame, cfg):
            seen["blank"] += 1
            assert not sink.readings and not sink.dead
            return
        seen["sent"] += 1
        assert len(sink.readings) + len(sink.dead) == 1, (frame, sink.readings, sink.dead)
        seen["accepted"] += len(sink.readings)
        seen["dead_lettered"] += len(sink.dead)
        for item in sink.readings:
            Reading.model_validate(item)

    run()
    print(f"\nserial {protocol}: {seen}")
    assert seen["accepted"] + seen["dead_lettered"] == seen["sent"] > EXAMPLES // 2
    assert seen["accepted"] > 0 and seen["dead_lettered"] > 0, "both outcomes must be exercised"


def _blank_after_decode(frame: bytes, cfg: PortConfig) -> bool:
    line = frame.rstrip(b"\r\n")
    if cfg.checksum == "xor8":
        body, star, tail = line.rpartition(b"*")
        if not star or len(tail) != 2:
            return False
        try:
            if int(tail, 16) != int(_xor(body)[-2:], 16):
                return False
        except ValueError:
            return False
        line = body
    try:
        text = line.decode(cfg.encoding)
    except UnicodeDecodeError:
        return False
    return text.isprintable() and not text.strip()


cells = st.one_of(numbers, junk, instants)
prices = st.floats(min_value=0.01, max_value=1e7).map(lambda x: round(x, 4))


def _bar(symbol: str, day: Any, four: list[float], volume: float) -> dict[str, Any]:
    low, open_, close, high = sorted(four)
    return {"symbol": symbol, "date": day.isoformat(), "open": open_, "high": high, "low": low, "close": close,
            "volume": volume}


# valid bars, and valid bars with one field replaced by junk: random cells alone are almost never a valid bar,
# so without these the accepting path (and the checks right at its edge) would hardly run
plausible_bars = st.builds(_bar, st.sampled_from(["AAA", "005930", "BRK.B"]), st.dates(),
                           st.lists(prices, min_size=4, max_size=4), st.floats(0, 1e12))
near_bars = st.tuples(plausible_bars, st.sampled_from(list(Bar.model_fields)[:7]),
                      st.one_of(cells, st.none(), st.floats(), st.integers(-2**63, 2**63 - 1))).map(
    lambda t: {**t[0], t[1]: t[2]})
bar_rows = st.lists(st.one_of(
    st.tuples(st.sampled_from(["AAA", "005930", "", "a b", "x" * 40, "Ω"]), instants.map(lambda s: s[:10]),
              numbers, numbers, numbers, numbers, numbers).map(list),
    st.one_of(plausible_bars, near_bars).map(lambda b: ["" if v is None else str(v) for v in b.values()]),
    st.lists(cells, max_size=9)), min_size=1, max_size=30)
reading_rows = st.lists(st.one_of(
    st.tuples(st.sampled_from(["s/1", "", "x" * 201, "plant/ü"]), instants, numbers).map(list),
    st.lists(cells, max_size=5)), min_size=1, max_size=30)


def _write(tmp: Path, header: list[str], rows: list[list[str]]) -> tuple[Path, int]:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    sent = 0
    for row in rows:
        row = [c.replace("\x00", "") for c in row]
        w.writerow(row)
        sent += not (not row or (len(row) == 1 and not row[0].strip()))
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    return tmp, sent


@pytest.mark.parametrize("kind", ["market", "readings"])
def test_csv_rows_are_accepted_or_rejected_exactly(kind: str, tmp_path: Path) -> None:
    totals = {"rows": 0, "accepted": 0, "rejected": 0}
    header = ["symbol", "date", "open", "high", "low", "close", "volume"] if kind == "market" else ["series", "ts", "value"]
    reader, model, strategy = ((read_bars, Bar, bar_rows) if kind == "market" else (read_readings, Reading, reading_rows))

    # each example is a file of 1-30 rows (about 4 on average as hypothesis draws them): EXAMPLES // 2 files
    # give the EXAMPLES rows asserted below with a margin (EXAMPLES // 4 files gave 1,983-2,150 rows)
    @settings(FUZZ, max_examples=max(1, EXAMPLES // 2))
    @given(rows=strategy)
    def run(rows: list[list[str]]) -> None:
        path, sent = _write(tmp_path / f"{kind}.csv", header, rows)
        out = list(reader(path))
        accepted = [r for r in out if not isinstance(r, Rejected)]
        rejected = [r for r in out if isinstance(r, Rejected)]
        assert len(accepted) + len(rejected) == sent, (rows, out)
        assert all(r.reason for r in rejected)
        for item in accepted:
            model.model_validate(item)
        totals["rows"] += sent
        totals["accepted"] += len(accepted)
        totals["rejected"] += len(rejected)

    run()
    print(f"\ncsv {kind}: {totals}")
    assert totals["accepted"] + totals["rejected"] == totals["rows"] >= EXAMPLES
    assert totals["accepted"] > 0 and totals["rejected"] > 0, "both outcomes must be exercised"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=12)
reading_like = st.fixed_dictionaries({"series": st.one_of(st.just("s/1"), junk), "ts": instants,
                                      "value": st.one_of(st.floats(), st.text(max_size=5), st.none())},
                                     optional={"unit": junk, "extra": json_values})
count_like = st.one_of(
    st.fixed_dictionaries({"camera": junk, "period_start": instants, "period_end": instants,
                           "people": st.one_of(st.integers(-2**63, 2**63 - 1), st.floats()),
                           "vehicle": st.one_of(st.integers(-2**63, 2**63 - 1), st.floats())}),
    # valid periods: random instants are almost never ordered and aware together
    st.tuples(st.sampled_from(["gate-1", "lobby/cam 2", ""]),
              st.datetimes(timezones=st.timezones()), st.timedeltas(dt.timedelta(0), dt.timedelta(days=2)),
              st.integers(-2, 10**6), st.integers(-2, 10**6)).map(
        lambda t: {"camera": t[0], "period_start": t[1].isoformat(), "period_end": (t[1] + t[2]).isoformat(),
                   "people": t[3], "vehicle": t[4]}))


@pytest.mark.parametrize("model", [Reading, Count, Bar], ids=lambda m: m.__name__)
def test_http_bodies_are_accepted_or_refused_with_4xx(model: type) -> None:
    outcomes = {"accepted": 0, "refused": 0}
    shaped = {Reading: reading_like, Count: count_like, Bar: st.one_of(plausible_bars, near_bars)}[model]

    @FUZZ
    @given(body=st.one_of(st.binary(max_size=80), json_values.map(orjson.dumps),
                          st.lists(shaped, min_size=1, max_size=5).map(lambda xs: orjson.dumps({"items": xs})),
                          shaped.map(orjson.dumps)))
    @example(body=orjson.dumps({"series": "s/1", "ts": "0001-01-01T00:00:00+01:00", "value": 1.0}))
    @example(body=orjson.dumps({"camera": "c", "period_start": "0001-01-01T00:00:00+01:00",
                                "period_end": "2024-01-01T00:00:00Z", "people": 1, "vehicle": 0}))
    def run(body: bytes) -> None:
        try:
            records = parse_records(body, model, max_items=3)
        except Problem as p:
            assert p.status in (413, 422)
            outcomes["refused"] += 1
            return
        outcomes["accepted"] += 1
        for r in records:
            model.model_validate(r)

    run()
    print(f"\nhttp {model.__name__}: {outcomes}")
    assert outcomes["accepted"] + outcomes["refused"] >= EXAMPLES
    assert outcomes["accepted"] > 0 and outcomes["refused"] > 0, "both outcomes must be exercised"
