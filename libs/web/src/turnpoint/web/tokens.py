"""Bearer tokens are stored as the sha256 hex of the token (table `api_token`), never as the token."""

from __future__ import annotations

import hashlib


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
