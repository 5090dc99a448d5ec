"""deploy/k8s: every kustomization builds, every object validates, and the manifests match the code.

Builds use `kubectl kustomize` (kustomize v5 is built into kubectl); objects are validated offline against
the Kubernetes OpenAPI schemas shipped by `kubernetes-validate`, strictly (unknown fields are errors).
Operator resources (Strimzi, ECK) have no schema there and get structural checks instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from deploy_contract import (
    BUILDS,
    K8S,
    LONG_RUNNING,
    SERVICES,
    by_name,
    check_python_snippet,
    cli_of_service_exists,
    container_env,
    has_port_setting,
    known_env,
    kubectl,
    kustomize_build,
    objects,
    pod_spec,
    read_env_file,
    resolve_command,
    service_group,
    settings_class,
    uses_database,
    uses_kafka,
)
from turnpoint.core.settings import ENV_PREFIX
from turnpoint.core.topics import PORTS

K8S_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())
OPERATOR_KINDS = {
    ("kafka.strimzi.io/v1beta2", "Kafka"),
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"),
    ("elasticsearch.k8s.elastic.co/v1", "Elasticsearch"),
    ("kibana.k8s.elastic.co/v1", "Kibana"),
}
APP_OVERLAYS = ("overlays/dev", "overlays/prod")
SECRET_KEYS = set(read_env_file(K8S / "base" / "secrets.env.example"))

pytestmark = pytest.mark.skipif(
    kubectl() is None, reason="kubectl not installed (Debian package kubectl): kustomize builds not checked",
)


def _deployment(docs: list[dict[str, Any]], service: str) -> dict[str, Any]:
    return by_name(docs, "Deployment", f"turnpoint-{service}")


def _container(docs: list[dict[str, Any]], service: str) -> dict[str, Any]:
    containers = pod_spec(_deployment(docs, service))["containers"]
    assert len(containers) == 1
    return containers[0]


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector:
        return True
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        present = expr["key"] in labels
        inside = present and labels[expr["key"]] in expr.get("values", [])
        ok = {"In": inside, "NotIn": not inside, "Exists": present, "DoesNotExist": not present}[expr["operator"]]
        if not ok:
            return False
    return True


# ----------------------------------------------------------------------------- builds and schemas


@pytest.mark.parametrize("path", BUILDS)
def test_kustomization_builds(path: str) -> None:
    assert kustomize_build(path), f"{path} built no objects"


@pytest.mark.parametrize("path", BUILDS)
def test_every_object_validates_against_the_kubernetes_schemas(path: str) -> None:
    problems: list[str] = []
    for doc in kustomize_build(path):
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if (doc["apiVersion"], doc["kind"]) in OPERATOR_KINDS:
            if not isinstance(doc.get("spec"), dict) or not doc["metadata"].get("namespace"):
                problems.append(f"{name}: operator resource needs a spec and an explicit namespace")
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                problems.append(f"{name} (k8s {version}): {exc.message} at {'/'.join(map(str, exc.path))}")
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(f"{name}: {doc['apiVersion']} {doc['kind']} is unknown to Kubernetes {version}")
    assert not problems, "\n".join(problems)


def test_the_validator_rejects_a_broken_object() -> None:
    deployment = _deployment(kustomize_build("overlays/prod"), "api")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)


@pytest.mark.parametrize("path", BUILDS)
def test_no_secret_value_is_committed(path: str) -> None:
    secrets = list(objects(kustomize_build(path), "Secret"))
    assert not secrets, f"{path} builds Secrets; create them out of band (docs/deploy.md): {secrets}"
    for file in (K8S / path).rglob("*"):
        assert file.name not in {"secrets.env", ".env"}, f"{file} must not be committed"


# ----------------------------------------------------------------------------- services against the code


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_service_command_port_and_probes_match_the_code(overlay: str, service: str) -> None:
    docs = kustomize_build(overlay)
    container = _container(docs, service)
    port = PORTS[service]
    args = container["args"]
    assert "command" not in container, "the image's entrypoint is `turnpoint`"
    assert args[0] == service and args[-1] in LONG_RUNNING, args
    if cli_of_service_exists(service):
        assert resolve_command(args) is not None, f"`turnpoint {' '.join(args)}` is not a command of the CLI"
    assert [p["containerPort"] for p in container["ports"]] == [port]
    # liveness never depends on the database or broker (/healthz); readiness is /readyz
    for probe, path in (("startupProbe", "/healthz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert container[probe]["httpGet"]["path"] == path, probe
        assert container[probe]["httpGet"]["port"] in (port, container["ports"][0]["name"]), probe
    service_obj = by_name(docs, "Service", f"turnpoint-{service}")
    assert [p["port"] for p in service_obj["spec"]["ports"]] == [port]
    annotations = _deployment(docs, service)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port) and annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_service_env_is_read_by_its_settings_and_loads(
    overlay: str, service: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = kustomize_build(overlay)
    env = container_env(docs, _container(docs, service))
    unknown = {k for k in env.names if k.startswith(ENV_PREFIX)} - known_env(service)
    assert not unknown, f"{service}: sets variables no settings class reads: {sorted(unknown)}"
    for name, (secret, key) in env.secrets.items():
        assert secret == "turnpoint-secrets" and key in SECRET_KEYS, f"{name} from unknown secret key {secret}/{key}"
    assert ("TURNPOINT_DATABASE_URL" in env.secrets) == uses_database(service), (
        f"{service}: TURNPOINT_DATABASE_URL should be given exactly to the services whose code opens a database"
    )
    assert "TURNPOINT_DATABASE_URL" not in env.values, "the database URL holds a password: use the Secret"
    if has_port_setting(service):
        assert env.values[f"{service_group(service)}__PORT"] == str(PORTS[service])

    cls = settings_class(service)
    if cls is None:
        pytest.skip(f"turnpoint.{service}.settings is not written yet")
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX) or k == "DATABASE_URL"]:
        monkeypatch.delenv(key)
    for key, value in env.values.items():
        monkeypatch.setenv(key, value)
    for key in env.secrets:
        monkeypatch.setenv(key, "postgresql://turnpoint:pw@db.example:5432/turnpoint")
    settings = cls()
    assert settings.host == "0.0.0.0"
    if uses_kafka(service):
        assert not settings.kafka.bootstrap_servers.startswith(("127.", "localhost"))


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_init_jobs_migrate_and_create_topics(overlay: str) -> None:
    docs = kustomize_build(overlay)
    migrate = pod_spec(by_name(docs, "Job", "turnpoint-migrate"))["containers"][0]
    if cli_of_service_exists("loader"):
        assert resolve_command(migrate["args"]) is not None, migrate["args"]
    assert migrate["args"] == ["loader", "migrate"]
    assert "TURNPOINT_DATABASE_URL" in container_env(docs, migrate).secrets
    topics = pod_spec(by_name(docs, "Job", "turnpoint-topics"))["containers"][0]
    assert topics["command"] == ["python", "-c"]
    check_python_snippet(topics["args"][0])


def test_compose_and_kubernetes_set_the_same_service_specific_variables() -> None:
    from deploy_contract import compose_environment, load_compose

    compose = load_compose()
    docs = kustomize_build("overlays/prod")
    for service in SERVICES:
        group = f"{service_group(service)}__"
        in_compose = {k for k in compose_environment(compose["services"][service]) if k.startswith(group)}
        in_k8s = {k for k in container_env(docs, _container(docs, service)).names if k.startswith(group)}
        assert in_compose == in_k8s, f"{service}: compose {sorted(in_compose)} vs k8s {sorted(in_k8s)}"


# ----------------------------------------------------------------------------- operability and safety


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_pods_are_unprivileged_bounded_and_without_api_access(overlay: str) -> None:
    docs = kustomize_build(overlay)
    accounts = {d["metadata"]["name"]: d for d in objects(docs, "ServiceAccount")}
    assert not list(objects(docs, "RoleBinding")) and not list(objects(docs, "ClusterRoleBinding"))
    for kind in ("Deployment", "StatefulSet", "Job"):
        for obj in objects(docs, kind):
            spec = pod_spec(obj)
            name = f"{kind}/{obj['metadata']['name']}"
            assert spec["automountServiceAccountToken"] is False, name
            assert accounts[spec["serviceAccountName"]]["automountServiceAccountToken"] is False, name
            assert spec["securityContext"]["runAsNonRoot"] is True, name
            for c in spec["containers"]:
                assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
                assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], name
                assert c["resources"]["requests"] and c["resources"]["limits"], name
                if kind != "Job":
                    assert "readinessProbe" in c and "livenessProbe" in c, name


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_every_workload_has_a_disruption_budget(overlay: str) -> None:
    docs = kustomize_build(overlay)
    budgets = list(objects(docs, "PodDisruptionBudget"))
    for kind in ("Deployment", "StatefulSet"):
        for obj in objects(docs, kind):
            labels = obj["spec"]["template"]["metadata"]["labels"]
            covering = [b for b in budgets if _matches(b["spec"]["selector"], labels)]
            assert len(covering) == 1, f"{kind}/{obj['metadata']['name']}: {len(covering)} PodDisruptionBudgets"


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_api_and_transform_autoscale_and_transform_never_beyond_the_partitions(overlay: str) -> None:
    docs = kustomize_build(overlay)
    hpas = {d["spec"]["scaleTargetRef"]["name"]: d for d in objects(docs, "HorizontalPodAutoscaler")}
    assert set(hpas) == {"turnpoint-api", "turnpoint-transform"}
    partitions = int(by_name_prefix(docs, "ConfigMap", "turnpoint-config")["data"]["TURNPOINT_KAFKA__PARTITIONS"])
    transform = hpas["turnpoint-transform"]["spec"]
    assert transform["maxReplicas"] <= partitions, (
        f"{overlay}: {transform['maxReplicas']} transform workers but {partitions} partitions: the rest would idle"
    )
    for hpa in hpas.values():
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def by_name_prefix(docs: list[dict[str, Any]], kind: str, prefix: str) -> dict[str, Any]:
    found = [d for d in objects(docs, kind) if d["metadata"]["name"].startswith(prefix)]
    assert len(found) == 1, f"{kind} {prefix}*: {len(found)}"
    return found[0]


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_network_policies_deny_by_default_and_allow_only_the_architecture_flows(overlay: str) -> None:
    docs = kustomize_build(overlay)
    policies = list(objects(docs, "NetworkPolicy"))
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"]
            and "egress" not in p["spec"]]
    assert deny and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}, "no default-deny policy"

    def egress_ports(labels: dict[str, str]) -> set[int]:
        ports: set[int] = set()
        for p in policies:
            if _matches(p["spec"]["podSelector"], labels) and "Egress" in p["spec"]["policyTypes"]:
                for rule in p["spec"].get("egress", []):
                    ports |= {int(x["port"]) for x in rule.get("ports", [])}
        return ports

    def ingress_ports(labels: dict[str, str]) -> set[int]:
        ports: set[int] = set()
        for p in policies:
            if _matches(p["spec"]["podSelector"], labels):
                for rule in p["spec"].get("ingress", []):
                    ports |= {int(x["port"]) for x in rule.get("ports", [])}
        return ports

    for service in SERVICES:
        labels = _deployment(docs, service)["spec"]["template"]["metadata"]["labels"]
        out = egress_ports(labels) - {53}
        assert ingress_ports(labels) == {PORTS[service]}, service
        if uses_database(service):
            assert 5432 in out, f"{service} reads PostgreSQL but may not reach it"
        else:
            assert 5432 not in out, f"{service} does not use PostgreSQL but may reach it"
        if uses_kafka(service):
            assert 9092 in out, f"{service} uses Kafka but may not reach it"
        webhooks = {80, 443} if service == "alerts" else set()  # the notifier POSTs to the rules' webhooks
        assert out <= {5432, 9092, 9200} | webhooks, f"{service} may reach unexpected ports {sorted(out)}"


def test_prod_pins_the_image_and_dev_runs_its_own_kafka_and_postgres() -> None:
    prod = kustomize_build("overlays/prod")
    for obj in [*objects(prod, "Deployment"), *objects(prod, "Job")]:
        for c in pod_spec(obj)["containers"]:
            assert not c["image"].endswith(":latest") and ":" in c["image"], c["image"]
    dev = kustomize_build("overlays/dev")
    assert {d["metadata"]["name"] for d in objects(dev, "StatefulSet")} == {"kafka", "postgres"}
    bootstrap = by_name_prefix(dev, "ConfigMap", "turnpoint-config")["data"]["TURNPOINT_KAFKA__BOOTSTRAP_SERVERS"]
    assert bootstrap.split(":")[0] in {s["metadata"]["name"] for s in objects(dev, "Service")}


def test_prod_bootstrap_matches_the_strimzi_cluster_of_the_platform() -> None:
    prod = kustomize_build("overlays/prod")
    bootstrap = by_name_prefix(prod, "ConfigMap", "turnpoint-config")["data"]["TURNPOINT_KAFKA__BOOTSTRAP_SERVERS"]
    kafka = next(objects(kustomize_build("platform"), "Kafka"))
    plain = [listener for listener in kafka["spec"]["kafka"]["listeners"] if not listener["tls"]]
    expected = f"{kafka['metadata']['name']}-kafka-bootstrap.{kafka['metadata']['namespace']}.svc:{plain[0]['port']}"
    assert bootstrap == expected


def test_secret_example_lists_exactly_the_keys_the_manifests_read() -> None:
    used: set[str] = set()
    for overlay in APP_OVERLAYS:
        docs = kustomize_build(overlay)
        for kind in ("Deployment", "StatefulSet", "Job"):
            for obj in objects(docs, kind):
                for c in pod_spec(obj)["containers"]:
                    used |= {key for _, key in container_env(docs, c).secrets.values()}
    assert used == SECRET_KEYS, f"used {sorted(used)} vs secrets.env.example {sorted(SECRET_KEYS)}"
    assert Path(K8S / "base" / "secrets.env.example").is_file()
