"""The messages of one write request, encoded and sized before anything is produced (all or nothing).

Records are grouped by their key in request order and packed into envelopes of at most `batch_size`
items and `max_bytes` bytes. A record that cannot fit in a message even alone is refused with 413 naming
its index, so a request is either published whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from turnpoint.core.contracts import SCHEMA_VERSION
from turnpoint.ingest.write_api.problems import Problem

_HEAD = b'{"v":%d,"items":[' % SCHEMA_VERSION
_TAIL = b"]}"


@dataclass(frozen=True, slots=True)
class Planned:
    """One message: its key, its envelope (exactly `encode_items` of its items) and how many items it holds."""

    key: str
    value: bytes
    items: int


def envelope(parts: Sequence[bytes]) -> bytes:
    """The envelope (schema version and items) of items already encoded with orjson: the bytes `encode_items` writes."""
    return _HEAD + b",".join(parts) + _TAIL


def plan_messages(records: Sequence[dict[str, Any]], key_field: str, batch_size: int,
                  max_bytes: int) -> list[Planned]:
    """Every message of the request, or Problem 413 naming the first record too large for any message."""
    room = max_bytes - len(_HEAD) - len(_TAIL)
    groups: dict[str, list[bytes]] = {}
    for index, record in enumerate(records):
        part = orjson.dumps(record)
        key = record[key_field]
        if len(part) + len(key.encode()) > room:
            raise Problem(413, "Record too large",
                          f"record {index} takes {len(part)} bytes once encoded; a Kafka message holds at most "
                          f"{max_bytes}; nothing was published", index=index,
                          errors=[{"field": str(index), "message": f"{len(part)} bytes exceed {room}"}])
        groups.setdefault(key, []).append(part)
    out: list[Planned] = []
    for key, parts in groups.items():
        chunk: list[bytes] = []
        size = len(key.encode())
        for part in parts:
            if chunk and (len(chunk) == batch_size or size + 1 + len(part) > room):
                out.append(Planned(key, envelope(chunk), len(chunk)))
                chunk, size = [], len(key.encode())
            chunk.append(part)
            size += len(part) + 1
        out.append(Planned(key, envelope(chunk), len(chunk)))
    return out
