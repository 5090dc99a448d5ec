"""`turnpoint batch`: the stream algorithms run over files (SPEC section 4).

Input files are read by the row layer `turnpoint ingest` uses (:mod:`turnpoint.core.tables`), so every
file `ingest` reads works here too. The commands run the very rules the stream workers run; what a file
changes is ordering:

- **rebounds**: a later row for the same symbol+date revises the earlier one (last row in the file wins),
  then each symbol's final bars are fed in date order to :func:`turnpoint.core.algorithms.zigzag.advance`,
  the one place the zigzag rule is written (the stream's `SymbolRebounds` runs it too). So a revision
  anywhere in the file applies, however old (the conformance ``market.csv`` revises bars a year back at
  the end of the file; the stream would reject those as ``revision-too-old``). Default gtypes: all four.
- **stats / outliers**: readings are de-duplicated on (series, instant) (the last row in the file wins;
  redeliveries and replacements are counted in the summary), then folded per series in time order as
  :class:`SeriesCalendar` folds them (:mod:`turnpoint.core.algorithms.bulk`, equal to it bit for bit).
  A file is a complete record, so nothing is ``late`` in batch and every distinct reading counts.

Bad rows are reported on stderr as ``FILE:LINE: reason`` and counted in the final summary line. Exit
status: 0 on success; 1 when ``--max-rejected N`` is given and more than N rows were rejected (the output is
not written then); 2 when the input or output cannot be used at all (missing, unreadable, wrong header,
an output path that is a directory).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from turnpoint.cli.csvio import InputError, OutputError, check_output, write_columns, write_csv, write_lines

if TYPE_CHECKING:
    from turnpoint.core.tables import BarTable, ReadingTable

app = typer.Typer(no_args_is_help=True, help="Run the stream algorithms over CSV files (SPEC section 4).")

LEG_COLUMNS = ("symbol", "gtype", "start_date", "start_value", "end_date", "end_value", "bars", "change", "pct",
               "direction")
STAT_COLUMNS = ("series", "period", "start", "weekday", "count", "mean", "std", "min", "max")
OUTLIER_COLUMNS = ("series", "ts", "value", "mean", "std", "direction")
_GTYPES = ("open", "high", "low", "close")

InputOpt = typer.Option(..., "--input", "--file", "-i", help="Input CSV file (any format `turnpoint ingest` reads).")
OutputOpt = typer.Option(..., "--output", "-o", help="Output CSV file (overwritten).")
MaxRejectedOpt = typer.Option(None, "--max-rejected", min=0,
                              help="Exit 1 (writing nothing) once more than N rows were rejected. Default: no limit.")


PROGRESS_BYTES = 4 << 20  # inputs at least this large show their stages on a terminal (rich)


@contextlib.contextmanager
def _stage(input: Path, label: str) -> Iterator[None]:
    """Long work shows progress: a spinner with the elapsed time of each stage on stderr, for big inputs on
    a terminal (no output in pipes and files, and no rich import for small files)."""
    try:
        big = input.stat().st_size >= PROGRESS_BYTES and sys.stderr.isatty()
    except OSError:
        big = False
    if not big:
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        progress.add_task(f"{label} ({input.name})", total=None)
        yield


def _err(msg: str) -> None:
    sys.stderr.write(msg + "\n")


def _fail(exc: Exception) -> typer.Exit:
    _err(f"error: {exc}")
    return typer.Exit(2)


def _report(path: Path, rejected: list[Any], max_rejected: int | None) -> None:
    """Each rejected row on stderr with its line; exit 1 when more than ``max_rejected`` were rejected."""
    for r in rejected:
        _err(f"{path}:{r.line}: {r.reason}: {r.detail}")
    if max_rejected is not None and len(rejected) > max_rejected:
        _err(f"error: {len(rejected)} rows of {path} were rejected, more than --max-rejected {max_rejected}; "
             f"nothing written")
        raise typer.Exit(1)


def _bars(path: Path, symbol: str | None) -> BarTable:
    from turnpoint.core.tables import read_bar_table

    try:
        return read_bar_table(path, symbol)
    except InputError as exc:
        raise _fail(exc) from None


def _readings(path: Path) -> ReadingTable:
    from turnpoint.core.tables import read_reading_table

    try:
        return read_reading_table(path)
    except InputError as exc:
        raise _fail(exc) from None


def _output(path: Path) -> None:
    try:
        check_output(path)
    except OutputError as exc:
        raise _fail(exc) from None


def _tz(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        _err(f"error: unknown time zone {name!r}; use an IANA name such as UTC or Asia/Seoul")
        raise typer.Exit(2) from None
    return name


@app.command("rebounds")
def rebounds(
    input: Path = InputOpt,
    output: Path = OutputOpt,
    gtype: list[str] = typer.Option(  # noqa: B008
        list(_GTYPES), "--gtype", "-g", help="Graph type(s) to write: open, high, low, close (repeat). Default all."
    ),
    threshold: float = typer.Option(0.0, "--threshold", "-t", min=0.0,
                                    help="Reversal threshold theta, a fraction (0.05 = 5 %); the legs' pct column"
                                         " is in percent (5.0 = 5 %)."),
    symbol: str | None = typer.Option(None, "--symbol", "-s",
                                      help="Symbol of a one-symbol file without a symbol column (default: file name)."),
    max_rejected: int | None = MaxRejectedOpt,
) -> None:
    """Zigzag legs per symbol and gtype.  in: symbol,date,open,high,low,close,volume (or Yahoo / KRX exports)

    --threshold is a fraction (0.05 = 5 %); the output's pct is a percent ((end/start - 1) * 100, 5.0 = 5 %).
    """
    import math

    wanted = set(gtype)
    unknown = wanted - set(_GTYPES)
    if unknown:
        _err(f"error: unknown --gtype {', '.join(sorted(unknown))}; choose from {', '.join(_GTYPES)}")
        raise typer.Exit(2)
    if not math.isfinite(threshold):
        _err(f"error: --threshold must be a finite number >= 0, got {threshold!r}")
        raise typer.Exit(2)
    _output(output)
    with _stage(input, "reading bars"):
        table = _bars(input, symbol)
    _report(input, table.rejected, max_rejected)
    from turnpoint.core.algorithms.bulk_legs import leg_lines

    with _stage(input, f"zigzag over {table.read:,} bars"):
        blocks, legs, revised, symbols = leg_lines(table, sorted(wanted), threshold)
    try:
        with _stage(input, f"writing {legs:,} legs"):
            write_lines(output, LEG_COLUMNS, blocks)
    except OutputError as exc:
        raise _fail(exc) from None
    _err(f"rebounds: {table.read} rows read, {len(table.rejected)} bad, {revised} revisions, "
         f"{symbols} symbols; {legs} legs written to {output}")


def _days(input: Path, tz: str, output: Path, max_rejected: int | None) -> tuple[Any, ReadingTable]:
    _output(output)
    with _stage(input, "reading readings"):
        table = _readings(input)
    _report(input, table.rejected, max_rejected)
    from turnpoint.core.algorithms.bulk import distinct, group_days

    with _stage(input, f"grouping {table.read:,} readings by local day"):
        return group_days(distinct(table.series, table.micros, table.value), tz), table


def _summary(kind: str, table: ReadingTable, days: Any, written: int, output: Path) -> None:
    d = days.distinct
    _err(f"{kind}: {table.read} rows read, {len(table.rejected)} bad, "
         f"{d.duplicates} duplicates, {d.replaced} replaced; {written} rows written to {output}")


def _write(output: Path, header: tuple[str, ...], rows: list[Any]) -> None:
    try:
        write_csv(output, header, rows)
    except OutputError as exc:
        raise _fail(exc) from None


@app.command("stats")
def stats(
    input: Path = InputOpt,
    output: Path = OutputOpt,
    tz: str = typer.Option("UTC", "--tz", help="IANA time zone of the calendar (e.g. Asia/Seoul)."),
    max_rejected: int | None = MaxRejectedOpt,
) -> None:
    """Calendar statistics per series and period.  in: series,ts,value"""
    days, table = _days(input, _tz(tz), output, max_rejected)
    from turnpoint.core.algorithms.bulk import stat_rows

    with _stage(input, "calendar statistics"):
        rows = stat_rows(days)
        _write(output, STAT_COLUMNS, rows)
    _summary("stats", table, days, len(rows), output)


@app.command("outliers")
def outliers(
    input: Path = InputOpt,
    output: Path = OutputOpt,
    tz: str = typer.Option("UTC", "--tz", help="IANA time zone of the calendar days."),
    window_days: int = typer.Option(28, "--window-days", min=1, help="Reference window W in local days."),
    min_count: int = typer.Option(30, "--min-count", min=1, help="Readings needed in the window to judge."),
    k: float = typer.Option(1.5, "--k", min=0.0, help="Outlier if beyond mean +/- k * std."),
    max_rejected: int | None = MaxRejectedOpt,
) -> None:
    """Outliers per series against the previous W local days.  in: series,ts,value"""
    from turnpoint.core.algorithms.outliers import OutlierRule

    try:
        rule = OutlierRule(window_days, min_count, k)
    except ValueError as exc:
        raise _fail(exc) from None
    days, table = _days(input, _tz(tz), output, max_rejected)
    import numpy as np

    from turnpoint.core.algorithms.bulk import outlier_columns
    from turnpoint.core.algorithms.texts import float_texts, iso_instants

    with _stage(input, "outliers"):
        o = outlier_columns(days, rule)
        columns = [np.array(days.distinct.series, dtype=object)[o.code].tolist(), iso_instants(o.micros),
                   float_texts(o.value), float_texts(o.mean), float_texts(o.std),
                   np.where(o.high, "high", "low").tolist()]
        try:
            write_columns(output, OUTLIER_COLUMNS, columns)
        except OutputError as exc:
            raise _fail(exc) from None
    _summary("outliers", table, days, len(o.code), output)
