"""`turnpoint run`: the whole pipeline on the embedded stack with sample data."""

from __future__ import annotations

import typer


def run(seconds: int = typer.Option(0, "--seconds", help="Stop after N seconds and print a summary (0: until Ctrl-C).")) -> None:
    raise typer.Exit(code=1)
