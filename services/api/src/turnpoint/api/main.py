"""Entrypoint for uvicorn workers: the only place the API reads the environment."""

from __future__ import annotations

from fastapi import FastAPI

from turnpoint.api.app import build_app
from turnpoint.api.settings import ApiSettings


def app_from_env() -> FastAPI:
    settings = ApiSettings()
    from turnpoint.core.observability import configure_logging

    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    return build_app(settings)
