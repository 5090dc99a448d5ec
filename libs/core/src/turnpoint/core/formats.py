"""Reading input files: encodings, the market CSV dialects, readings and symbol metadata.

Used by `turnpoint ingest` and `turnpoint batch` alike, so both read the same files the same way.

Market files come in three dialects, told apart by their header (case and spacing ignored):
  SPEC     symbol,date,open,high,low,close,volume
  Yahoo    Date,Open,High,Low,Close,Adj Close,Volume        (symbol from --symbol or the file name)
  Korean   날짜,시가,고가,저가,종가,거래량 (+ other columns)   (symbol from --symbol or the file name)
Unknown extra columns are ignored (Yahoo's `Adj Close`, KRX's 대비/등락률). Every data row becomes either an
item dict or a `Rejected` with its line number; the whole file is refused only when it cannot be read.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from turnpoint.core.errors import InputFileError
from turnpoint.core.rows import RowError, bar_dict, check_symbol, is_symbol, reading_dict

# canonical field -> accepted header spellings (lower-cased, spaces and underscores removed)
BAR_ALIASES: dict[str, tuple[str, ...]] = {
    "symbol": ("symbol", "ticker", "code", "종목코드", "단축코드"),
    "date": ("date", "datetime", "날짜", "일자", "거래일"),
    "open": ("open", "시가"),
    "high": ("high", "고가"),
    "low": ("low", "저가"),
    "close": ("close", "종가", "현재가"),
    "volume": ("volume", "거래량"),
}
READING_ALIASES: dict[str, tuple[str, ...]] = {
    "series": ("series",),
    "ts": ("ts", "timestamp", "time"),
    "value": ("value",),
    "unit": ("unit",),
}
SYMBOL_ALIASES: dict[str, tuple[str, ...]] = {
    "symbol": ("symbol", "ticker", "code", "종목코드", "단축코드"),
    "name": ("name", "종목명", "회사명"),
    "market": ("market", "시장", "시장구분"),
    "status": ("status", "상태"),
    "designations": ("designations", "designation", "지정", "지정사항"),
}


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row that failed validation: where it was, why, and its text (for the dead-letter topic)."""

    line: int
    reason: str
    detail: str
    raw: str


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when the first megabyte decodes as such, else CP949 (Korean Excel/KRX)."""
    with path.open("rb") as fh:
        sample = fh.read(1 << 20)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return "cp949"
    return "utf-8-sig"


def _norm(name: str) -> str:
    return name.strip().lstrip("\ufeff").lower().replace(" ", "").replace("_", "")


def header_map(header: list[str], aliases: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Canonical field -> column index for the columns present."""
    index = {_norm(h): i for i, h in enumerate(header)}
    found: dict[str, int] = {}
    for field, names in aliases.items():
        for n in names:
            if _norm(n) in index:
                found[field] = index[_norm(n)]
                break
    return found


def symbol_from_filename(path: Path) -> str:
    """`AAPL.csv` -> AAPL, `005930_krx.csv` -> 005930: the name up to the first `_` or space."""
    candidate = path.stem.split("_")[0].split(" ")[0]
    if is_symbol(candidate):
        return candidate
    msg = f"{path}: the file has no symbol column and its name does not start with a symbol; pass --symbol"
    raise InputFileError(msg)


class _Tap:
    """Iterates a text file's lines and remembers the last one, so rejections can carry the raw row."""

    __slots__ = ("fh", "last")

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.last = ""

    def __iter__(self) -> _Tap:
        return self

    def __next__(self) -> str:
        self.last = next(self.fh)
        return self.last


@dataclass
class CsvSource:
    """An open CSV file with a tap on its raw lines; use as a context manager."""

    path: Path

    def __enter__(self) -> CsvSource:
        if not self.path.is_file():
            msg = f"{self.path}: no such file"
            raise InputFileError(msg)
        self._fh = self.path.open(encoding=detect_encoding(self.path), newline="")
        self.tap = _Tap(self._fh)
        self.reader = csv.reader(self.tap)
        try:
            self.header = next(self.reader)
        except StopIteration:
            self.close()
            msg = f"{self.path}: the file is empty; expected a header row"
            raise InputFileError(msg) from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._fh.close()

    @property
    def line(self) -> int:
        return self.reader.line_num

    def rest(self) -> list[list[str]]:
        """Every remaining row at once, read by the csv module straight from the file (no line tap, so no
        line numbers or raw text: for callers that re-read the file row by row when a row is bad)."""
        return list(csv.reader(self._fh))

    def raw(self) -> str:
        return self.tap.last.rstrip("\r\n")


def _require(path: Path, found: dict[str, int], needed: tuple[str, ...], header: list[str], kind: str) -> None:
    missing = [f for f in needed if f not in found]
    if missing:
        msg = (f"{path}: not a {kind} file: header {','.join(header)!r} lacks column(s) {', '.join(missing)}; "
               f"see docs/ingest.md for the accepted columns")
        raise InputFileError(msg)


def market_dialect(found: dict[str, int], header: list[str]) -> str:
    if any(any("\uac00" <= ch <= "\ud7a3" for ch in h) for h in header):
        return "krx-csv"
    if "adjclose" in {_norm(h) for h in header}:
        return "yahoo-csv"
    return "csv"


def market_columns(src: CsvSource, symbol: str | None) -> tuple[dict[str, int], str, str | None]:
    """The columns of a market file (field -> index), its dialect, and the fixed symbol of a one-symbol file."""
    found = header_map(src.header, BAR_ALIASES)
    _require(src.path, found, ("date", "open", "high", "low", "close"), src.header, "market")
    source = market_dialect(found, src.header)
    fixed: str | None = None
    if "symbol" not in found:
        fixed = check_symbol(symbol) if symbol else symbol_from_filename(src.path)
    elif symbol:
        msg = f"{src.path}: the file has a symbol column; drop --symbol (it is for files of one symbol)"
        raise InputFileError(msg)
    return found, source, fixed


def reading_columns(src: CsvSource) -> dict[str, int]:
    """The columns of a readings file (field -> index)."""
    found = header_map(src.header, READING_ALIASES)
    _require(src.path, found, ("series", "ts", "value"), src.header, "readings")
    return found


def read_bars(path: Path, symbol: str | None = None) -> Iterator[dict[str, Any] | Rejected]:
    """Bars of a market file in file order (valid rows as `Bar` dicts, invalid ones as `Rejected`)."""
    with CsvSource(path) as src:
        found, source, fixed = market_columns(src, symbol)
        i_sym = found.get("symbol")
        i_d, i_o, i_h, i_l, i_c = (found[k] for k in ("date", "open", "high", "low", "close"))
        i_v = found.get("volume")
        width = max(found.values()) + 1
        checked: set[str] = set()  # symbols already validated (the regex is a third of a row's cost)
        for row in src.reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            try:
                if len(row) < width:
                    reason = "short-row"
                    raise RowError(reason, f"{len(row)} columns, expected at least {width}")
                if fixed is not None:
                    sym = fixed
                else:
                    sym = row[i_sym]  # type: ignore[index]
                    if sym not in checked:
                        sym = check_symbol(sym)
                        checked.add(sym)
                yield bar_dict(sym, row[i_d], row[i_o], row[i_h], row[i_l], row[i_c],
                               row[i_v] if i_v is not None else None, source)
            except RowError as exc:
                yield Rejected(src.line, exc.reason, str(exc), src.raw())


def read_readings(path: Path, source: str | None = None) -> Iterator[dict[str, Any] | Rejected]:
    """Readings of a sensor log (SPEC section 2: series,ts,value[,unit])."""
    with CsvSource(path) as src:
        found = reading_columns(src)
        i_s, i_t, i_v = found["series"], found["ts"], found["value"]
        i_u = found.get("unit")
        width = max(found.values()) + 1
        for row in src.reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            try:
                if len(row) < width:
                    reason = "short-row"
                    raise RowError(reason, f"{len(row)} columns, expected at least {width}")
                yield reading_dict(row[i_s], row[i_t], row[i_v], row[i_u] if i_u is not None else None, source)
            except RowError as exc:
                yield Rejected(src.line, exc.reason, str(exc), src.raw())


STATUS_WORDS = {
    "listed": "listed", "상장": "listed", "active": "listed",
    "delisted": "delisted", "상장폐지": "delisted",
    "suspended": "suspended", "거래정지": "suspended", "halted": "suspended",
}


def read_symbols(path: Path) -> Iterator[dict[str, Any] | Rejected]:
    """Symbol metadata: symbol,name,market,status,designations (designations separated by `;` or `|`)."""
    with CsvSource(path) as src:
        found = header_map(src.header, SYMBOL_ALIASES)
        _require(path, found, ("symbol",), src.header, "symbols")

        def col(row: list[str], field: str) -> str:
            i = found.get(field)
            return row[i].strip() if i is not None and i < len(row) else ""

        for row in src.reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            try:
                sym = check_symbol(col(row, "symbol"))
                status_text = col(row, "status") or "listed"
                status = STATUS_WORDS.get(status_text.lower())
                if status is None:
                    reason = "bad-status"
                    raise RowError(reason, f"status {status_text!r} is not one of listed, delisted, suspended")
                raw_d = col(row, "designations").replace("|", ";")
                designations = [d.strip() for d in raw_d.split(";") if d.strip()]
                yield {"symbol": sym, "name": col(row, "name"), "market": col(row, "market").upper(),
                       "status": status, "designations": designations}
            except RowError as exc:
                yield Rejected(src.line, exc.reason, str(exc), src.raw())
