"""`turnpoint ingest ...`: publish files, run the service, manage write tokens.

Heavy imports (confluent-kafka, fastapi, pyserial, pymodbus, psycopg) happen inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from turnpoint.ingest.files import Summary
    from turnpoint.ingest.formats import Rejected
    from turnpoint.ingest.settings import IngestSettings

app = typer.Typer(no_args_is_help=True, help="Publish readings, bars, symbols and counts to Kafka.")
token_app = typer.Typer(no_args_is_help=True, help="Bearer tokens of the HTTP write API (stored hashed).")
app.add_typer(token_app, name="token")

FILE_OPT = typer.Option(..., "--file", "-f", exists=True, dir_okay=False, readable=True, help="The CSV file.")
JSON_OPT = typer.Option(False, "--json", help="Print the summary as one JSON line on stdout.")


def _settings() -> IngestSettings:
    from turnpoint.ingest.settings import IngestSettings

    try:
        return IngestSettings()
    except ValueError as exc:
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from None


def _report(path: Path, rej: Rejected) -> None:
    typer.echo(f"{path}:{rej.line}: {rej.reason}: {rej.detail}", err=True)


def _finish(summary: Summary, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
    typer.echo(summary.line(), err=True)
    if not summary.ok:
        typer.echo(f"error: {summary.failed} records were not acknowledged by Kafka; run the command again "
                   f"(re-sending is safe: records are identified by their keys)", err=True)
        raise typer.Exit(1)


def _run_file(kind: str, path: Path, as_json: bool, **kwargs: object) -> None:
    from turnpoint.core.errors import TurnpointError
    from turnpoint.ingest import files
    from turnpoint.ingest.progress import file_progress

    fn = {"market": files.publish_market_file, "readings": files.publish_readings_file,
          "symbols": files.publish_symbols_file}[kind]
    settings = _settings()
    try:
        with file_progress(path, kind) as progress:
            summary = fn(settings, path, report=_report, progress=progress, **kwargs)  # type: ignore[operator]
    except TurnpointError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    _finish(summary, as_json)


@app.command()
def market(
    file: Path = FILE_OPT,
    symbol: str | None = typer.Option(None, "--symbol", "-s", help="Symbol of a one-symbol file (default: from the file name)."),
    last_days: int | None = typer.Option(None, "--last-days", min=1, help="Daily mode: re-send only the last N days of each symbol (revisions)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Publish market bars (SPEC, Yahoo or Korean-header CSV) to turnpoint.bars.v1."""
    _run_file("market", file, as_json, symbol=symbol, last_days=last_days)


@app.command()
def readings(file: Path = FILE_OPT, as_json: bool = JSON_OPT) -> None:
    """Replay a sensor log (series,ts,value[,unit]) to turnpoint.readings.v1."""
    _run_file("readings", file, as_json)


@app.command()
def symbols(file: Path = FILE_OPT, as_json: bool = JSON_OPT) -> None:
    """Publish symbol metadata (symbol,name,market,status,designations) to turnpoint.symbols.v1."""
    _run_file("symbols", file, as_json)


if __name__ == "__main__":  # pragma: no cover
    app()
