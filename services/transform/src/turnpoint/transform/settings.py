"""Settings of the transform workers (`TURNPOINT_TRANSFORM__*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from turnpoint.core.settings import TurnpointSettings
from turnpoint.core.topics import PORTS


class TransformOptions(BaseModel):
    port: int = PORTS["transform"]
    data_dir: Path = Path(".turnpoint/transform")
    threshold: float = Field(default=0.0, ge=0.0, description="zigzag reversal threshold, a fraction (0.05 = 5 %)")
    revision_horizon: int = Field(default=60, ge=1, description="bars kept per symbol to apply revisions")
    window_days: int = Field(default=28, ge=1)
    min_count: int = Field(default=30, ge=1)
    k: float = Field(default=1.5, gt=0)
    batch_max: int = Field(
        default=2000, ge=1, description="at most this many waiting events are processed as one batch",
    )
    batch_max_bytes: int = Field(
        default=16 << 20, ge=1,
        description="at most this many bytes of message values are processed as one batch (memory: ~10x this)",
    )
    stream_buffer: int = Field(
        default=4096, ge=1,
        description="events fetched ahead per input partition (Faust's stream_buffer_maxsize; memory: times the message size)",
    )
    fetch_wait_ms: int = Field(
        default=20, ge=1, le=10_000,
        description="the longest the broker may hold a fetch of the worker's consumer (Faust fixes 1500; Tansu "
                    "holds it that long even when records arrive, so it is the floor of the worker's latency)",
    )
    stall_seconds: float = Field(
        default=5.0, gt=0, description="an agent idle this long while its consumer fetched past it seeks back",
    )


class TransformSettings(TurnpointSettings):
    service_name: str = "turnpoint-transform"
    transform: TransformOptions = TransformOptions()
