"""`turnpoint api ...`: serve the read API."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="The read API (FastAPI over PostgreSQL).")


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="port (default TURNPOINT_API__PORT, 8000)")] = None,
    host: Annotated[str | None, typer.Option(help="bind address (default TURNPOINT_API__HOST or TURNPOINT_HOST)")] = None,
    workers: Annotated[int | None, typer.Option(help="uvicorn worker processes (default TURNPOINT_API__WORKERS)")] = None,
) -> None:
    """Serve the API with uvicorn; SIGTERM drains open requests and closes the pool."""
    import uvicorn

    from turnpoint.api.settings import ApiSettings

    settings = ApiSettings()
    uvicorn.run(
        "turnpoint.api.main:app_from_env",
        factory=True,
        host=host or settings.bind_host,
        port=port or settings.api.port,
        workers=workers or settings.api.workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )


@app.command("openapi")
def openapi() -> None:
    """Print the OpenAPI document (JSON) without starting a server."""
    import orjson

    from turnpoint.api.app import build_app
    from turnpoint.api.settings import ApiSettings

    typer.echo(orjson.dumps(build_app(ApiSettings()).openapi(), option=orjson.OPT_INDENT_2).decode())
