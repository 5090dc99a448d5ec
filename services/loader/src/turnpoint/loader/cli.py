"""`turnpoint loader …`: run the loader, apply migrations. Heavy imports happen inside the commands."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False)


@app.command()
def run() -> None:
    """Consume the result topics and upsert them into the database (settings from TURNPOINT_* variables)."""
    import signal
    import threading

    from turnpoint.core.observability import configure_logging
    from turnpoint.loader.app import bootstrap
    from turnpoint.loader.settings import LoaderSettings

    settings = LoaderSettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    bootstrap(settings).run(stop)


@app.command()
def migrate(
    database_url: Annotated[
        str | None, typer.Option(help="PostgreSQL URL; default: TURNPOINT_DATABASE_URL / DATABASE_URL.")
    ] = None,
) -> None:
    """Apply pending schema migrations (idempotent; refuses a changed, already applied migration)."""
    from turnpoint.loader.errors import LoaderError
    from turnpoint.loader.migrations import migrate as apply
    from turnpoint.loader.settings import LoaderSettings

    url = database_url or LoaderSettings().dsn()
    try:
        done = apply(url)
    except LoaderError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for m in done:
        typer.echo(f"applied {m.version:04d}_{m.name}")
    typer.echo("schema is up to date" if not done else f"{len(done)} migration(s) applied")


@app.command()
def ddl(
    dialect: Annotated[str, typer.Option(help="oracle (Tibero/Oracle) or postgres.")] = "oracle",
) -> None:
    """Print CREATE TABLE statements for every table the ODBC sink's MERGE statements write."""
    from turnpoint.loader.ddl import script
    from turnpoint.loader.merge import DIALECTS

    if dialect not in DIALECTS:
        typer.echo(f"error: unknown dialect {dialect!r}; use one of {', '.join(DIALECTS)}", err=True)
        raise typer.Exit(2)
    typer.echo(script(dialect), nl=False)
