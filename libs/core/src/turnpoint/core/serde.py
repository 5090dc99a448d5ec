"""Encoding and strict decoding of topic envelopes with orjson and pydantic."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from turnpoint.core.contracts import SCHEMA_VERSION
from turnpoint.core.errors import InvalidRecord

M = TypeVar("M", bound=BaseModel)

_adapters: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(model: type[M]) -> TypeAdapter[list[M]]:
    ad = _adapters.get(model)
    if ad is None:
        ad = _adapters[model] = TypeAdapter(list[model])  # type: ignore[valid-type]
    return ad


def encode_items(items: Iterable[BaseModel | dict[str, Any]]) -> bytes:
    """One envelope for items that share a key. Dicts are trusted to be valid (hot paths build them)."""
    out = [i.model_dump(mode="json") if isinstance(i, BaseModel) else i for i in items]
    return orjson.dumps({"v": SCHEMA_VERSION, "items": out})


def raw_items(value: bytes | str | None) -> list[dict[str, Any]]:
    """Parse an envelope without validating its items (for hot paths that validate in bulk)."""
    problem = _envelope_problem(value)
    if isinstance(problem, InvalidRecord):
        raise problem
    return problem


def _envelope_problem(value: bytes | str | None) -> list[dict[str, Any]] | InvalidRecord:
    """The envelope's items, or the error that describes what is wrong with it."""
    if value is None:
        return InvalidRecord("empty", "message has no value")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return InvalidRecord("unparseable", f"not JSON: {exc}")
    if not isinstance(doc, dict):
        return InvalidRecord("bad-envelope", "value must be a JSON object {'v': 1, 'items': [...]}")
    if doc.get("v") != SCHEMA_VERSION:
        return InvalidRecord("bad-version", f"unsupported schema version {doc.get('v')!r}, expected {SCHEMA_VERSION}")
    items = doc.get("items")
    if not isinstance(items, list):
        return InvalidRecord("bad-envelope", "'items' must be a list")
    return items


def decode_items(model: type[M], value: bytes | str | None) -> list[M]:
    """Parse and validate every item; any invalid item rejects the message with the first error."""
    return validate_items(model, raw_items(value))


def validate_items(model: type[M], items: list[Any]) -> list[M]:
    """Validate items already parsed (`raw_items`); any invalid item raises InvalidRecord with the first error."""
    try:
        return _adapter(model).validate_python(items)
    except ValidationError as exc:
        error = InvalidRecord("invalid", _describe(exc))
    raise error


def validate_item(model: type[M], item: Any) -> M:
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        error = InvalidRecord("invalid", _describe(exc))
    raise error


def _describe(exc: ValidationError) -> str:
    parts: Sequence[str] = [
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()[:3]
    ]
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
