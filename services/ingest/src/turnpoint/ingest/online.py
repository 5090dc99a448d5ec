"""Optional online source: daily bars from Yahoo Finance via yfinance (`pip install turnpoint-ingest[online]`).

Never needed by tests. The download is written as a Yahoo-style CSV and published like any market file,
so validation, dead letters and the summary are the same.
"""

from __future__ import annotations

from pathlib import Path

from turnpoint.ingest.errors import InputFileError


def download_yahoo_csv(symbol: str, period: str, folder: Path) -> Path:
    """Write `folder/<symbol>.csv` (Date,Open,High,Low,Close,Adj Close,Volume) for the last `period` (1y, 5y...)."""
    try:
        import yfinance
    except ModuleNotFoundError:
        msg = "the online source needs yfinance: install the extra `turnpoint-ingest[online]` (uv sync --extra online)"
        raise InputFileError(msg) from None
    frame = yfinance.Ticker(symbol).history(period=period, interval="1d", auto_adjust=False)
    if frame.empty:
        msg = f"Yahoo Finance returned no bars for {symbol!r} over {period}; check the symbol (KRX: 005930.KS)"
        raise InputFileError(msg)
    path = folder / f"{symbol.replace('/', '_')}.csv"
    frame = frame.reset_index()
    frame["Date"] = frame["Date"].dt.strftime("%Y-%m-%d")
    frame[["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]].to_csv(path, index=False)
    return path
