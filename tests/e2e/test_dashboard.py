"""The dashboard in a real browser (Debian's chromium driven by Playwright, no browser download) against the
embedded stack with the conformance data: every page renders what the public /v1 API serves, and no request
leaves 127.0.0.1.

Chromium comes from `scripts/system-deps.sh` (run by `./test.sh`); without it the test skips, which CI turns
into a failure (tests/conftest.py).
"""

from __future__ import annotations

import csv
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from support.devstack_harness import DevStack

from turnpoint.cli.embedded import free_port

pytestmark = [pytest.mark.timeout(900)]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# metadata for some symbols only: the others are listed from their bars alone (issue #18)
SYMBOLS_CSV = """symbol,name,market,status,designations
100000,Hanil Steel,KOSPI,listed,kospi200
100021,Daesung Foods,KOSDAQ,suspended,trading-halt
H001,Harbor Logistics,KOSPI,listed,
"""


@pytest.fixture(scope="module")
def stack(conformance_dir: Path, stack_home: Path) -> Iterator[DevStack]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/system-deps.sh installs it as root)")
    # the alerts service's port too (the harness frees the ports of the five services it knows): a fixed one
    # collides with any other stack on the machine
    s = DevStack(stack_home, extra_env={"TURNPOINT_ALERTS__PORT": str(free_port())})
    s.up()
    try:
        symbols = stack_home / "symbols.csv"
        symbols.write_text(SYMBOLS_CSV)
        for kind, path in (("market", conformance_dir / "market.csv"),
                           ("readings", conformance_dir / "readings.csv"), ("symbols", symbols)):
            done = s.cli("ingest", kind, "--file", str(path), timeout=600)
            assert done.returncode == 0, done.stdout + done.stderr
        s.wait_idle(600)
        yield s
    finally:
        s.down()


@pytest.fixture(scope="module")
def requests_seen() -> list[tuple[str, str]]:
    """(url, url of the page that asked) of every request the browser made."""
    return []


@pytest.fixture(scope="module")
def blocked() -> set[str]:
    """URLs the browser refused to request (the pages' Content-Security-Policy)."""
    return set()


@pytest.fixture(scope="module")
def page(stack: DevStack, requests_seen: list[tuple[str, str]], blocked: set[str]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.on("request", lambda r: requests_seen.append((r.url, r.frame.url)))
        context.on("requestfailed", lambda r: r.failure in ("csp", "net::ERR_BLOCKED_BY_CSP") and blocked.add(r.url))
        p = context.new_page()
        p.set_default_timeout(60_000)
        try:
            yield p
        finally:
            context.close()
            browser.close()


def get_all(url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = httpx.get(url, params={**params, "limit": 1000, **({"cursor": cursor} if cursor else {})}, timeout=30)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items


def wait_until(page: Any, expression: str, timeout: float = 60) -> None:
    """Poll a JavaScript expression from here: `page.wait_for_function` polls with eval inside the page, which
    the pages' Content-Security-Policy (no 'unsafe-eval') refuses."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            msg = f"{expression} still false after {timeout:.0f}s on {page.url}"
            raise AssertionError(msg)
        time.sleep(0.05)


def open_page(page: Any, url: str) -> None:
    page.goto(url)
    wait_until(page, "window.turnpoint && window.turnpoint.done === true")


def shown_symbols(page: Any) -> list[str]:
    return list(page.eval_on_selector_all("#symbols tbody tr[data-symbol]", "rows => rows.map(r => r.dataset.symbol)"))


def test_symbols_table_lists_every_symbol_and_search_and_sort_change_the_rows(
        stack: DevStack, page: Any, conformance_dir: Path) -> None:
    with (conformance_dir / "market.csv").open() as f:
        ingested = sorted({r["symbol"] for r in csv.DictReader(f)})
    api = stack.url("api")
    open_page(page, f"{api}/")
    assert shown_symbols(page) == ingested  # bar-only symbols included, sorted by symbol
    badges = page.inner_text("#symbols tbody tr[data-symbol='100021']")
    assert "Daesung Foods" in badges and "suspended" in badges and "trading-halt" in badges
    assert "bars only" in page.inner_text("#symbols tbody tr[data-symbol='H002']")
    # each row links to the symbol's page with a real href
    assert page.get_attribute("#symbols tr[data-symbol='H001'] a", "href") == "/symbols/H001?gtype=close&days=7"

    page.fill("input[name=q]", "H00")
    wait_until(page, "() => new URL(location.href).searchParams.get('q') === 'H00' && window.turnpoint.done")
    assert shown_symbols(page) == [s for s in ingested if "H00" in s]

    page.fill("input[name=q]", "")
    wait_until(page, "() => !new URL(location.href).searchParams.get('q') && window.turnpoint.done")
    page.click("th a[data-sort=pct_from_pivot]")
    wait_until(page, "() => new URL(location.href).searchParams.get('sort') === 'pct_from_pivot'"
                           " && window.turnpoint.done")
    ascending = [r["symbol"] for r in get_all(f"{api}/v1/symbols", {"sort": "pct_from_pivot", "order": "asc"})]
    assert shown_symbols(page) == ascending and ascending != ingested
    page.click("th a[data-sort=pct_from_pivot]")  # again: descending
    wait_until(page, "() => new URL(location.href).searchParams.get('order') === 'desc' && window.turnpoint.done")
    descending = [r["symbol"] for r in get_all(f"{api}/v1/symbols", {"sort": "pct_from_pivot", "order": "desc"})]
    assert shown_symbols(page) == descending != ascending

    # the URL holds the state: opened afresh (bookmarked, shared), it shows the same rows
    open_page(page, page.url)
    assert shown_symbols(page) == descending
    # favourites stay in the browser
    page.click("#symbols tr[data-symbol='H004'] button.star")
    open_page(page, f"{api}/?fav=1")
    assert shown_symbols(page) == ["H004"]


def test_symbol_chart_draws_the_legs_the_api_serves(stack: DevStack, page: Any) -> None:
    api = stack.url("api")
    open_page(page, f"{api}/symbols/100000?gtype=close&interval=day&days=20")
    assert page.locator("#price-chart canvas").count() >= 1
    legs = get_all(f"{api}/v1/symbols/100000/rebounds", {"gtype": "close"})
    assert len(legs) > 10
    drawn = page.evaluate("turnpoint.charts.price.getOption().series.find(s => s.id === 'legs').data")
    expected = [[legs[0]["start_date"], legs[0]["start_value"]]] + [[leg["end_date"], leg["end_value"]] for leg in legs]
    assert [[p[0], p[1]] for p in drawn] == expected
    listed = page.eval_on_selector_all("#legs tbody tr[data-start]", "rows => rows.map(r => r.dataset.start)")
    assert listed == [leg["start_date"] for leg in legs[-200:]][::-1]  # the latest 200, newest first
    state = httpx.get(f"{api}/v1/symbols/100000/state", params={"gtype": "close"}).json()
    cards = page.inner_text("#state-cards")
    assert state["direction"] in cards and state["last_date"] in cards
    summary = httpx.get(f"{api}/v1/symbols/100000/rebounds/summary", params={"gtype": "close", "days": 20}).json()
    text = page.inner_text("#window")
    assert "Last 20 trading days" in text and f"{summary['up']['legs'] + summary['down']['legs']} legs" in text
    # another gtype and interval come from the URL
    open_page(page, f"{api}/symbols/100000?gtype=high&interval=week")
    bars = get_all(f"{api}/v1/symbols/100000/bars", {"interval": "week"})
    candles = page.evaluate("turnpoint.charts.price.getOption().series.find(s => s.id === 'price').data.length")
    assert candles == len(bars)
    high_legs = get_all(f"{api}/v1/symbols/100000/rebounds", {"gtype": "high"})
    drawn = page.evaluate("turnpoint.charts.price.getOption().series.find(s => s.id === 'legs').data")
    assert [p[1] for p in drawn] == [high_legs[0]["start_value"]] + [leg["end_value"] for leg in high_legs]


def test_series_page_marks_the_outliers_of_the_api(stack: DevStack, page: Any) -> None:
    api = stack.url("api")
    window = {"series": "plant0/people", "from": "2025-02-01", "to": "2025-12-31"}
    outliers = get_all(f"{api}/v1/outliers", window)
    assert outliers
    open_page(page, f"{api}/series?series=plant0/people&from=2025-02-01&to=2025-12-31&period=month-weekday")
    marked = page.evaluate("turnpoint.charts.series.getOption().series.find(s => s.id === 'outliers').data")
    assert [(p[0], p[1]) for p in marked] == [(o["ts"], o["value"]) for o in outliers]
    listed = page.eval_on_selector_all("#outliers tbody tr[data-ts]", "rows => rows.map(r => r.dataset.ts)")
    assert sorted(listed) == sorted(o["ts"] for o in outliers)
    band = page.evaluate("turnpoint.charts.series.getOption().series.find(s => s.id === 'band').data.length")
    days = get_all(f"{api}/v1/stats", {"series": "plant0/people", "period": "day", "from": "2025-02-01", "to": "2025-12-31"})
    assert band == 2 * len(days)
    weekday = page.evaluate("turnpoint.charts.weekday.getOption().series[0].data.length")
    assert weekday == 7


def test_freshness_shows_every_job(stack: DevStack, page: Any) -> None:
    api = stack.url("api")
    jobs = httpx.get(f"{api}/v1/jobs").json()["items"]
    assert jobs
    open_page(page, f"{api}/freshness")
    shown = page.eval_on_selector_all("#jobs tbody tr[data-job]", "rows => rows.map(r => r.dataset.job)")
    assert shown == [j["job"] for j in jobs]


def test_docs_render_the_operation_list_offline(stack: DevStack, page: Any) -> None:
    page.goto(f"{stack.url('api')}/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.textContent)")
    assert "/v1/symbols" in [p.replace("\u200b", "") for p in paths]
    page.goto(f"{stack.url('api')}/redoc")
    page.wait_for_selector("[data-section-id='operation/list_symbols']", state="attached")
    for service in ("ingest", "model"):
        page.goto(f"{stack.url(service)}/docs")
        page.wait_for_selector(".opblock-summary-path")


def test_no_request_left_127_0_0_1(requests_seen: list[tuple[str, str]], blocked: set[str]) -> None:
    assert len(requests_seen) > 20
    local = {"127.0.0.1"}
    outside = [(u, page) for u, page in requests_seen
               if not u.startswith(("data:", "blob:")) and urlsplit(u).hostname not in local]
    # the dashboard's pages ask for nothing outside; ReDoc's bundle asks cdn.redoc.ly for its logo, which the
    # pages' Content-Security-Policy refuses before anything is sent
    assert all(urlsplit(page).path in ("/redoc",) for _, page in outside), outside
    assert {u for u, _ in outside} <= blocked, (outside, blocked)
