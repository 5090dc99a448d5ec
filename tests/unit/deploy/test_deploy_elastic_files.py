"""The Logstash pipeline and Kibana saved objects that compose mounts (owned by the model service).

Skipped politely until those folders exist; once they do, compose must mount every file Logstash is
configured with, give the pipeline every `${VARIABLE}` it reads without a default, and run the Kibana setup
script with what it needs; every saved-objects file must be importable NDJSON.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_contract import KIBANA_OBJECTS, LOGSTASH_PIPELINE, REPO, compose_environment, load_compose

LOGSTASH = LOGSTASH_PIPELINE.parent
IN_CONTAINER = Path("/usr/share/logstash")


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """{container path: host path} of a compose service's bind mounts."""
    found: dict[str, Path] = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith("./"):
            found[target] = REPO / source[2:]
    return found


def _pipeline_confs() -> list[Path]:
    confs = sorted(LOGSTASH_PIPELINE.glob("*.conf")) if LOGSTASH_PIPELINE.is_dir() else []
    if not confs:
        pytest.skip("no pipeline at logstash/pipeline/*.conf yet")
    return confs


def test_logstash_pipeline_reads_only_variables_compose_provides() -> None:
    env = compose_environment(load_compose()["services"]["logstash"])
    confs = _pipeline_confs()
    for conf in confs:
        text = re.sub(r"(?m)^\s*#.*$", "", conf.read_text())
        for name, default in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}", text):
            assert name in env or default, f"{conf.name} reads ${{{name}}}, which compose does not set for logstash"
            if "PASSWORD" in name:
                assert name in env, f"{conf.name}: compose must set {name} (the default is a placeholder)"
    assert any("kafka" in c.read_text() for c in confs), "the pipeline should read from Kafka"


def test_compose_mounts_every_logstash_file_where_its_config_expects_it() -> None:
    _pipeline_confs()
    mounts = _mounts(load_compose()["services"]["logstash"])
    assert mounts.get(str(IN_CONTAINER / "pipeline")) == LOGSTASH_PIPELINE
    for name in ("config", "templates"):
        folder = LOGSTASH / name
        for file in sorted(folder.glob("*")) if folder.is_dir() else []:
            target = IN_CONTAINER / name / file.name
            mounted = mounts.get(str(target)) == file or mounts.get(str(target.parent)) == folder
            assert mounted, f"compose does not mount {file} at {target}"
    pipelines = LOGSTASH / "config" / "pipelines.yml"
    if pipelines.is_file():
        for entry in yaml.safe_load(pipelines.read_text()):
            path = Path(entry["path.config"])
            assert path.parent == IN_CONTAINER / "pipeline", path
            assert (LOGSTASH_PIPELINE / path.name).is_file(), f"pipelines.yml names {path}, not in logstash/pipeline"


def test_kibana_setup_runs_the_setup_script_with_its_inputs() -> None:
    script = KIBANA_OBJECTS / "setup.sh"
    if not script.is_file():
        pytest.skip("no deploy/kibana/setup.sh yet")
    service = load_compose()["services"]["kibana-setup"]
    mounts = _mounts(service)
    env = compose_environment(service)
    assert service["command"] == ["sh", "/setup/setup.sh"]
    assert mounts.get("/setup") == KIBANA_OBJECTS
    defaults = dict(re.findall(r'\$\{([A-Z_]+):-([^}]*)\}', script.read_text()))
    for name in ("TEMPLATE_FILE", "SAVED_OBJECTS_FILE"):
        path = Path(env.get(name, defaults[name]))
        host = next((h / path.relative_to(t) for t, h in mounts.items() if path.is_relative_to(t)), None)
        assert host is not None and host.is_file(), f"{name}={path} is not a mounted file"
    assert env.get("ELASTICSEARCH_PASSWORD"), "Elasticsearch security is on: the script needs the password"


def test_kibana_saved_objects_are_ndjson() -> None:
    files = sorted(KIBANA_OBJECTS.glob("*.ndjson")) if KIBANA_OBJECTS.is_dir() else []
    if not files:
        pytest.skip("no Kibana saved objects under deploy/kibana/*.ndjson yet")
    for path in files:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        assert lines, f"{path.name} is empty"
        for number, line in enumerate(lines, 1):
            obj = json.loads(line)
            assert "type" in obj or "exportedCount" in obj, f"{path.name}:{number} is not a saved object"
