"""The Role that ``gc k8s manifests`` renders is enough for a real controller, and
the emulator's RBAC (its stand-in for the API server's authorizer) refuses what a
Role leaves out, so this check can fail."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gascity.controller import Controller
from gascity.plugins import PluginContext
from gascity.testing import MemoryEvents, open_test_city, wait_for
from gascity_k8s.liveness import session_name
from gascity_k8s.manifests import render
from gascity_k8s.provider import K8sProvider
from gascity_k8s.testing import KubeEmulator, Role
from gascity_k8s.testing.rbac import attributes

NS = "rbac"
FAST = {
    "lease_duration_seconds": 1.5,
    "renew_deadline_seconds": 1.0,
    "retry_period_seconds": 0.2,
    "prebaked": True,
}


def _role() -> dict[str, Any]:
    role = next(o for o in render(NS) if o["kind"] == "Role" and o["metadata"]["name"] ==
                "gc-controller")
    return copy.deepcopy(role)


def _without(role: dict[str, Any], resource: str, verb: str) -> dict[str, Any]:
    for rule in role["rules"]:
        if resource in rule["resources"]:
            rule["verbs"] = [v for v in rule["verbs"] if v != verb]
    return role


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    """An API server where the manifests were applied: the state ConfigMap exists."""
    with KubeEmulator(simulate=True) as emu:
        state = next(o for o in render(NS) if o["kind"] == "ConfigMap" and
                     o["metadata"]["name"] == "gc-rbac-state")
        emu.configmaps.create(NS, state)
        yield emu


def _write_city(city_dir: Path, agents: list[str]) -> None:
    (city_dir / "city.toml").write_text(
        '[workspace]\nname = "rbac"\n'
        + "".join(f'[[agent]]\nname = "{a}"\ncommand = "run {a}"\n' for a in agents)
    )


def _live(emulator: KubeEmulator) -> list[str]:
    return sorted(
        session_name(p) or ""
        for p in emulator.pods(NS)
        if not p["metadata"].get("deletionTimestamp")
    )


def _run_a_controller(emulator: KubeEmulator, tmp_path: Path) -> tuple[K8sProvider, Controller]:
    """Elect, watch, start two agents, save state, patch one, stop the other."""
    city_dir = tmp_path / "city"
    city_dir.mkdir()
    _write_city(city_dir, ["a0", "a1"])
    ctx = PluginContext(
        role="session", name="k8s", settings={"namespace": NS, "identity": "r0", **FAST},
        city_name="rbac", city_dir=city_dir,
        env={"KUBECONFIG": str(emulator.write_kubeconfig(tmp_path / "kubeconfig"))},
    )
    provider = K8sProvider(ctx)
    controller = Controller(open_test_city(city_dir, session=provider, events=MemoryEvents()))
    wait_for(lambda: controller.tick().follower is None and _live(emulator) == ["a0", "a1"],
             timeout=20)
    provider.set_meta("a0", "note", "hello")  # the PATCH a drain makes
    _write_city(city_dir, ["a0"])
    wait_for(lambda: controller.tick() and _live(emulator) == ["a0"], timeout=20)
    provider.status_info()
    return provider, controller


def test_the_rendered_role_grants_everything_a_controller_does(
    emulator: KubeEmulator, tmp_path: Path
) -> None:
    emulator.role = Role.of(_role())
    provider, _ = _run_a_controller(emulator, tmp_path)
    try:
        assert emulator.denied == []
        served = set(emulator.requests)
        # The run really exercised what the Role is for.
        assert {"GET pods", "WATCH pods", "POST pods", "PATCH pod", "DELETE pod",
                "PUT lease", "PUT configmap"} <= served, served
        state = emulator.configmaps.get(NS, "gc-rbac-state")
        assert state["data"]
        # Writing the state keeps what `kubectl apply` put there (its labels).
        assert state["metadata"]["labels"]["app.kubernetes.io/name"] == "gc-controller"
    finally:
        provider.shutdown()


@pytest.mark.parametrize(
    ("resource", "verb"), [("pods", "watch"), ("configmaps", "update"), ("leases", "create")]
)
def test_a_verb_left_out_of_the_role_is_refused(
    resource: str, verb: str, emulator: KubeEmulator, tmp_path: Path
) -> None:
    emulator.role = Role.of(_without(_role(), resource, verb))
    city_dir = tmp_path / "city"
    city_dir.mkdir()
    _write_city(city_dir, ["a0"])
    ctx = PluginContext(
        role="session", name="k8s", settings={"namespace": NS, "identity": "r0", **FAST},
        city_name="rbac", city_dir=city_dir,
        env={"KUBECONFIG": str(emulator.write_kubeconfig(tmp_path / "kubeconfig"))},
    )
    provider = K8sProvider(ctx)
    controller = Controller(open_test_city(city_dir, session=provider, events=MemoryEvents()))
    try:
        for _ in range(3):
            controller.tick()
        wait_for(lambda: any((a.resource, a.verb) == (resource, verb) for a in emulator.denied),
                 timeout=10)
    finally:
        provider.shutdown()
    refused = next(a for a in emulator.denied if (a.resource, a.verb) == (resource, verb))
    assert refused.namespace == NS


def test_request_attributes_as_the_api_server_reads_them() -> None:
    pods = f"/api/v1/namespaces/{NS}/pods"
    assert attributes("GET", pods, {}) == attributes("GET", pods, {"watch": "false"})
    watch = attributes("GET", pods, {"watch": "true"})
    assert watch is not None and watch.verb == "watch"
    exec_ = attributes("GET", f"{pods}/p/exec", {})
    assert exec_ is not None
    assert (exec_.resource, exec_.verb, exec_.name) == ("pods/exec", "get", "p")
    lease = attributes("PUT", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/l", {})
    assert lease is not None and (lease.group, lease.resource, lease.verb) == (
        "coordination.k8s.io", "leases", "update")
    assert attributes("GET", "/version/", {}) is None
    assert attributes("GET", "/apis/coordination.k8s.io/v1", {}) is None
    role = Role.of(_role())
    everywhere = attributes("GET", "/api/v1/pods", {})
    assert everywhere is not None and not role.allows(everywhere)  # no cluster-wide list
    other = attributes("GET", "/api/v1/namespaces/elsewhere/pods", {})
    assert other is not None and not role.allows(other)
