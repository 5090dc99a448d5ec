"""Settings of the read API: `TURNPOINT_API__PORT`, `TURNPOINT_API__REQUIRE_TOKEN`, ..."""

from __future__ import annotations

from pydantic import BaseModel, Field

from turnpoint.core.settings import TurnpointSettings
from turnpoint.core.topics import PORTS


class ApiOptions(BaseModel):
    """The API's own knobs (environment: `TURNPOINT_API__<NAME>`)."""

    port: int = Field(default=PORTS["api"], ge=1, le=65535)
    host: str | None = None  # None: the shared TURNPOINT_HOST
    workers: int = Field(default=1, ge=1, le=64)
    require_token: bool = False
    pool_min_size: int = Field(default=2, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    statement_timeout_ms: int = Field(default=5000, ge=100)
    jobs_max_age_s: float = Field(default=3600.0, gt=0, description="GET /v1/jobs marks a job stale past this age")
    freeze_heap: bool = Field(default=True, description="gc.freeze() the startup heap once the pool is open (docs/api.md)")
    access_log: bool = Field(default=True, description="one ECS line per request (method, path, status, client)")


class ApiSettings(TurnpointSettings):
    service_name: str = "turnpoint-api"
    api: ApiOptions = ApiOptions()

    @property
    def bind_host(self) -> str:
        return self.api.host or self.host
