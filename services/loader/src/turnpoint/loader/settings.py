"""The loader's settings: `TURNPOINT_LOADER__*` on top of the shared `TurnpointSettings`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from turnpoint.core.settings import TurnpointSettings
from turnpoint.core.topics import PORTS


class LoaderOptions(BaseModel):
    """How the loader batches, retries and where it writes."""

    port: int = Field(default=PORTS["loader"], ge=0, le=65535)
    # Rows buffered before a flush, and the longest a row waits for one while the consumer keeps
    # delivering. A batch goes to the writer sooner, as soon as the writer is free and the consumer has
    # caught up (nothing more queued after waiting `flush_linger_ms` for it): see turnpoint.loader.timing.
    batch_size: int = Field(default=20_000, ge=1, le=1_000_000)
    flush_interval_ms: int = Field(default=500, ge=10, le=600_000)
    flush_linger_ms: int = Field(default=5, ge=0, le=10_000)
    # librdkafka's fetch.wait.max.ms for the loader's consumer. Tansu 0.6 holds a fetch for about this long
    # even when records arrive meanwhile (500, librdkafka's default, delayed a record by 110 ms at the median
    # and up to 255 ms; 20: 13 ms, up to 72 ms), so it is the floor of the loader's latency.
    fetch_wait_ms: int = Field(default=20, ge=1, le=10_000)
    # `postgres`: psycopg 3, COPY into a temporary table, INSERT … ON CONFLICT.
    # `odbc`: pyodbc MERGE statements (Tibero/Oracle; `odbc_dialect=postgres` for psqlODBC).
    dialect: Literal["postgres", "odbc"] = "postgres"
    odbc_connection_string: SecretStr | None = None
    odbc_dialect: Literal["oracle", "postgres"] = "oracle"
    # Backoff while the database is unreachable: doubles from the first to the cap, forever.
    retry_initial_ms: int = Field(default=200, ge=1)
    retry_max_ms: int = Field(default=10_000, ge=1)
    # Try a plain COPY into the target table first (no conflicts expected: first loads); after a
    # conflict, use the upsert path for this many flushes of that table before trying again.
    direct_copy: bool = True
    direct_copy_cooldown: int = Field(default=50, ge=1)
    # Apply migrations when the service starts (the embedded stack does; production runs `loader migrate`).
    migrate_on_start: bool = False
    group_id: str | None = None  # default: turnpoint.core.topics.LOADER_GROUP.group_id


class LoaderSettings(TurnpointSettings):
    service_name: str = "turnpoint-loader"
    loader: LoaderOptions = LoaderOptions()
