"""`turnpoint ingest ...`: publish files, run the service, manage write tokens.

Heavy imports (confluent-kafka, fastapi, pyserial, pymodbus, psycopg) happen inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable

    from turnpoint.ingest.files import Summary
    from turnpoint.ingest.formats import Rejected
    from turnpoint.ingest.settings import IngestSettings
    from turnpoint.ingest.tokens import TokenStore

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, help="Publish readings, bars, symbols and counts to Kafka.")
token_app = typer.Typer(no_args_is_help=True, help="Bearer tokens of the HTTP write API (stored hashed).")
app.add_typer(token_app, name="token")

FILE_OPT = typer.Option(..., "--file", "-f", exists=True, dir_okay=False, readable=True, help="The CSV file.")
MARKET_FILE_OPT = typer.Option(None, "--file", "-f", exists=True, dir_okay=False, readable=True, help="The CSV file.")
JSON_OPT = typer.Option(False, "--json", help="Print the summary as one JSON line on stdout.")
CONFIG_ARG = typer.Argument(..., exists=True, dir_okay=False, help="A YAML or TOML serial configuration file.")
SCOPE_OPT = typer.Option(..., "--scope", help="write:readings, write:bars, write:counts or read; repeat it.")


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

    fn: Callable[..., Summary] = {"market": files.publish_market_file, "readings": files.publish_readings_file,
          "symbols": files.publish_symbols_file}[kind]
    settings = _settings()
    try:
        with file_progress(path, kind) as progress:
            summary = fn(settings, path, report=_report, progress=progress, **kwargs)
    except TurnpointError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    _finish(summary, as_json)


@app.command()
def market(
    file: Path | None = MARKET_FILE_OPT,
    symbol: str | None = typer.Option(None, "--symbol", "-s", help="Symbol of a one-symbol file (default: from the file name)."),
    last_days: int | None = typer.Option(None, "--last-days", min=1, help="Daily mode: re-send only the last N days of each symbol (revisions)."),
    online: bool = typer.Option(False, "--online", help="Download --symbol from Yahoo Finance (needs the `online` extra)."),
    period: str = typer.Option("1y", "--period", help="With --online: how far back (1mo, 1y, 10y, max)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Publish market bars (SPEC, Yahoo or Korean-header CSV) to turnpoint.bars.v1."""
    if online:
        import tempfile

        from turnpoint.ingest.errors import InputFileError
        from turnpoint.ingest.online import download_yahoo_csv

        if not symbol or file is not None:
            typer.echo("error: --online needs --symbol and no --file", err=True)
            raise typer.Exit(2)
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = download_yahoo_csv(symbol, period, Path(tmp))
            except InputFileError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(1) from None
            _run_file("market", path, as_json, symbol=symbol, last_days=last_days)
        return
    if file is None:
        typer.echo("error: pass --file BARS.csv (or --online --symbol X)", err=True)
        raise typer.Exit(2)
    _run_file("market", file, as_json, symbol=symbol, last_days=last_days)


@app.command()
def readings(file: Path = FILE_OPT, as_json: bool = JSON_OPT) -> None:
    """Replay a sensor log (series,ts,value[,unit]) to turnpoint.readings.v1."""
    _run_file("readings", file, as_json)


@app.command()
def symbols(file: Path = FILE_OPT, as_json: bool = JSON_OPT) -> None:
    """Publish symbol metadata (symbol,name,market,status,designations) to turnpoint.symbols.v1."""
    _run_file("symbols", file, as_json)


@app.command()
def run() -> None:
    """Serve the HTTP write API (TURNPOINT_INGEST__PORT) with the drop-folder watcher and serial ports."""
    import uvicorn

    from turnpoint.core.errors import TurnpointError
    from turnpoint.core.observability import configure_logging
    from turnpoint.ingest.service import bootstrap
    from turnpoint.ingest.write_api.app import build_app

    settings = _settings()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    try:
        app_ = build_app(settings, bootstrap(settings))
    except TurnpointError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    # uvicorn handles SIGTERM/SIGINT: it stops accepting, then the lifespan stops the service (flush, close)
    uvicorn.run(app_, host=settings.host, port=settings.ingest.port, log_level=settings.log_level.lower(),
                access_log=False, log_config=None)


@app.command("check-serial")
def check_serial(config: Path = CONFIG_ARG) -> None:
    """Validate a serial configuration file and list its ports."""
    from turnpoint.ingest.errors import SerialConfigError
    from turnpoint.ingest.serial.config import load_serial_config

    try:
        cfg = load_serial_config(config)
    except SerialConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for p in cfg.ports:
        typer.echo(f"{p.name}: {p.device} {p.baudrate} {p.bytesize}{p.parity}{p.stopbits} {p.protocol}")


def _tokens() -> TokenStore:
    from turnpoint.ingest.tokens import TokenStore

    return TokenStore(_settings().dsn())


EXPIRES_IN_OPT = typer.Option(None, "--expires-in", help="Lifetime: 90d, 12h, 30m, 2w (default: never expires).")
EXPIRES_AT_OPT = typer.Option(None, "--expires-at",
                              help="Expiry: an ISO date (midnight UTC) or date-time with offset, e.g. 2027-03-01T09:00+09:00.")


def _token_call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    from turnpoint.ingest.errors import TokenError

    try:
        return fn(*args, **kwargs)
    except TokenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _expiry(expires_in: str | None, expires_at: str | None) -> dt.datetime | None:
    import datetime as dt

    from turnpoint.ingest.tokens import expiry

    return _token_call(expiry, expires_in, expires_at, dt.datetime.now(dt.UTC))


def _until(when: dt.datetime | None) -> str:
    return f"; it expires at {when.isoformat()}" if when is not None else "; it never expires"


@token_app.command("create")
def token_create(
    name: str = typer.Argument(..., help="A unique name (the team or client)."),
    scope: list[str] = SCOPE_OPT,
    expires_in: str | None = EXPIRES_IN_OPT,
    expires_at: str | None = EXPIRES_AT_OPT,
) -> None:
    """Create a token and print it ONCE (only its sha256 is stored)."""
    when = _expiry(expires_in, expires_at)
    token = _token_call(_tokens().create, name, scope, when)
    typer.echo(token)
    typer.echo(f"token {name!r} created with scopes {', '.join(scope)}{_until(when)}; it is shown only now",
               err=True)


@token_app.command("rotate")
def token_rotate(
    name: str = typer.Argument(..., help="The token's name."),
    grace: str = typer.Option("24h", "--grace", help="How long the old secret stays valid: 24h, 7d, 30m."),
    expires_in: str | None = EXPIRES_IN_OPT,
    expires_at: str | None = EXPIRES_AT_OPT,
) -> None:
    """Give a token a new secret (printed ONCE); the old one keeps working for the grace period.

    Without --expires-in/--expires-at the token keeps its lifetime (90 days from creation -> 90 days from now).
    """
    from turnpoint.ingest.tokens import parse_duration

    period = _token_call(parse_duration, grace)
    when = _expiry(expires_in, expires_at)
    token = _token_call(_tokens().rotate, name, period, when)
    typer.echo(token)
    typer.echo(f"token {name!r} rotated; the previous secret stays valid for {grace}; the new one is shown only now",
               err=True)


@token_app.command("revoke")
def token_revoke(name: str = typer.Argument(..., help="The token's name.")) -> None:
    """Revoke a token (requests with it are refused within seconds)."""
    _token_call(_tokens().revoke, name)
    typer.echo(f"token {name!r} revoked", err=True)


@token_app.command("list")
def token_list() -> None:
    """List tokens, one a line, tab-separated: name, scopes, created, expires, last used, revoked ('-': none).

    Never the secret. Last use is what the write API saw (at most a minute stale).
    """
    def iso(when: dt.datetime | None) -> str:
        return when.isoformat() if when is not None else "-"

    for t in _tokens().list():
        typer.echo(f"{t.name}\t{','.join(t.scopes)}\t{iso(t.created_at)}\t{iso(t.expires_at)}\t"
                   f"{iso(t.last_used_at)}\t{iso(t.revoked_at)}")


if __name__ == "__main__":  # pragma: no cover
    app()
