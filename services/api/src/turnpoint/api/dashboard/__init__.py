"""The web dashboard at `/`: static pages that read only the public `/v1` API (in the browser).

Every page is the same HTML shell (`static/index.html`); `static/app.js` renders the page its path names,
with the page's state (symbol, interval, gtype, filters, cursor) in the URL so it can be bookmarked or
shared. Charts are Apache ECharts, committed under `static/vendor/echarts/` with its licence: it ships
candlesticks, bars, bands and markers in one file, draws 2,500 bars on a canvas in well under a second, and
makes no request of its own, so the dashboard works with no internet at all.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
PAGES = ("/", "/symbols/{symbol}", "/series", "/freshness")

router = APIRouter(include_in_schema=False)


async def _shell() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


for _path in PAGES:
    router.add_api_route(_path, _shell, methods=["GET"], include_in_schema=False)


@router.get("/symbols", include_in_schema=False)
async def _symbols_index() -> RedirectResponse:
    return RedirectResponse("/")


def install(app: FastAPI) -> None:
    """Mount the assets under /ui and the pages at their paths."""
    app.mount("/ui", StaticFiles(directory=STATIC), name="dashboard")
    app.include_router(router)
