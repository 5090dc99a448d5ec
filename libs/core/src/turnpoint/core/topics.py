"""The topic catalogue: names, keys, partition counts, item models and dead-letter routes.

Keys keep every series', symbol's, camera's or model's records on one partition, in order.
Names carry the schema version; a breaking change gets a new topic, not a new meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from turnpoint.core import contracts as c
from turnpoint.core.alerts.model import Alert


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    item: type[BaseModel]
    key_field: str
    description: str
    dead_letter: str | None = None
    compacted: bool = False
    partitions: int | None = None  # None: the deployment's default (TURNPOINT_KAFKA__PARTITIONS)

    def full_name(self, prefix: str = "") -> str:
        return f"{prefix}{self.name}"


def _dlq(name: str) -> str:
    return f"turnpoint.dlq.{name}.v1"


READINGS = TopicSpec("turnpoint.readings.v1", c.Reading, "series", "sensor readings (serial, Modbus, HTTP, replays)", _dlq("readings"))
BARS = TopicSpec("turnpoint.bars.v1", c.Bar, "symbol", "daily market bars as received, revisions included", _dlq("bars"))
COUNTS = TopicSpec("turnpoint.counts.v1", c.Count, "camera", "CCTV people/vehicle counts", _dlq("counts"))
SYMBOLS = TopicSpec("turnpoint.symbols.v1", c.SymbolInfo, "symbol", "symbol metadata", _dlq("symbols"), compacted=True)
PRICES = TopicSpec("turnpoint.prices.v1", c.PriceBar, "symbol", "validated daily bars and weekly/monthly aggregates")
STATS = TopicSpec("turnpoint.stats.v1", c.StatRow, "series", "absolute calendar statistics")
OUTLIERS = TopicSpec("turnpoint.outliers.v1", c.Outlier, "series", "outlier events")
LEGS = TopicSpec("turnpoint.legs.v1", c.Leg, "symbol", "confirmed rebound legs and withdrawals")
STATES = TopicSpec("turnpoint.rebound-states.v1", c.ReboundState, "symbol", "current rebound state", compacted=True)
PREDICTIONS = TopicSpec("turnpoint.predictions.v1", c.Prediction, "target", "model predictions")
INFERENCE_LOG = TopicSpec("turnpoint.inference-log.v1", c.InferenceLog, "model", "one ECS document per inference")
JOBS = TopicSpec("turnpoint.jobs.v1", c.JobInfo, "job", "job/stream freshness", compacted=True)
ALERTS = TopicSpec("turnpoint.alerts.v1", Alert, "subject", "alerts fired by the rules (SPEC 6), keyed by subject", _dlq("alerts"))

INPUTS: tuple[TopicSpec, ...] = (READINGS, BARS, COUNTS, SYMBOLS)
RESULTS: tuple[TopicSpec, ...] = (PRICES, STATS, OUTLIERS, LEGS, STATES, PREDICTIONS, JOBS, SYMBOLS)
LOADER_DLQ = _dlq("loader")
MODEL_DLQ = _dlq("predictions")  # the model worker's dead letters (bad prices/readings it consumed)
ALL: tuple[TopicSpec, ...] = (
    READINGS, BARS, COUNTS, SYMBOLS, PRICES, STATS, OUTLIERS, LEGS, STATES, PREDICTIONS, INFERENCE_LOG, JOBS, ALERTS,
)


def dead_letter_topics() -> list[str]:
    names = [t.dead_letter for t in ALL if t.dead_letter]
    return [*names, LOADER_DLQ, MODEL_DLQ]


@dataclass(frozen=True, slots=True)
class Names:
    """Full topic names of one deployment: the catalogue's names behind `prefix` (TURNPOINT_KAFKA__TOPIC_PREFIX)."""

    prefix: str = ""

    def topic(self, spec: TopicSpec | str) -> str:
        """A catalogue topic (or a catalogue name such as LOADER_DLQ) with the prefix."""
        return f"{self.prefix}{spec if isinstance(spec, str) else spec.name}"

    def dead_letter(self, spec: TopicSpec) -> str:
        """The dead-letter topic of an input topic."""
        if spec.dead_letter is None:
            msg = f"{spec.name} has no dead-letter topic"
            raise ValueError(msg)
        return self.topic(spec.dead_letter)

    def base(self, full: str) -> str:
        """The catalogue name of a full topic name (the prefix removed)."""
        return full[len(self.prefix):] if self.prefix and full.startswith(self.prefix) else full

    def dead_letters(self) -> list[str]:
        return [self.topic(n) for n in dead_letter_topics()]


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """A consumer group of a service and the topics it consumes (used by `dev wait-idle` and lag metrics)."""

    group_id: str
    inputs: tuple[TopicSpec, ...]


TRANSFORM_GROUP = GroupSpec("turnpoint-transform", (READINGS, BARS, COUNTS))
LOADER_GROUP = GroupSpec("turnpoint-loader", (READINGS, SYMBOLS, PRICES, STATS, OUTLIERS, LEGS, STATES, PREDICTIONS, JOBS))
MODEL_GROUP = GroupSpec("turnpoint-model", (PRICES, READINGS))
ALERTS_EVALUATOR_GROUP = GroupSpec("turnpoint-alerts", (OUTLIERS, LEGS, STATES, PREDICTIONS, JOBS))
ALERTS_NOTIFIER_GROUP = GroupSpec("turnpoint-alerts-notifier", (ALERTS,))
GROUPS: tuple[GroupSpec, ...] = (
    TRANSFORM_GROUP, LOADER_GROUP, MODEL_GROUP, ALERTS_EVALUATOR_GROUP, ALERTS_NOTIFIER_GROUP,
)

# Default HTTP ports (health, metrics and each service's own API); TURNPOINT_<SERVICE>__PORT overrides.
PORTS = {"api": 8000, "ingest": 8001, "model": 8002, "transform": 8003, "loader": 8004, "alerts": 8005}
