"""Settings of the model service: `TURNPOINT_MODEL__*` (one nested group, see turnpoint.core.settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from turnpoint.core.settings import TurnpointSettings
from turnpoint.core.topics import PORTS


class ModelConfig(BaseModel):
    """How the model service serves, batches and logs."""

    port: int = Field(default=PORTS["model"], ge=0, le=65535)
    registry_dir: Path = Path(".turnpoint/models")
    # ECS JSON lines of every inference, one file per UTC day; survives Elasticsearch and Kafka outages.
    log_dir: Path = Path(".turnpoint/inference-logs")
    # Optional direct writer (Elasticsearch bulk helper); the Kafka topic + Logstash is the main path.
    elasticsearch_url: str | None = None
    elasticsearch_index_prefix: str = "turnpoint-inference"
    elasticsearch_queue: int = Field(default=50_000, ge=100)
    reload_interval_s: float = Field(default=2.0, gt=0)
    stream_enabled: bool = True
    batch_max: int = Field(default=2000, ge=1, le=100_000)
    poll_timeout_s: float = Field(default=0.2, gt=0)
    http_max_items: int = Field(default=10_000, ge=1)
    # Train the small demo models into the registry at start-up when it lacks them, before the service
    # answers ready (`turnpoint dev up` and the compose file turn this on; Kubernetes runs an init container).
    demo_models: bool = False


class ModelSettings(TurnpointSettings):
    service_name: str = "turnpoint-model"
    model: ModelConfig = ModelConfig()
