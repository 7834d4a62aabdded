"""``gc k8s manifests`` and ``gc build-image`` through the real ``gc`` entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from kubernetes import client

from gascity.cli.main import cli
from gascity.config import parse_city

MODELS = {
    "Namespace": "V1Namespace",
    "ServiceAccount": "V1ServiceAccount",
    "Role": "V1Role",
    "RoleBinding": "V1RoleBinding",
    "ConfigMap": "V1ConfigMap",
    "Deployment": "V1Deployment",
    "StatefulSet": "V1StatefulSet",
    "Service": "V1Service",
    "CronJob": "V1CronJob",
    "PodDisruptionBudget": "V1PodDisruptionBudget",
}


def _round_trip(obj: dict[str, Any]) -> Any:
    import json

    api = client.ApiClient()
    model = api.deserialize(json.dumps(obj), MODELS[obj["kind"]], "application/json")
    return model, api.sanitize_for_serialization(model)


def test_manifests_parse_and_deserialize_into_client_models(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["k8s", "manifests", "--namespace", "agents", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    objects = [yaml.safe_load(p.read_text()) for p in sorted(tmp_path.glob("*.yaml"))]
    kinds = [o["kind"] for o in objects]
    assert kinds[0] == "Namespace" and set(MODELS) == set(kinds)
    for obj in objects:
        model, back = _round_trip(obj)
        # Nothing was dropped: a misspelt field would vanish in the model.
        assert back == obj, obj["metadata"]["name"]
        if obj["kind"] != "Namespace":
            assert model.metadata.namespace == "agents"
    by = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    rules = by[("Role", "gc-controller")]["rules"]
    assert {r for rule in rules for r in rule["resources"]} == {
        "pods", "pods/exec", "pods/log", "leases", "configmaps"
    }
    verbs = {r: set(rule["verbs"]) for rule in rules for r in rule["resources"]}
    assert {"list", "watch"} <= verbs["pods"]
    assert verbs["leases"] == verbs["configmaps"] == {"get", "create", "update"}
    assert not any(o["kind"] == "ClusterRole" for o in objects)
    assert ("Role", "gc-agent") not in by and by[("ServiceAccount", "gc-agent")][
        "automountServiceAccountToken"
    ] is False
    deployment = by[("Deployment", "gc-controller")]["spec"]
    assert deployment["replicas"] == 2
    pod_spec = deployment["template"]["spec"]
    anti = pod_spec["affinity"]["podAntiAffinity"]
    term = anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == deployment["selector"]["matchLabels"]
    pdb = by[("PodDisruptionBudget", "gc-controller")]["spec"]
    assert pdb["minAvailable"] == 1 and pdb["selector"] == deployment["selector"]
    ctl = pod_spec["containers"][0]
    assert ctl["command"] == ["gc", "start", "--foreground"]
    city = parse_city(by[("ConfigMap", "gc-city")]["data"]["city.toml"])
    port = city.api.port
    assert port and city.api.bind == "0.0.0.0"
    assert ctl["ports"] == [{"name": "api", "containerPort": port}]
    assert ctl["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "api"}
    assert ctl["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "api"}
    assert {
        "name": "GC_K8S_POD_NAME",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
    } in ctl["env"]
    state = by[("ConfigMap", "gc-agents-state")]
    assert "data" not in state  # re-applying must not wipe the leader's state
    assert {"name": "GC_SESSION", "value": "k8s"} in ctl["env"]
    assert ctl["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
    dolt = by[("StatefulSet", "dolt")]["spec"]
    box = dolt["template"]["spec"]["containers"][0]
    assert box["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "4Gi"},
    }
    assert "tcpSocket" in box["readinessProbe"] and "tcpSocket" in box["livenessProbe"]
    assert dolt["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert "max_connections: 500" in by[("ConfigMap", "dolt-config")]["data"]["config.yaml"]
    assert (
        ("Service", "dolt") in by
        and ("Service", "gc-postgres") in by
        and ("StatefulSet", "gc-postgres") in by
    )
    cron = by[("CronJob", "gc-events-prune")]["spec"]
    assert cron["schedule"] == "0 */6 * * *"
    job = cron["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert job["command"] == ["gc", "events", "prune", "--older-than", "24h"]
    example = (tmp_path / "city.toml.example").read_text()
    assert 'patrol_interval = "30s"' in example and "50+ agents" in example
    config = parse_city(example)
    assert config.section("session").provider == "k8s"


def test_manifests_to_stdout_is_one_yaml_stream() -> None:
    result = CliRunner().invoke(cli, ["k8s", "manifests"])
    assert result.exit_code == 0
    docs = list(yaml.safe_load_all(result.output))
    assert len(docs) >= 12 and all(d["metadata"].get("namespace", "gc") == "gc" for d in docs)


def _city(tmp_path: Path) -> Path:
    city = tmp_path / "town"
    (city / "prompts").mkdir(parents=True)
    (city / "city.toml").write_text(
        '[workspace]\nname = "Town"\n\n[[agent]]\nname = "mayor"\ncommand = "claude"\n'
    )
    (city / "prompts" / "mayor.md").write_text("hi\n")
    (city / ".gc").mkdir()
    (city / ".gc" / "events.jsonl").write_text("{}\n")
    (city / ".env").write_text("TOKEN=secret\n")
    (city / "deploy.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    return city


def test_build_image_context_only(tmp_path: Path) -> None:
    city = _city(tmp_path)
    out = tmp_path / "ctx"
    result = CliRunner().invoke(
        cli,
        [
            "--city",
            str(city),
            "build-image",
            "--context-only",
            str(out),
            "--base",
            "example.org/agent:1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "docker build -t gascity-town:latest" in result.output
    dockerfile = (out / "Dockerfile").read_text()
    assert dockerfile.splitlines()[1] == "FROM example.org/agent:1"
    assert "COPY --chown=1000:1000 city/ /workspace/" in dockerfile
    shipped = sorted(
        str(p.relative_to(out / "city")) for p in (out / "city").rglob("*") if p.is_file()
    )
    assert shipped == ["city.toml", "prompts/mayor.md"]


def test_build_image_without_engine_is_a_clear_error(tmp_path: Path) -> None:
    city = _city(tmp_path)
    empty = tmp_path / "bin"
    empty.mkdir()
    gc = Path(sys.executable).parent / "gc"
    proc = subprocess.run(
        [str(gc), "--city", str(city), "build-image", "--tag", "x:1"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(empty)},
        check=False,
    )
    assert proc.returncode == 1
    assert "docker CLI is not on PATH" in proc.stderr and "--context-only" in proc.stderr
