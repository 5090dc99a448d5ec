"""Every use of a faust-streaming internal, in one place, checked when the worker starts.

faust-streaming is pinned to the minor version below (services/transform/pyproject.toml). The worker
relies on three things Faust does not promise:

- a table's `data` is a writable mapping (the memory store): the agents write state there directly,
  without a current event (see faust_store.TableStore);
- the consumer's `_commit(offsets) -> bool` is the one call every offset commit goes through, and
  answers False when the broker refused it: wrapped to log each refused partition by name;
- the aiokafka consumer's `highwater` is None until the first fetch of a newly assigned partition, and
  `position`/`highwater` fail for a partition revoked meanwhile (handled by the callers);
- the consumer's delivery loop (`_drain_messages`, its `callback`, `suspend_flow`, `_read_offset`) and
  an agent stream's channel queue, which `faust_delivery` and `intake` replace or read directly.

`check` fails the start-up, naming what is missing, when an upgrade changed any of them.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import faust

SUPPORTED_MINOR = "0.15"


class FaustInternalsChanged(RuntimeError):
    """The installed faust-streaming lacks an internal the worker relies on."""


def check(app: Any, table: Any | None = None) -> None:
    """Fail loudly, before any message is taken, if the internals this module uses are not there."""
    version = str(getattr(faust, "__version__", "?"))
    problems: list[str] = []
    if not version.startswith(SUPPORTED_MINOR + "."):
        problems.append(f"faust-streaming {version} installed, {SUPPORTED_MINOR}.x expected")
    from faust.transport.consumer import Consumer

    commit = getattr(Consumer, "_commit", None)
    if commit is None or not inspect.iscoroutinefunction(commit):
        problems.append("faust.transport.consumer.Consumer._commit (async) is gone")
    for name in ("_drain_messages", "_add_gap", "track_message"):
        if not callable(getattr(Consumer, name, None)):
            problems.append(f"faust.transport.consumer.Consumer.{name} is gone")
    if table is not None and not isinstance(getattr(table, "data", None), MutableMapping):
        problems.append(f"table {getattr(table, 'name', table)!r} has no writable .data mapping")
    if problems:
        raise FaustInternalsChanged("; ".join(problems))


def table_data(table: Any) -> MutableMapping[bytes, bytes]:
    """The table's store as a plain mapping (the memory store: a dict of bytes keys and values)."""
    data: MutableMapping[bytes, bytes] = table.data
    return data


CommitRefused = Callable[[Mapping[Any, int]], None]


def watch_commits(consumer: Any, on_refused: CommitRefused) -> None:
    """Report every offset commit the broker refused (Faust itself only logs some of them, unnamed)."""
    original: Callable[[Mapping[Any, int]], Awaitable[bool]] = consumer._commit
    if getattr(original, "_turnpoint_watched", False):
        return

    async def _commit(offsets: Mapping[Any, int]) -> bool:
        try:
            ok = await original(offsets)
        except Exception:
            on_refused(offsets)
            raise
        if not ok:
            on_refused(offsets)
        return ok

    _commit._turnpoint_watched = True  # type: ignore[attr-defined]
    consumer._commit = _commit


def settling(app: Any) -> bool:
    """True while the group rebalances or the tables recover (partitions are not being delivered)."""
    return bool(app.rebalancing or getattr(app, "in_recovery", False))
