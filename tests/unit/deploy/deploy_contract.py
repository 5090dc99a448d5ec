"""What the code reads, derived from the code itself, and the deployment files, parsed.

The deployment tests compare the two: ports from `turnpoint.core.topics.PORTS`, environment variable names
from the pydantic settings classes, commands from the typer apps. Nothing here copies a value from the code.
"""

from __future__ import annotations

import ast
import importlib
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import typer
import yaml
from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo
from turnpoint.core.settings import ENV_PREFIX, TurnpointSettings
from turnpoint.core.topics import PORTS

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
K8S = REPO / "deploy" / "k8s"
BUILDS = ("base", "overlays/dev", "overlays/prod", "overlays/prod-serial", "platform")
LOGSTASH_PIPELINE = REPO / "logstash" / "pipeline"
KIBANA_OBJECTS = REPO / "deploy" / "kibana"
SERVICES = tuple(PORTS)
LONG_RUNNING = {"run", "serve", "worker"}
LOOPBACK = ("127.", "localhost", "::1")


# ----------------------------------------------------------------------------- the code's side


@cache
def settings_class(service: str) -> type[TurnpointSettings] | None:
    """`turnpoint.<service>.settings.<Service>Settings`, or None while the service is not written yet."""
    try:
        module = importlib.import_module(f"turnpoint.{service}.settings")
    except ModuleNotFoundError:
        return None
    found = [
        obj for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, TurnpointSettings) and obj is not TurnpointSettings
        and obj.__module__ == module.__name__
    ]
    assert len(found) == 1, f"turnpoint.{service}.settings should define one TurnpointSettings subclass: {found}"
    return found[0]


def _field_env_name(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0].upper()
    if isinstance(alias, str):
        return alias.upper()
    return f"{ENV_PREFIX}{name.upper()}"


def _nested_model(field: FieldInfo) -> type[BaseModel] | None:
    ann = field.annotation
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def env_names(cls: type[TurnpointSettings]) -> set[str]:
    """Every environment variable a settings class reads (nested groups joined with `__`)."""
    names: set[str] = set()
    for name, field in cls.model_fields.items():
        top = _field_env_name(name, field)
        nested = _nested_model(field)
        if nested is None:
            names.add(top)
        else:
            names |= {f"{top}__{sub.upper()}" for sub in nested.model_fields}
    return names


def known_env(service: str) -> set[str]:
    cls = settings_class(service)
    return env_names(cls if cls is not None else TurnpointSettings)


def service_group(service: str) -> str:
    """Name of the one nested model a service adds (`TURNPOINT_<SERVICE>__...`)."""
    return f"{ENV_PREFIX}{service.upper()}"


def has_port_setting(service: str) -> bool:
    return f"{service_group(service)}__PORT" in known_env(service)


def service_source(service: str) -> str:
    root = REPO / "services" / service / "src"
    return "\n".join(p.read_text() for p in sorted(root.rglob("*.py")))


def uses_database(service: str) -> bool:
    """A service whose code opens a database connection needs `TURNPOINT_DATABASE_URL` (and only those)."""
    return bool(re.search(r"psycopg|asyncpg|\.dsn\(\)|database_url", service_source(service)))


def uses_kafka(service: str) -> bool:
    return bool(re.search(r"confluent_kafka|turnpoint\.core\.kafka|faust|aiokafka", service_source(service)))


@cache
def root_command() -> Any:
    from turnpoint.cli.main import app

    return typer.main.get_command(app)


def resolve_command(words: list[str]) -> Any | None:
    """The (click-style) command `turnpoint <words...>` runs, or None when the CLI has no such command."""
    cmd = root_command()
    for word in words:
        sub = (getattr(cmd, "commands", None) or {}).get(word)  # typer groups (typer may vendor click)
        if sub is None and hasattr(cmd, "load_command"):  # the root group imports its sub-commands lazily
            sub = cmd.load_command(word)
        if sub is None:
            return None
        cmd = sub
    return cmd


def cli_of_service_exists(service: str) -> bool:
    return resolve_command([service]) is not None


def workspace_members() -> list[Path]:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    members: list[Path] = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        members += [p for p in sorted(REPO.glob(pattern)) if (p / "pyproject.toml").is_file()]
    return members


# ----------------------------------------------------------------------------- compose


_VAR = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


class MissingVariable(ValueError):
    pass


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose-style `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `$$`."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group("name"), m.group("op"), m.group("arg") or ""
        value = env.get(name)
        missing = not value if op in (":-", ":?") else value is None
        if missing and op in (":?", "?"):
            msg = f"{name}: {arg}"
            raise MissingVariable(msg)
        if missing and op in (":-", "-"):
            return arg
        return value or ""

    return _VAR.sub(sub, text)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _interpolated(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {_interpolated(k, env): _interpolated(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolated(item, env) for item in node]
    return node


def raw_compose() -> dict[str, Any]:
    """docker-compose.yml parsed (anchors and merge keys resolved), before interpolation, as compose does."""
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def compose_variables() -> dict[str, set[str]]:
    """Variables docker-compose.yml interpolates: {name: set of operators used ('' for plain)}."""
    found: dict[str, set[str]] = {}
    for text in _strings(raw_compose()):
        for m in _VAR.finditer(text):
            if m.group("name"):
                found.setdefault(m.group("name"), set()).add(m.group("op") or "")
    return found


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def example_env_with_secrets() -> dict[str, str]:
    """`.env.example` as a user fills it in: every empty (secret) value replaced by a made-up one."""
    return {k: v or f"test-{k.lower()}" for k, v in read_env_file(ENV_EXAMPLE).items()}


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml as compose sees it with `env` (default: .env.example with made-up secrets)."""
    data = _interpolated(raw_compose(), example_env_with_secrets() if env is None else env)
    assert isinstance(data, dict)
    return data


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def compose_command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command")
    return cmd if isinstance(cmd, list) else str(cmd).split()


# ----------------------------------------------------------------------------- kubernetes


def kubectl() -> str | None:
    return shutil.which("kubectl")


@cache
def kustomize_build(path: str) -> list[dict[str, Any]]:
    exe = kubectl()
    assert exe is not None
    out = subprocess.run(
        [exe, "kustomize", str(K8S / path)], capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, f"kubectl kustomize {path} failed:\n{out.stderr}"
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def objects(docs: list[dict[str, Any]], kind: str) -> Iterator[dict[str, Any]]:
    return (d for d in docs if d["kind"] == kind)


def by_name(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in objects(docs, kind) if d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def config_map_data(docs: list[dict[str, Any]], ref: str) -> dict[str, str]:
    return dict(by_name(docs, "ConfigMap", ref)["data"])


@dataclass(frozen=True)
class ContainerEnv:
    """The environment a container sees: plain values, and names filled from Secrets (with their key)."""

    values: dict[str, str]
    secrets: dict[str, tuple[str, str]]

    @property
    def names(self) -> set[str]:
        return set(self.values) | set(self.secrets)


def container_env(docs: list[dict[str, Any]], container: dict[str, Any]) -> ContainerEnv:
    values: dict[str, str] = {}
    secrets: dict[str, tuple[str, str]] = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            values.update(config_map_data(docs, src["configMapRef"]["name"]))
    for item in container.get("env", []):
        if "value" in item:
            values[item["name"]] = str(item["value"])
        elif "secretKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["secretKeyRef"]
            secrets[item["name"]] = (ref["name"], ref["key"])
    return ContainerEnv(values, secrets)


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def python_executable_dir() -> Path:
    return Path(sys.executable).parent


def tool(name: str) -> str | None:
    """An executable on PATH or in the running interpreter's environment (dev dependencies install there)."""
    found = shutil.which(name)
    if found:
        return found
    candidate = python_executable_dir() / name
    return str(candidate) if candidate.is_file() else None


def check_python_snippet(code: str) -> None:
    """A `python -c` one-liner parses, and every name it imports exists in the code."""
    imports = [node for node in ast.walk(ast.parse(code)) if isinstance(node, ast.ImportFrom)]
    assert imports, code
    for node in imports:
        module = importlib.import_module(node.module or "")
        for alias in node.names:
            assert hasattr(module, alias.name), f"{node.module}.{alias.name} does not exist"
