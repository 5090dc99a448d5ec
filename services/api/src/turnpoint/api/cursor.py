"""Opaque keyset cursors: base64url of a JSON array `[kind, *last_key]`.

A cursor only says "continue after this key"; rows inserted before or after it never shift a page, and
a cursor of one endpoint is refused by another (the `kind` differs).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from turnpoint.api.errors import InvalidParameter
from turnpoint.core.contracts import check_date, check_instant

MAX_CURSOR_LENGTH = 512

Decoder = Callable[[Any], Any]


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def invalid() -> InvalidParameter:
    """The error for a cursor that is not one of ours (or not of this endpoint, sort and order)."""
    return InvalidParameter("cursor", "not a cursor of this endpoint; pass next_cursor from the previous page unchanged")


def encode(kind: str, key: Sequence[Any]) -> str:
    raw = orjson.dumps([kind, *key], default=_json_default)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(token: str, kind: str, types: Sequence[Decoder]) -> list[Any]:
    """The key of `token`, each part converted by `types`; InvalidParameter('cursor') when it is not ours."""
    bad = invalid()
    if len(token) > MAX_CURSOR_LENGTH:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        parts = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise bad from None
    if not isinstance(parts, list) or len(parts) != len(types) + 1 or parts[0] != kind:
        raise bad
    try:
        return [conv(value) for conv, value in zip(types, parts[1:], strict=True)]
    except (TypeError, ValueError, OverflowError):
        raise bad from None


def as_date(value: Any) -> dt.date:
    """A date of the years 1000-2999 (a forged 9999-12-31 would overflow `last + 1 day`)."""
    if not isinstance(value, str):
        raise TypeError
    return check_date(dt.date.fromisoformat(value))


def as_instant(value: Any) -> dt.datetime:
    """An instant with an offset in the years 1000-2999, in UTC."""
    if not isinstance(value, str):
        raise TypeError
    return check_instant(dt.datetime.fromisoformat(value))


def as_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError
    return value


def as_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def as_optional_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    return float(value)
