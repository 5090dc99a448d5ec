"""Operations in the manifests: claims for state, the scheduled jobs, reachability, the serial overlay.

Kubernetes objects come from `kubectl kustomize`; commands are resolved against the typer CLI, settings
are loaded with the classes that read them, and cron times are checked with the scheduler's own function.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from deploy_contract import (
    K8S, by_name, compose_command, compose_environment, container_env, kubectl, kustomize_build, load_compose,
    objects, pod_spec, resolve_command,
)
from turnpoint.cli.schedule import ScheduleSettings, next_run

APP_OVERLAYS = ("overlays/dev", "overlays/prod", "overlays/prod-serial")
pytestmark = pytest.mark.skipif(kubectl() is None, reason="kubectl not installed: kustomize builds not checked")


def _claims(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in objects(docs, "PersistentVolumeClaim")}


def _volume(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in spec["volumes"] if v["name"] == name)


def _mount(container: dict[str, Any], path: str) -> str:
    return next(m["name"] for m in container["volumeMounts"] if m["mountPath"] == path)


def _cronjob(docs: list[dict[str, Any]], name: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    cron = by_name(docs, "CronJob", name)
    spec = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    return cron, spec, container


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_the_model_registry_and_inference_logs_are_on_claims(overlay: str) -> None:
    docs = kustomize_build(overlay)
    model = by_name(docs, "Deployment", "turnpoint-model")
    spec = pod_spec(model)
    (container,) = spec["containers"]
    env = container_env(docs, container)
    claims = _claims(docs)
    for setting in ("TURNPOINT_MODEL__REGISTRY_DIR", "TURNPOINT_MODEL__LOG_DIR"):
        volume = _volume(spec, _mount(container, env.values[setting]))
        assert "emptyDir" not in volume, f"{setting} is an emptyDir: lost on every restart"
        assert volume["persistentVolumeClaim"]["claimName"] in claims
    # ReadWriteOnce claims: a surge pod on another node could not mount them
    assert model["spec"]["strategy"]["type"] == "Recreate"


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_every_cronjob_is_hardened_bounded_and_runs_a_real_command(overlay: str) -> None:
    docs = kustomize_build(overlay)
    accounts = {d["metadata"]["name"]: d for d in objects(docs, "ServiceAccount")}
    crons = list(objects(docs, "CronJob"))
    assert {c["metadata"]["name"] for c in crons} == {"turnpoint-market-daily", "turnpoint-backup"}
    for cron in crons:
        name = cron["metadata"]["name"]
        _c, spec, container = _cronjob(docs, name)
        assert cron["spec"]["timeZone"] and cron["spec"]["concurrencyPolicy"] == "Forbid", name
        assert spec["automountServiceAccountToken"] is False, name
        assert accounts[spec["serviceAccountName"]]["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert container["resources"]["requests"] and container["resources"]["limits"], name
        for volume in spec["volumes"]:
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in _claims(docs), name


def test_the_market_job_re_sends_the_last_three_days_after_the_seoul_close() -> None:
    docs = kustomize_build("overlays/prod")
    cron, spec, container = _cronjob(docs, "turnpoint-market-daily")
    args = container["args"]
    assert args[:3] == ["schedule", "exec", "market-daily"] and resolve_command(args[:2]) is not None
    command = args[3:]
    market = resolve_command(command[:2])
    assert market is not None and command[:2] == ["ingest", "market"]
    options = {o for p in market.params for o in getattr(p, "opts", [])}
    assert {"--last-days", "--file", "--json"} <= options
    assert command[command.index("--last-days") + 1] == "3"
    # the file is on the market-data claim
    file = Path(command[command.index("--file") + 1])
    mount = next(m for m in container["volumeMounts"] if file.is_relative_to(m["mountPath"]))
    assert "persistentVolumeClaim" in _volume(spec, mount["name"])
    # weekdays, after 15:30 in Seoul
    assert cron["spec"]["timeZone"] == "Asia/Seoul"
    friday_noon = dt.datetime(2026, 12, 4, 3, 0, tzinfo=dt.UTC)
    fire = next_run(cron["spec"]["schedule"], "Asia/Seoul", friday_noon).astimezone(dt.timezone(dt.timedelta(hours=9)))
    assert fire.date() == dt.date(2026, 12, 4) and (fire.hour, fire.minute) >= (15, 30)
    saturday = next_run(cron["spec"]["schedule"], "Asia/Seoul", dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC))
    assert saturday.astimezone(dt.timezone(dt.timedelta(hours=9))).weekday() == 0  # next is Monday
    env = container_env(docs, container)
    assert "TURNPOINT_DATABASE_URL" not in env.secrets  # it publishes to Kafka only


def test_the_backup_job_dumps_to_its_claim_with_the_database_url() -> None:
    docs = kustomize_build("overlays/prod")
    _cron, spec, container = _cronjob(docs, "turnpoint-backup")
    script = container["args"][0]
    assert "turnpoint db backup \"/backups/" in script and resolve_command(["db", "backup"]) is not None
    assert "persistentVolumeClaim" in _volume(spec, _mount(container, "/backups"))
    env = container_env(docs, container)
    assert env.secrets["TURNPOINT_DATABASE_URL"] == ("turnpoint-secrets", "TURNPOINT_DATABASE_URL")


@pytest.mark.parametrize(("label", "ports"), [("backup", {5432}), ("schedule", {9092})])
def test_scheduled_jobs_may_reach_only_what_they_use(label: str, ports: set[int]) -> None:
    docs = kustomize_build("overlays/prod")
    allowed: set[int] = set()
    for policy in objects(docs, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        if selector in ({}, {"app.kubernetes.io/name": label}):
            for rule in policy["spec"].get("egress", []):
                allowed |= {int(p["port"]) for p in rule.get("ports", [])}
    assert allowed - {53} == ports


def test_prod_reaches_the_write_and_read_apis_over_tls() -> None:
    docs = kustomize_build("overlays/prod")
    (ingress,) = objects(docs, "Ingress")
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    tls_hosts = {h for t in ingress["spec"]["tls"] for h in t["hosts"]}
    assert all(t["secretName"] for t in ingress["spec"]["tls"])
    backends = {}
    for rule in ingress["spec"]["rules"]:
        assert rule["host"] in tls_hosts, f"{rule['host']} has no TLS"
        for path in rule["http"]["paths"]:
            svc = path["backend"]["service"]
            service = by_name(docs, "Service", svc["name"])
            assert svc["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
            backends[svc["name"]] = path["path"]
    assert set(backends) == {"turnpoint-ingest", "turnpoint-api"}
    assert backends["turnpoint-ingest"] == "/v1"  # the write API's routes


def test_prod_puts_the_drop_folder_on_a_shared_claim() -> None:
    docs = kustomize_build("overlays/prod")
    spec = pod_spec(by_name(docs, "Deployment", "turnpoint-ingest"))
    (container,) = spec["containers"]
    drop = container_env(docs, container).values.get("TURNPOINT_INGEST__DROP_DIR", "/var/lib/turnpoint/drop")
    volume = _volume(spec, _mount(container, drop))
    assert set(volume) == {"name", "persistentVolumeClaim"}
    claim = _claims(docs)[volume["persistentVolumeClaim"]["claimName"]]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # other teams' pods write into it


def test_the_serial_overlay_maps_a_device_without_host_path_and_a_config_that_loads(tmp_path: Path) -> None:
    from turnpoint.ingest.serial.config import load_serial_config

    docs = kustomize_build("overlays/prod-serial")
    for overlay in APP_OVERLAYS:
        for obj in objects(kustomize_build(overlay), "Deployment"):
            assert not any("hostPath" in v for v in pod_spec(obj).get("volumes", [])), "restricted forbids hostPath"
    ingest = by_name(docs, "Deployment", "turnpoint-ingest")
    spec = pod_spec(ingest)
    (container,) = spec["containers"]
    assert container["resources"]["limits"]["squat.ai/serial"] == "1" and ingest["spec"]["replicas"] == 1
    config_path = Path(container_env(docs, container).values["TURNPOINT_INGEST__SERIAL_CONFIG"])
    mount = next(m for m in container["volumeMounts"] if config_path.is_relative_to(m["mountPath"]))
    cm = by_name(docs, "ConfigMap", _volume(spec, mount["name"])["configMap"]["name"])
    local = tmp_path / config_path.name
    local.write_text(cm["data"][config_path.name])
    ports = load_serial_config(local).ports
    assert ports and all(p.device.startswith("/dev/") for p in ports)
    assert 20 in spec["securityContext"]["supplementalGroups"]
    namespace = by_name(docs, "Namespace", "turnpoint")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# ----------------------------------------------------------------------------- compose


def test_compose_runs_the_schedule_with_settings_that_load(monkeypatch: pytest.MonkeyPatch) -> None:
    svc = load_compose()["services"]["schedule"]
    command = compose_command(svc)
    assert command == ["schedule", "serve"] and resolve_command(command) is not None
    env = compose_environment(svc)
    for key in [k for k in os.environ if k.startswith("TURNPOINT_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = ScheduleSettings()
    (job,) = settings.schedule.jobs
    assert settings.schedule.timezone == "Asia/Seoul" and job.name == "market-daily"
    assert resolve_command(job.args[:2]) is not None and job.args[job.args.index("--last-days") + 1] == "3"
    assert f"127.0.0.1:{settings.schedule.port}/healthz" in " ".join(svc["healthcheck"]["test"])
    assert svc["restart"] == "unless-stopped" and svc["read_only"] is True


def test_compose_backup_is_on_demand_and_writes_to_a_volume() -> None:
    compose = load_compose()
    svc = compose["services"]["backup"]
    assert svc["profiles"] == ["ops"] and svc["restart"] == "no"
    assert "turnpoint db backup \"/backups/" in svc["command"][0]
    assert any(str(v).startswith("backups:/backups") for v in svc["volumes"]) and "backups" in compose["volumes"]


def test_every_overlay_builds() -> None:
    for path in (*APP_OVERLAYS, "platform", "base"):
        assert kustomize_build(path)
    assert (K8S / "components" / "serial-device" / "kustomization.yaml").is_file()
