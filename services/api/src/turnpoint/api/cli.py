"""`turnpoint api serve`: serve the read API (uvicorn by default, Granian on request)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from turnpoint.api.settings import ApiSettings

app = typer.Typer(no_args_is_help=True, help="The read API (FastAPI over PostgreSQL).")

FACTORY = "turnpoint.api.main:app_from_env"
GRACEFUL_SECONDS = 10


class Server(StrEnum):
    """The ASGI server: the same app, pool and workers either way.

    uvicorn is the default: side by side in bench/api.py (docs/api.md) Granian used as much CPU per request and
    had the longer p99 at 8, 16 and 32 connections; it stays selectable so the comparison can be repeated.
    """

    granian = "granian"
    uvicorn = "uvicorn"


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="port (default TURNPOINT_API__PORT, 8000)")] = None,
    host: Annotated[str | None, typer.Option(help="bind address (default TURNPOINT_API__HOST or TURNPOINT_HOST)")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes (default TURNPOINT_API__WORKERS)")] = None,
    server: Annotated[Server, typer.Option(help="uvicorn or granian (Rust HTTP/1.1 server)")] = Server.uvicorn,
) -> None:
    """Serve the API; SIGTERM drains open requests (up to 10 s) and closes the pool."""
    from turnpoint.api.settings import ApiSettings

    settings = ApiSettings()
    bind, listen, processes = host or settings.bind_host, port or settings.api.port, workers or settings.api.workers
    if server is Server.granian:
        _granian(settings, bind, listen, processes)
    else:
        _uvicorn(settings, bind, listen, processes)


def _granian(settings: ApiSettings, host: str, port: int, workers: int) -> None:
    """Granian: HTTP parsing and socket writes in Rust, one write per response (uvicorn makes two)."""
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server as Granian

    Granian(
        FACTORY,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        http=HTTPModes.http1,
        websockets=False,
        loop=Loops.auto,  # uvloop when installed
        log_level=LogLevels(settings.log_level.lower()),
        log_access=False,
        respawn_failed_workers=True,
        workers_kill_timeout=GRACEFUL_SECONDS,
    ).serve()


def _uvicorn(settings: ApiSettings, host: str, port: int, workers: int) -> None:
    import uvicorn

    from turnpoint.core.observability import configure_logging

    configure_logging(settings.service_name, settings.log_level, settings.log_format)  # the parent's lines
    uvicorn.run(
        FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        log_config=None,  # every line through turnpoint's ECS handler (configure_logging), none of uvicorn's own
        access_log=settings.api.access_log,
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )


@app.command("openapi")
def openapi() -> None:
    """Print the OpenAPI document (JSON) without starting a server."""
    import orjson

    from turnpoint.api.app import build_app
    from turnpoint.api.settings import ApiSettings

    typer.echo(orjson.dumps(build_app(ApiSettings()).openapi(), option=orjson.OPT_INDENT_2).decode())
