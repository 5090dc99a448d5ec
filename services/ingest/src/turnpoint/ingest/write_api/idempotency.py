"""Idempotency keys of the write API (table `ingest_idempotency`, migration 0005).

The first request with a key reserves it (response NULL), publishes, then stores its answer. A retry with
the same key and body gets that answer again; with another body it is refused (422); while the first is
still publishing, a retry gets 409. A failed publish releases the key so the client can retry.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from turnpoint.ingest.write_api.problems import Problem

MAX_KEY = 255


class IdempotencyStore:
    """Idempotency keys per token: the first request reserves a key, later ones get its stored answer.

    A reservation without an answer older than `stale_after_seconds` belongs to a request whose process
    died (SIGKILL, OOM) between reserving and answering; a retry takes it over instead of getting 409
    until the key expires. Set it above the longest a request can take (the Kafka acknowledgement wait).
    """

    def __init__(self, pool: Any, ttl_hours: int, stale_after_seconds: float) -> None:
        self.pool = pool
        self.ttl_hours = ttl_hours
        self.stale_after_seconds = stale_after_seconds

    async def begin(self, token_id: int, key: str, request_hash: str) -> tuple[int, dict[str, Any]] | None:
        """None when this request owns the key now; else the stored (status, body) to answer again."""
        if not 1 <= len(key) <= MAX_KEY:
            raise Problem(422, "Invalid Idempotency-Key", f"Idempotency-Key must be 1-{MAX_KEY} characters")
        async with self.pool.connection() as conn:
            await conn.execute(
                "DELETE FROM ingest_idempotency WHERE token_id = %s AND key = %s "
                "AND (created_at < now() - make_interval(hours => %s) "
                "OR (status IS NULL AND created_at < now() - make_interval(secs => %s)))",
                (token_id, key, self.ttl_hours, self.stale_after_seconds))
            cur = await conn.execute(
                "INSERT INTO ingest_idempotency (token_id, key, request_hash) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING RETURNING 1", (token_id, key, request_hash))
            if await cur.fetchone() is not None:
                return None
            cur = await conn.execute(
                "SELECT request_hash, status, response FROM ingest_idempotency WHERE token_id = %s AND key = %s",
                (token_id, key))
            row = await cur.fetchone()
        if row is None:  # expired and deleted between the two statements: treat as new next time
            raise Problem(409, "Idempotency key in flux", "retry the request", {"Retry-After": "1"})
        stored_hash, status, response = row
        if stored_hash != request_hash:
            raise Problem(422, "Idempotency-Key reused",
                          "this Idempotency-Key was used with a different request body; use a new key")
        if status is None:
            raise Problem(409, "Request in progress",
                          "a request with this Idempotency-Key is still being processed; retry shortly",
                          {"Retry-After": "1"})
        return int(status), dict(response)

    async def complete(self, token_id: int, key: str, status: int, body: dict[str, Any]) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE ingest_idempotency SET status = %s, response = %s WHERE token_id = %s AND key = %s",
                (status, Jsonb(body), token_id, key))

    async def release(self, token_id: int, key: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM ingest_idempotency WHERE token_id = %s AND key = %s AND status IS NULL",
                               (token_id, key))

    async def purge(self) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM ingest_idempotency WHERE created_at < now() - make_interval(hours => %s)",
                (self.ttl_hours,))
            return int(cur.rowcount or 0)
