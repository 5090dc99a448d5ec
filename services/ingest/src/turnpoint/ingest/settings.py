"""Settings of the ingest service: `TURNPOINT_INGEST__*` (one nested group, see `IngestConfig`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from turnpoint.core.settings import TurnpointSettings
from turnpoint.core.topics import PORTS


class IngestConfig(BaseModel):
    """What `turnpoint ingest run` serves and watches; every field is `TURNPOINT_INGEST__<FIELD>`."""

    port: int = Field(default=PORTS["ingest"], ge=0, le=65535)
    # Items per Kafka message for files and HTTP batches (one envelope holds many items of one key).
    batch_size: int = Field(default=500, ge=1, le=10000)
    # The drop folder the watcher ingests market files from (disabled when unset or empty).
    drop_dir: Path | None = None
    drop_poll_seconds: float = Field(default=1.0, gt=0)
    # A YAML or TOML file describing serial ports (none when unset).
    serial_config: Path | None = None
    # Local durable spool for records Kafka did not take (serial and HTTP paths).
    spool_dir: Path = Path("var/ingest-spool")
    spool_retention_days: int = Field(default=7, ge=1)
    spool_segment_bytes: int = Field(default=16 * 1024 * 1024, ge=4096)
    # Keep every acknowledged input record under <spool_dir>/journal until PostgreSQL holds it, so that a
    # restart on an empty broker can re-send what was accepted but not loaded (`turnpoint dev up` sets it).
    journal: bool = Field(default=False, description="keep acknowledged input records in <spool_dir>/journal "
                          "until PostgreSQL holds them (set by `turnpoint dev up`)")
    # HTTP write API limits.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_batch_items: int = Field(default=10000, ge=1)
    # the largest Kafka message value the write API produces (below the producer's message.max.bytes):
    # a batch is split into messages of at most this size, and a record that cannot fit gets 413
    max_message_bytes: int = Field(default=900_000, ge=1024, le=1_000_000)
    ack_timeout_seconds: float = Field(default=10.0, gt=0)
    idempotency_ttl_hours: int = Field(default=24, ge=1)
    # how often expired idempotency keys are deleted from `ingest_idempotency`
    idempotency_purge_seconds: float = Field(default=600.0, gt=0)
    # how long a request waits for a database connection before it answers 503 with Retry-After
    db_timeout_seconds: float = Field(default=0.5, gt=0, le=30)
    # how long a token check is cached: a revoked token stops working within this many seconds
    token_cache_seconds: float = Field(default=5.0, ge=0)

    @field_validator("drop_dir", "serial_config", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`TURNPOINT_INGEST__DROP_DIR=""` means no drop folder, not the working directory."""
        return None if isinstance(value, str) and not value.strip() else value


class IngestSettings(TurnpointSettings):
    service_name: str = "turnpoint-ingest"
    ingest: IngestConfig = IngestConfig()
