"""Keyset pages: fetch `limit + 1` rows, return `limit` and a cursor after the last one when more exist."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from turnpoint.api import cursor

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def page(rows: Sequence[Any], limit: int, kind: str, key: Callable[[Any], Sequence[Any]],
         item: Callable[[Any], dict[str, Any]] = dict) -> dict[str, Any]:
    more = len(rows) > limit
    shown = rows[:limit]
    next_cursor = cursor.encode(kind, key(shown[-1])) if more and shown else None
    return {"items": [item(r) for r in shown], "next_cursor": next_cursor}
