"""Exception handlers: every error leaves as RFC 9457 problem+json, through the shared kit (turnpoint.web).

`errors` is `[{"field", "message"}]` in every service (docs/api.md, "Errors").
"""

from __future__ import annotations

from fastapi import FastAPI

from turnpoint.web.fastapi import install_problems


def install(app: FastAPI) -> None:
    install_problems(app, "api", invalid_title="invalid parameter")
