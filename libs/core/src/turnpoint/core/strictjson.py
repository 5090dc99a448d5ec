"""Duplicate object keys in JSON text from outside (RFC 8259 §4: names SHOULD be unique).

Parsers disagree on `{"series": "a", "series": "b"}`: orjson and the standard library keep the last value,
others the first or refuse it. A record whose meaning depends on the parser is refused at the edge, where the
client can be told (`turnpoint.ingest` answers 422), instead of being stored under one of its two names.

    doc = orjson.loads(body)          # valid JSON first (orjson: no NaN, no Infinity, 64-bit integers)
    key = duplicate_key(body)         # then the one check orjson cannot make
"""

from __future__ import annotations

import json
from typing import Any


class _Duplicate(Exception):  # a control-flow signal, caught below
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return doc


def duplicate_key(text: bytes | str) -> str | None:
    """The first key that appears twice in one object of `text` (JSON that parses), or None.

    About twice orjson's parse time (1.3 µs per small record), a fraction of a contract's validation. Text
    nested deeper than the standard library parses (orjson takes 1,024 levels) is no record of any contract
    (their fields are flat and extra fields are forbidden): None, and the contract refuses it."""
    try:
        json.loads(text, object_pairs_hook=_unique)
    except _Duplicate as dup:
        return dup.key
    except RecursionError:
        return None
    return None
