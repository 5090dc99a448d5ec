"""The environment variables turnpoint reads, derived from the settings classes (one source of truth)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from turnpoint.core.settings import ENV_PREFIX, TurnpointSettings

SERVICE_SETTINGS = {
    "ingest": "turnpoint.ingest.settings:IngestSettings",
    "transform": "turnpoint.transform.settings:TransformSettings",
    "loader": "turnpoint.loader.settings:LoaderSettings",
    "model": "turnpoint.model.settings:ModelSettings",
    "api": "turnpoint.api.settings:ApiSettings",
    "alerts": "turnpoint.alerts.settings:AlertsSettings",
    "schedule": "turnpoint.cli.schedule:ScheduleSettings",
    "dev supervisor": "turnpoint.cli.recycle:SupervisorSettings",
}


def settings_classes() -> dict[str, type[TurnpointSettings]]:
    out: dict[str, type[TurnpointSettings]] = {"all services": TurnpointSettings}
    for service, ref in SERVICE_SETTINGS.items():
        module, _, name = ref.partition(":")
        try:
            out[service] = getattr(importlib.import_module(module), name)
        except (ModuleNotFoundError, AttributeError):
            continue
    return out


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return ""
    value = field.default
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, BaseModel):
        return ""
    return "" if value is None else str(value)


def _walk(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, FieldInfo]]:
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _walk(ann, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}", field


def env_rows() -> list[tuple[str, str, str, str]]:
    """(variable, used by, default, description) for every variable, each listed once."""
    base_names = {n for n, _ in _walk(TurnpointSettings, ENV_PREFIX)}
    rows: list[tuple[str, str, str, str]] = []
    for owner, cls in settings_classes().items():
        for var, field in _walk(cls, ENV_PREFIX):
            if owner != "all services" and var in base_names:
                continue
            rows.append((var, owner, _default(field), field.description or ""))
    rows.append(("DATABASE_URL", "all services", "", "accepted instead of TURNPOINT_DATABASE_URL"))
    rows.append(("TURNPOINT_HOME", "dev stack", ".turnpoint", "folder of the embedded stack's data and logs"))
    rows.append(("TURNPOINT_TEST_KAFKA", "tests", "", "use this broker instead of an embedded one"))
    return rows


def markdown_table() -> str:
    lines = ["| variable | used by | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{v}` | {o} | {('`' + d + '`') if d else ''} | {m} |" for v, o, d, m in env_rows()]
    return "\n".join(lines)


def main(*_: Any) -> None:
    print(markdown_table())


if __name__ == "__main__":
    main()
