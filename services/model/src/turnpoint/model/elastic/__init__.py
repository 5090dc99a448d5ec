"""Elasticsearch side of the inference log: the versioned index template, index names, bulk shipping.

Daily indices `<prefix>-YYYY.MM.DD` (UTC day of `@timestamp`), the same names the Logstash pipeline writes,
and `_id = event.id`, so a document shipped twice (Logstash and the direct writer, or a replayed file)
is stored once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
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
    for doc in docs:
        yield {"_op_type": "index", "_index": index_name(prefix, doc["@timestamp"]), "_id": doc["event"]["id"],
               "_source": doc}


def read_log_file(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                yield orjson.loads(line)


def ship_files(client: Any, paths: Iterable[Path], prefix: str = DEFAULT_PREFIX, chunk_size: int = 2000) -> tuple[int, int]:
    """Bulk-index ECS JSON line files (the service's local inference log); return (indexed, failed)."""
    from elasticsearch import helpers

    install_template(client, prefix)
    ok = failed = 0
    for path in paths:
        for success, _info in helpers.streaming_bulk(
            client, bulk_actions(read_log_file(path), prefix), chunk_size=chunk_size, raise_on_error=False,
            max_retries=3,
        ):
            ok += int(success)
            failed += int(not success)
    return ok, failed
