"""Screenshots of every dashboard page for the README (docs/images/*.png).

    ./run.sh                                                  # terminal 1: the stack with sample data, API on :8000
    .venv/bin/turnpoint ingest symbols --file samples/symbols.csv # terminal 2: names and badges for some symbols
    .venv/bin/python scripts/screenshots.py                   # writes docs/images/dashboard-*.png

Uses Debian's chromium (scripts/system-deps.sh installs it) through Playwright; nothing is downloaded.
Options: --api URL (default http://127.0.0.1:8000), --out DIR, --symbol S, --series S.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]


def rendered(page: Any, timeout: float = 60) -> None:
    """Wait for the page's `turnpoint.done`, polled from here (`wait_for_function` evals inside the page,
    which the pages' Content-Security-Policy refuses)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate("window.turnpoint && window.turnpoint.done === true"):
        if time.monotonic() > deadline:
            msg = f"{page.url} did not finish rendering within {timeout:.0f}s"
            raise SystemExit(msg)
        time.sleep(0.02)


def first(api: str, path: str, key: str) -> str:
    """The first item of `path`, preferring one with a name (a symbol with its metadata row)."""
    items = httpx.get(f"{api}{path}", params={"limit": 100}, timeout=30).json()["items"]
    if not items:
        sys.exit(f"{api}{path} is empty: ingest data first (./run.sh does)")
    named = [i for i in items if i.get("name")]
    return str((named or items)[0][key])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api", default="http://127.0.0.1:8000")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    ap.add_argument("--symbol")
    ap.add_argument("--series")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not installed: run scripts/system-deps.sh as root")
    api = args.api.rstrip("/")
    symbol = args.symbol or first(api, "/v1/symbols", "symbol")
    series = args.series or first(api, "/v1/series", "series")
    pages = {
        "symbols": "/?sort=pct_from_pivot&order=asc",
        "symbol": f"/symbols/{quote(symbol)}?interval=day&gtype=close&days=20",
        "series": f"/series?series={quote(series)}&period=month-weekday",
        "freshness": "/freshness",
        "docs": "/docs",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1440, "height": 960}, device_scale_factor=1)
        for name, path in pages.items():
            page.goto(api + path)
            if name == "docs":
                page.wait_for_selector(".opblock-summary-path")
            else:
                rendered(page)
                page.wait_for_timeout(800)  # the lazily filled window column
            target = args.out / f"dashboard-{name}.png"
            page.screenshot(path=str(target), full_page=name not in ("docs",))
            print(f"{target.relative_to(REPO) if target.is_relative_to(REPO) else target}  <- {path}")
        browser.close()


if __name__ == "__main__":
    main()
