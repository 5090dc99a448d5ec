"""Settings of the alerts service: `TURNPOINT_ALERTS__*` (one nested group, see turnpoint.core.settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from turnpoint.core.settings import TurnpointSettings
from turnpoint.core.topics import PORTS


class AlertsConfig(BaseModel):
    """Where the rules are, which role the process plays, and how hard the notifier retries."""

    port: int = Field(default=PORTS["alerts"], ge=0, le=65535, description="HTTP port of /healthz, /readyz, /metrics")
    rules_file: Path | None = Field(default=None, description="YAML rules file (SPEC 6); reloaded when it changes")
    role: Literal["all", "evaluator", "notifier"] = Field(default="all", description="all, evaluator or notifier")
    batch_max: int = Field(default=2000, ge=1, le=100_000, description="records per consumed batch")
    poll_timeout_s: float = Field(default=0.1, gt=0, description="consumer poll timeout")
    tick_s: float = Field(default=1.0, gt=0, description="how often stale jobs are checked against the clock")
    jobs_poll_s: float = Field(default=10.0, gt=0, description="how often job_info (the loader's tables) is read")
    warmup_messages: int = Field(default=5000, ge=0, description="dead letters re-read per partition on start")
    workers: int = Field(default=32, ge=1, le=512, description="concurrent webhook deliveries")
    retry_base_s: float = Field(default=0.5, gt=0, description="first retry delay (doubles per failure, jittered)")
    retry_cap_s: float = Field(default=60.0, gt=0, description="longest delay between two attempts")
    group_prefix: str = Field(default="", description="prefix of the consumer group ids (isolation of tests)")
    lease_s: float = Field(default=60.0, gt=0, description="an attempt in flight longer than this is retried")


class AlertsSettings(TurnpointSettings):
    service_name: str = "turnpoint-alerts"
    alerts: AlertsConfig = AlertsConfig()
