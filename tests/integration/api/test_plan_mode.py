"""Statements that ask for PostgreSQL's generic plan get it, and the others keep per-execution plans, on the
same pooled connection in any order (`PlanConnection` tracks the session's `plan_cache_mode`)."""

from __future__ import annotations

import pytest

from turnpoint.api import symbol_list
from turnpoint.api.db import Database
from turnpoint.api.repository import symbol_page

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="session")]


async def test_each_statement_runs_in_the_mode_it_asks_for(seeded_url: str) -> None:
    db = Database(seeded_url, 1, 1, 5000)  # one connection: every call below shares its session
    await db.open()
    try:
        seen = [await db.fetchval("SELECT current_setting('plan_cache_mode')", generic=g)
                for g in (True, True, False, True, False, False)]
        assert seen == ["force_generic_plan", "force_generic_plan", "auto", "force_generic_plan", "auto", "auto"]
    finally:
        await db.close()


@pytest.mark.parametrize(("params", "generic"), [
    ({"sort": "pct_from_pivot"}, True),
    ({"sort": "last_value", "order": "desc", "market": "KOSDAQ"}, True),
    ({"sort": "pct_from_pivot", "market": "KOSPI", "direction": "down", "min_pct": -10.0, "max_pct": 10.0}, True),
    ({"sort": "pct_from_pivot", "q": "A"}, False),  # text search: the best plan depends on the pattern
    ({"sort": "symbol"}, False),
    ({"sort": "close"}, False),
])
async def test_symbol_pages_use_a_generic_plan_only_where_it_fits(seeded_url: str, params: dict[str, object],
                                                                  generic: bool) -> None:
    f = symbol_list.SymbolFilter(**params)  # type: ignore[arg-type]
    db = Database(seeded_url, 1, 1, 5000)
    await db.open()
    try:
        # a page of one row: each of these filters matches more than one seeded symbol, or is a state filter,
        # so no tail statement runs after the page's own
        page = await symbol_page(db, f, 1, None)
        assert len(page["items"]) == 1
        # the pool's own fetchval reads the session as the page left it (Database.fetchval would set it)
        mode = await db._pool.fetchval("SELECT current_setting('plan_cache_mode')")  # type: ignore[union-attr]
        assert mode == ("force_generic_plan" if generic else "auto")
    finally:
        await db.close()
