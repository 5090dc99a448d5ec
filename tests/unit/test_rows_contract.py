"""The one row layer (turnpoint.core.rows / formats / tables) against the contracts, with hypothesis.

`turnpoint batch` is the oracle of the end-to-end checks, and it reads files through
`core.tables`: its column-at-a-time fast path must hold exactly what the row-by-row readers
(`core.formats.read_bars` / `read_readings`, which `turnpoint ingest` publishes) hold, and those rows
must be exactly what the `Bar` / `Reading` contracts accept.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from turnpoint.core.contracts import Bar, Reading
from turnpoint.core.formats import Rejected, read_bars, read_readings
from turnpoint.core.rows import is_symbol
from turnpoint.core.tables import _fast_bars, _fast_readings, micros, read_bar_table, read_reading_table

pytestmark = pytest.mark.unit
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

numbers = st.one_of(
    st.floats(min_value=1e-3, max_value=1e6).map(repr),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-3, 5000).map(str),
    st.sampled_from(["", "abc", "1e400", "-0", " 7 ", "1_000", "1,234", "0x10", "nan"]),
)
dates = st.one_of(st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)).map(str),
                  st.sampled_from(["2024-02-30", "x", "2024/01/02", "20240102", "2024.01.03", "2024-W01-1"]))
symbols = st.one_of(st.sampled_from(["AAA", "BRK.B", "005930", "^KS11"]),
                    st.sampled_from(["", "a b", "x" * 33, "A\n", " AAA", "Ω"]))
_NAIVE_BOUNDS = (dt.datetime(1990, 1, 1), dt.datetime(2100, 1, 1))  # noqa: DTZ001 (hypothesis wants naive bounds)
instants = st.one_of(
    st.datetimes(*_NAIVE_BOUNDS, timezones=st.just(dt.UTC)).map(lambda t: t.isoformat().replace("+00:00", "Z")),
    st.sampled_from(["2024-01-01T00:00:00", "2024-01-01T09:00+09:00", "x", "2024-03-10T02:30:00-05:00"]))
series = st.sampled_from(["s/1", "plant0/people", "x" * 200, "x" * 201, "", "a,b", "ü"])


def _file(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _bar_model(row: dict[str, object]) -> Bar | None:
    try:
        return Bar.model_validate(row)
    except ValidationError:
        return None


@PROPS
@given(rows=st.lists(st.tuples(symbols, dates, numbers, numbers, numbers, numbers, numbers).map(list),
                     min_size=1, max_size=8),
       clean=st.booleans())
def test_bar_table_holds_what_the_row_reader_and_the_contract_accept(
        rows: list[list[str]], clean: bool, tmp_path: Path) -> None:
    if clean:  # mostly well-formed files, so the column-at-a-time path is exercised too
        rows = [[r[0] if is_symbol(r[0]) else "AAA", f"2024-01-0{1 + i % 9}", "10", "12", "9", "11", "5"]
                for i, r in enumerate(rows)]
    path = _file(tmp_path / "bars.csv", ["symbol", "date", "open", "high", "low", "close", "volume"], rows)
    out = list(read_bars(path))
    accepted = [r for r in out if not isinstance(r, Rejected)]
    for item in accepted:  # what the row reader accepts, the contract accepts with the same values
        assert _bar_model(item) is not None, item
    keys = ["symbol", "date", "open", "high", "low", "close", "volume"]
    for raw, r in zip(rows, out, strict=True):  # and what it rejects, the contract refuses
        if isinstance(r, Rejected):
            try:
                fields = {**dict(zip(keys, raw, strict=True)), **{k: float(v) for k, v in zip(keys[2:], raw[2:], strict=True)}}
            except ValueError:
                continue
            assert _bar_model(fields) is None, (raw, r)
    table = read_bar_table(path)
    fast = _fast_bars(path, None)
    assert fast is None or fast == table
    assert table.read == len(rows) and [(r.line, r.reason) for r in table.rejected] == [
        (r.line, r.reason) for r in out if isinstance(r, Rejected)]
    got = list(zip(table.symbol, table.day, table.open, table.high, table.low, table.close, table.volume,
                   strict=True))
    want = [(b["symbol"], dt.date.fromisoformat(b["date"]).toordinal(), b["open"], b["high"], b["low"], b["close"],
             b["volume"]) for b in accepted]
    assert got == want


@PROPS
@given(rows=st.lists(st.tuples(series, instants, numbers).map(list), min_size=1, max_size=8))
def test_reading_table_holds_what_the_row_reader_and_the_contract_accept(rows: list[list[str]], tmp_path: Path) -> None:
    path = _file(tmp_path / "readings.csv", ["series", "ts", "value"], rows)
    out = list(read_readings(path))
    accepted = [r for r in out if not isinstance(r, Rejected)]
    for raw, r in zip(rows, out, strict=True):
        try:
            model = Reading(series=raw[0], ts=raw[1], value=float(raw[2]))
        except (ValueError, ValidationError):
            model = None
        if isinstance(r, Rejected):
            assert model is None, (raw, r)
        else:
            assert model is not None and Reading.model_validate(r) == model
    table = read_reading_table(path)
    fast = _fast_readings(path)
    assert fast is None or fast == table
    want = [(r["series"], micros(dt.datetime.fromisoformat(r["ts"])), r["value"]) for r in accepted]
    assert list(zip(table.series, table.micros, table.value, strict=True)) == want


def test_clean_files_take_the_column_path(tmp_path: Path) -> None:
    bars = _file(tmp_path / "b.csv", ["Symbol", "Date", "Open", "High", "Low", "Close", "Volume"],
                 [["AAA", "2024-01-02", "10", "12", "9", "11", "100"], ["BBB", "2024/01/03", "1.5", "2", "1", "1.5", "0"]])
    fast = _fast_bars(bars, None)
    assert fast is not None and fast.symbol == ["AAA", "BBB"] and fast.day[1] == dt.date(2024, 1, 3).toordinal()
    readings = _file(tmp_path / "r.csv", ["series", "ts", "value"], [["a", "2024-01-01T09:00:00+09:00", "1.5"]])
    fast_r = _fast_readings(readings)
    assert fast_r is not None and fast_r.micros == [micros(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))]


@pytest.mark.parametrize("name", ["A\n", "AAA\n", "", "x" * 33, "a b", "Ω", 7, None])
def test_the_symbol_rule_is_the_contracts(name: object) -> None:
    """One symbol rule: `\\n` at the end used to pass the regex's `$` in the fast paths, not the contract."""
    from turnpoint.transform.fastpath import fast_rows

    with pytest.raises(ValidationError):
        Bar(symbol=name, date="2024-01-02", open=1, high=1, low=1, close=1)  # type: ignore[arg-type]
    assert not is_symbol(name)
    assert fast_rows([{"symbol": name, "date": "2024-01-02", "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
                       "volume": 0.0}], set()) is None


def test_an_iso_week_date_is_published_as_a_calendar_date() -> None:
    """`date.fromisoformat` takes 2024-W01-1 (10 characters); the row went out unchanged and `Bar` refused it."""
    from turnpoint.core.rows import bar_dict

    row = bar_dict("AAA", "2024-W01-1", "1", "1", "1", "1", "0", None)
    assert row["date"] == "2024-01-01" and Bar.model_validate(row).date == dt.date(2024, 1, 1)


def _slow_readings(path: Path) -> list[tuple[str, int, float]]:
    return [(r["series"], micros(dt.datetime.fromisoformat(r["ts"])), r["value"]) for r in read_readings(path)
            if not isinstance(r, Rejected)]


plain_fields = st.sampled_from(["s/1", "2024-01-01T00:00:00Z", "2024-01-02T09:00:00+09:00", "1.5", "-0", "", "x y",
                                "7", "nan"])


@PROPS
@given(rows=st.lists(st.lists(plain_fields, min_size=0, max_size=5), min_size=0, max_size=8),
       trailing=st.booleans(), header=st.sampled_from(["series,ts,value", "series,ts,value,unit", "ts,series,value"]))
def test_plain_text_is_split_as_the_csv_module_splits_it(rows: list[list[str]], trailing: bool, header: str,
                                                         tmp_path: Path) -> None:
    """Plain bodies (no quote, no CR) are split with str methods; whatever the rows' widths, blank lines or
    the last newline, the column path holds what the row reader accepts, or declines."""
    path = tmp_path / "r.csv"
    path.write_text(header + "\n" + "\n".join(map(",".join, rows)) + ("\n" if trailing else ""), encoding="utf-8")
    table = read_reading_table(path)
    assert list(zip(table.series, table.micros, table.value, strict=True)) == _slow_readings(path)
    fast = _fast_readings(path)
    assert fast is None or fast == table
    width = len(header.split(","))
    clean = [len(r) == width and r[0] == "s/1" and r[1].startswith("2024") and r[2] == "1.5" for r in rows]
    if header.startswith("series,ts") and rows and all(clean):
        assert fast is not None  # a clean file takes the column path


# numbers as a file may spell them, with the characters on which numpy's reader and `float` could disagree
# (\x1c-\x1f around a number, which numpy strips and `float` refuses; underscores and non-ASCII digits,
# which `float` takes and numpy refuses; NUL; Unicode spaces)
_around = st.sampled_from(["", "", "", " ", "\t", "\x1c", "\x1f", "\x00", "\u3000", "\xa0", "+"])
number_texts = st.tuples(_around, st.sampled_from(["1", "10", "1.5", "2e1", "0.1", "1_0", "\u0663", "inf", "nan", "-1"]),
                         _around).map("".join)
odd_texts = st.one_of(st.sampled_from(["AAA", "B.X", " AAA", "AAA\x00", "A\x1cA", "2024-01-02", "2024/01/03",
                                       "2024-01-0\x00", "\u3000"]), st.text(max_size=3))


@PROPS
@given(rows=st.lists(st.tuples(odd_texts, st.sampled_from(["2024-01-02", "2024-01-03", "20240104", "2024-01-02\x1c"]),
                               number_texts, number_texts, number_texts, number_texts,
                               st.one_of(number_texts, st.just("7"))).map(list), min_size=1, max_size=3),
       clean=st.booleans())
def test_numpys_reader_makes_the_table_python_splitting_makes(rows: list[list[str]], clean: bool,
                                                              tmp_path: Path) -> None:
    """A plain body is parsed by numpy's C reader (`_numpy_bars`), else split in Python: same table, or None."""
    if clean:
        rows = [[r[0] if is_symbol(r[0]) else "AAA", r[1], "10", "12", "9", r[5], r[6]] for r in rows]
    path = tmp_path / "bars.csv"
    path.write_text("symbol,date,open,high,low,close,volume\n" + "\n".join(map(",".join, rows)) + "\n",
                    encoding="utf-8")
    assert _fast_bars(path, None) == _fast_bars(path, None, numpy_reader=False)


def test_clean_files_take_numpys_reader(tmp_path: Path) -> None:
    from turnpoint.core import tables

    bars = _file(tmp_path / "b.csv", ["symbol", "date", "open", "high", "low", "close", "volume"],
                 [["AAA", "2024-01-02", "10", "12", "9", "11", "100"], ["BBB", "2024/01/03", "1.5", "2", "1", "1.5", "0"]])
    taken = []
    real = tables._numpy_columns

    def spy(*args: object) -> object:
        taken.append(real(*args))  # type: ignore[arg-type]
        return taken[-1]

    tables._numpy_columns = spy  # type: ignore[assignment]
    try:
        assert _fast_bars(bars, None) == _fast_bars(bars, None, numpy_reader=False)
    finally:
        tables._numpy_columns = real  # type: ignore[assignment]
    assert len(taken) == 1 and taken[0] is not None
