"""The API freezes its startup heap (gc.freeze) once the pool is open, unless told not to: the collector's
full passes over that heap were the p99 of the benchmark (docs/api.md)."""

from __future__ import annotations

import gc

import pytest
from integration.api.api_seed import api_settings

from turnpoint.api.app import build_app

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="session")]


@pytest.mark.parametrize("freeze", [True, False])
async def test_the_startup_heap_is_frozen_when_asked(seeded_url: str, freeze: bool) -> None:
    settings = api_settings(seeded_url, freeze_heap=freeze)
    gc.unfreeze()
    app = build_app(settings)
    try:
        async with app.router.lifespan_context(app):
            assert (gc.get_freeze_count() > 0) is freeze
    finally:
        gc.unfreeze()
