"""Settings shared by every turnpoint process (pydantic-settings).

Every environment variable turnpoint reads is declared by a field of a class in this module or of a
service's subclass of `TurnpointSettings`; the README's table lists them (a test keeps it in step).
Nested groups use `__`: `TURNPOINT_KAFKA__BOOTSTRAP_SERVERS`. Only entrypoints build settings from the
environment; library code receives explicit values.
"""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from turnpoint.core.skew import FutureSkew

ENV_PREFIX = "TURNPOINT_"
PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "password", ""}


class KafkaSettings(BaseModel):
    """How to reach the broker, and the client timings that matter for it."""

    bootstrap_servers: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated")
    client_id: str = Field(default="turnpoint", description="client.id prefix")
    # A new consumer group joins in ~3 s with 6 s against Tansu, ~23 s with librdkafka's default 45 s.
    session_timeout_ms: int = Field(default=6000, ge=1000, description="consumer session timeout (6 s: groups join in ~3 s)")
    heartbeat_interval_ms: int = Field(default=1000, ge=100, description="consumer heartbeat interval")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    sasl_mechanism: str | None = Field(default=None, description="e.g. SCRAM-SHA-512")
    sasl_username: str | None = None
    sasl_password: SecretStr | None = Field(default=None, description="secret; never logged")
    topic_prefix: str = Field(default="", description="prefix of every topic name (isolation of tests/tenants)")
    partitions: int = Field(default=4, ge=1, le=1024, description="partitions of topics turnpoint creates")
    replication_factor: int = Field(default=1, ge=1, description="replication factor of topics turnpoint creates")

    def client_config(self) -> dict[str, Any]:
        """librdkafka connection properties shared by producers, consumers and admin clients."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        return conf


class TurnpointSettings(BaseSettings):
    """The base every service's settings extend."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="ignore",
        populate_by_name=True,
    )

    environment: Literal["development", "test", "production"] = Field(
        default="development", description="development, test or production (refuses placeholder secrets)"
    )
    service_name: str = Field(default="turnpoint", description="service.name in logs")
    kafka: KafkaSettings = KafkaSettings()
    database_url: SecretStr = Field(
        default=SecretStr("postgresql://turnpoint@127.0.0.1:5432/turnpoint"),
        validation_alias=AliasChoices("TURNPOINT_DATABASE_URL", "DATABASE_URL", "database_url"),
        description="PostgreSQL URL (secret; DATABASE_URL is accepted too)",
    )
    tz: str = Field(default="UTC", description="IANA time zone of calendar boundaries (demo: Asia/Seoul)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="log level")
    log_format: Literal["json", "console"] = Field(default="json", description="json (ECS) or console")
    host: str = Field(default="127.0.0.1", description="address HTTP endpoints bind to (0.0.0.0 in containers)")
    lateness_days: float = Field(
        default=2.0, gt=0,
        description="allowed lateness of readings, days behind the newest of their series (later: dead letter `late`): "
                    "transform, loader",
    )
    future_skew_days: float = Field(
        default=1.0, ge=0,
        description="an event later than the clock plus this many days is dead-lettered (future): transform, loader, model",
    )

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"TURNPOINT_TZ={value!r} is not an IANA time zone name (for example UTC or Asia/Seoul)"
            raise ValueError(msg) from exc
        return value

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> TurnpointSettings:
        if self.environment == "production":
            pw = self.kafka.sasl_password
            if pw is not None and pw.get_secret_value().lower() in PLACEHOLDER_SECRETS:
                msg = "TURNPOINT_KAFKA__SASL_PASSWORD holds a placeholder; set a real secret in production"
                raise ValueError(msg)
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def future_skew(self) -> FutureSkew:
        """SPEC 2's clock rule with this deployment's skew, on the system clock."""
        return FutureSkew(self.future_skew_days)

    def dsn(self) -> str:
        """The database URL, secret included: pass it to drivers, never to logs."""
        return self.database_url.get_secret_value()
