"""The serial configuration file (YAML or TOML): ports, their settings, protocols and series mappings.

See samples/serial.yaml and docs/ingest.md. Validation errors name the file and the offending field.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from turnpoint.ingest.errors import SerialConfigError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rs485(Strict):
    """pyserial's RS485Settings (kernel RS485 mode where the driver supports it)."""

    rts_level_for_tx: bool = True
    rts_level_for_rx: bool = False
    loopback: bool = False
    delay_before_tx: float | None = None
    delay_before_rx: float | None = None


class Field_(Strict):
    """Where one field of a CSV/key=value/JSON line goes."""

    series: str = Field(min_length=1, max_length=200)
    unit: str | None = None
    scale: float = 1.0
    offset: float = 0.0


class Register(Strict):
    """One Modbus value: address, table, data type, byte/word order, scaling."""

    series: str = Field(min_length=1, max_length=200)
    address: int = Field(ge=0, le=65535)
    table: Literal["holding", "input"] = "holding"
    type: Literal["int16", "uint16", "int32", "uint32", "float32", "int64", "uint64", "float64"] = "uint16"
    byte_order: Literal["big", "little"] = "big"
    word_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None

    @property
    def count(self) -> int:
        return {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}.get(self.type, 4)


class Modbus(Strict):
    device_id: int = Field(default=1, ge=0, le=247)
    interval: float = Field(default=1.0, gt=0)
    request_timeout: float = Field(default=0.5, gt=0)
    retries: int = Field(default=2, ge=0)
    # consecutive failed polls after which the port is closed and reopened (device stopped answering)
    reconnect_after_failures: int = Field(default=3, ge=1)
    registers: list[Register] = Field(min_length=1)


class Backoff(Strict):
    initial: float = Field(default=0.2, gt=0)
    max: float = Field(default=10.0, gt=0)
    factor: float = Field(default=2.0, ge=1)


class PortConfig(Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    device: str = Field(min_length=1, description="a device path (/dev/ttyUSB0) or a pyserial URL")
    baudrate: int = Field(default=9600, gt=0)
    parity: Literal["N", "E", "O", "M", "S"] = "N"
    # typing allows no float in a Literal; pydantic validates one all the same (pyserial's STOPBITS_ONE_POINT_FIVE)
    stopbits: Literal[1, 1.5, 2] = 1  # type: ignore[valid-type]
    bytesize: Literal[5, 6, 7, 8] = 8
    timeout: float = Field(default=0.2, gt=0, description="read timeout in seconds")
    rs485: Rs485 | None = None
    protocol: Literal["value", "csv", "kv", "json", "modbus"] = "value"
    encoding: str = "ascii"
    max_line: int = Field(default=4096, ge=16)
    # `value` protocol: the one series the bare values belong to
    series: str | None = Field(default=None, min_length=1, max_length=200)
    unit: str | None = None
    # `csv` protocol: column names in order; `csv`/`kv`/`json`: field name -> series
    columns: list[str] | None = None
    fields: dict[str, Field_] = Field(default_factory=dict)
    timestamp_field: str | None = None
    # checksum at the end of each line: `*HH`, XOR of the bytes before `*` (NMEA style)
    checksum: Literal["none", "xor8"] = "none"
    # reopen the port when no byte arrived for this long (None: silence is fine)
    idle_reconnect_seconds: float | None = Field(default=None, gt=0)
    backoff: Backoff = Backoff()
    modbus: Modbus | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PortConfig:
        if self.protocol == "value" and not self.series:
            msg = "protocol 'value' needs `series` (the series every value belongs to)"
            raise ValueError(msg)
        if self.protocol == "csv" and not self.columns:
            msg = "protocol 'csv' needs `columns` (the field names of the comma-separated values, in order)"
            raise ValueError(msg)
        if self.protocol in ("csv", "kv", "json") and not self.fields:
            msg = f"protocol {self.protocol!r} needs `fields` (field name -> series and unit)"
            raise ValueError(msg)
        if self.protocol == "modbus" and self.modbus is None:
            msg = "protocol 'modbus' needs a `modbus` section with `registers`"
            raise ValueError(msg)
        return self


class SerialConfig(Strict):
    ports: list[PortConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> SerialConfig:
        names = [p.name for p in self.ports]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            msg = f"port names must be unique; repeated: {', '.join(sorted(dup))}"
            raise ValueError(msg)
        return self


def load_serial_config(path: Path) -> SerialConfig:
    """Parse and validate a YAML (.yaml/.yml) or TOML (.toml) file; SerialConfigError says what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read the serial config {path}: {exc.strerror}; check TURNPOINT_INGEST__SERIAL_CONFIG"
        raise SerialConfigError(msg) from None
    try:
        doc = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        msg = f"{path} is not valid {'TOML' if path.suffix == '.toml' else 'YAML'}: {exc}"
        raise SerialConfigError(msg) from None
    try:
        return SerialConfig.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'top level'}: {e['msg']}" for e in exc.errors()[:5])
        msg = f"{path}: invalid serial config: {problems}"
        raise SerialConfigError(msg) from None
