"""Market, readings and symbols files: dialects, encodings and row rejection with line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from turnpoint.core.contracts import Bar, Reading, SymbolInfo
from turnpoint.ingest.errors import InputFileError
from turnpoint.ingest.formats import Rejected, read_bars, read_readings, read_symbols

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def _split(rows):  # type: ignore[no-untyped-def]
    ok = [r for r in rows if not isinstance(r, Rejected)]
    bad = [r for r in rows if isinstance(r, Rejected)]
    return ok, bad


def test_spec_columns_are_valid_bars() -> None:
    ok, bad = _split(list(read_bars(SAMPLES / "bars.csv")))
    assert not bad
    assert {b["symbol"] for b in ok} == {"005930", "AAPL"}
    assert [Bar.model_validate(b).model_dump(mode="json") for b in ok] == ok


def test_yahoo_export_takes_symbol_from_file_name_and_ignores_adj_close() -> None:
    ok, bad = _split(list(read_bars(SAMPLES / "AAPL.csv")))
    assert not bad and len(ok) == 5
    assert ok[0] == {"symbol": "AAPL", "date": "2024-01-02", "open": 187.149994, "high": 188.440002,
                     "low": 183.889999, "close": 185.639999, "volume": 82488700.0, "source": "yahoo-csv"}


def test_korean_cp949_export_with_thousands_separators() -> None:
    ok, bad = _split(list(read_bars(SAMPLES / "005930_krx.csv")))
    assert not bad
    assert [b["date"] for b in ok] == ["2024-01-05", "2024-01-04", "2024-01-03", "2024-01-02"]
    assert ok[-1] == {"symbol": "005930", "date": "2024-01-02", "open": 78200.0, "high": 79800.0, "low": 78200.0,
                      "close": 79600.0, "volume": 17142847.0, "source": "krx-csv"}


def test_symbol_argument_overrides_file_name(tmp_path: Path) -> None:
    f = tmp_path / "내보내기.csv"
    f.write_text((SAMPLES / "AAPL.csv").read_text())
    with pytest.raises(InputFileError, match="--symbol"):
        list(read_bars(f))
    ok, _ = _split(list(read_bars(f, symbol="MSFT")))
    assert {b["symbol"] for b in ok} == {"MSFT"}


def test_bad_rows_are_rejected_with_line_numbers_and_raw_text() -> None:
    ok, bad = _split(list(read_bars(SAMPLES / "bad_bars.csv")))
    assert len(ok) == 1
    assert [(r.line, r.reason) for r in bad] == [
        (3, "bad-date"), (4, "bad-price"), (5, "inconsistent"), (6, "bad-symbol"), (7, "short-row"),
    ]
    assert bad[0].raw == "005930,2024-13-01,78500,78800,77000,77000,21753644"


def test_unknown_header_refuses_the_file(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(InputFileError, match=r"lacks column\(s\) date, open, high, low, close"):
        list(read_bars(f))


def test_readings_require_an_offset() -> None:
    ok, bad = _split(list(read_readings(SAMPLES / "readings.csv")))
    assert not bad and len(ok) == 5
    assert ok[2]["ts"] == "2024-01-01T00:02:00Z"
    for r in ok:
        Reading.model_validate(r)


def test_readings_rejections(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_text("series,ts,value\ns,2024-01-01T00:00:00,1\ns,2024-01-01T00:00:00Z,x\n,2024-01-01T00:00:00Z,1\n"
                 "s,2024-01-01T00:00:00Z,nan\ns,2024-01-01T00:00:00Z,1,5\n")
    ok, bad = _split(list(read_readings(f)))
    assert [(r.line, r.reason) for r in bad] == [(2, "no-offset"), (3, "bad-number"), (4, "bad-series"),
                                                 (5, "bad-number")]
    assert len(ok) == 1  # extra columns are ignored


def test_symbols_file() -> None:
    ok, bad = _split(list(read_symbols(SAMPLES / "symbols.csv")))
    assert not bad
    halted = next(s for s in ok if s["symbol"] == "900110")
    assert halted["status"] == "suspended"
    assert halted["designations"] == ["trading-halt", "administrative-issue"]
    for s in ok:
        SymbolInfo.model_validate(s)
