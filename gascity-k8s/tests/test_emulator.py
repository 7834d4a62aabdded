"""The emulator behaves like an API server for what Gas City uses, through the real client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from gascity.testing import wait_for
from gascity_k8s.testing import KubeEmulator


def pod(name: str, labels: dict[str, str], script: str = "exec sleep infinity") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 30,
            "containers": [{"name": "c", "image": "i", "command": ["/bin/sh", "-c", script]}],
        },
    }


@pytest.fixture
def v1(kubeconfig: Path) -> Iterator[client.CoreV1Api]:
    api_client = config.new_client_from_config(str(kubeconfig))
    yield client.CoreV1Api(api_client)
    api_client.close()


@pytest.fixture
def ns(request: pytest.FixtureRequest) -> str:
    return "emu-" + request.node.name.replace("_", "-")[5:40].strip("-").lower()


def test_label_and_field_selectors(v1: client.CoreV1Api, ns: str, emulator: KubeEmulator) -> None:
    for name, tier in [("a", "web"), ("b", "db"), ("c", "cache")]:
        emulator.add_running_pod(ns, pod(name, {"tier": tier, "app": "x"}))
    emulator.add_running_pod(ns, pod("d", {"app": "y"}))

    def names(**kw: str) -> list[str]:
        return sorted(p.metadata.name for p in v1.list_namespaced_pod(ns, **kw).items)

    assert names(label_selector="tier=web") == ["a"]
    assert names(label_selector="app=x,tier!=web") == ["b", "c"]
    assert names(label_selector="tier in (web, db)") == ["a", "b"]
    assert names(label_selector="tier notin (web,db)") == ["c", "d"]
    assert names(label_selector="tier") == ["a", "b", "c"]
    assert names(label_selector="!tier") == ["d"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="status.phase=Running,metadata.name!=a") == ["b", "c", "d"]
    with pytest.raises(ApiException) as bad:
        v1.list_namespaced_pod(ns, field_selector="spec.nodeName=x")
    assert bad.value.status == 400


def test_errors_and_resource_versions(
    v1: client.CoreV1Api, ns: str, emulator: KubeEmulator
) -> None:
    created = emulator.add_running_pod(ns, pod("p", {"app": "x"}))
    with pytest.raises(ApiException) as dup:
        v1.create_namespaced_pod(ns, pod("p", {}))
    assert dup.value.status == 409 and '"reason": "AlreadyExists"' in dup.value.body
    with pytest.raises(ApiException) as missing:
        v1.read_namespaced_pod("nope", ns)
    assert missing.value.status == 404 and '"kind": "Status"' in missing.value.body
    with pytest.raises(ApiException) as invalid:
        v1.create_namespaced_pod(ns, pod("Bad_Name", {}))
    assert invalid.value.status == 422
    rv0 = int(v1.read_namespaced_pod("p", ns).metadata.resource_version)
    v1.patch_namespaced_pod("p", ns, {"metadata": {"annotations": {"k": "v", "j": "w"}}})
    after = v1.read_namespaced_pod("p", ns)
    assert int(after.metadata.resource_version) > rv0
    assert after.metadata.annotations == {"k": "v", "j": "w"}
    v1.patch_namespaced_pod("p", ns, {"metadata": {"annotations": {"k": None}}})
    assert v1.read_namespaced_pod("p", ns).metadata.annotations == {"j": "w"}
    stale = {
        "metadata": {
            "resourceVersion": created["metadata"]["resourceVersion"],
            "labels": {"z": "1"},
        }
    }
    with pytest.raises(ApiException) as conflict:
        v1.patch_namespaced_pod("p", ns, stale)
    assert conflict.value.status == 409 and "Conflict" in conflict.value.body


def test_graceful_deletion_then_gone(v1: client.CoreV1Api, ns: str, emulator: KubeEmulator) -> None:
    # The container ignores SIGTERM for a moment, as agents winding down do.
    script = "trap 'sleep 0.5; exit 0' TERM; while :; do sleep 0.1; done"
    v1.create_namespaced_pod(ns, pod("g", {"app": "x"}, script))
    wait_for(lambda: v1.read_namespaced_pod("g", ns).status.phase == "Running", 10, what="running")
    v1.delete_namespaced_pod("g", ns, grace_period_seconds=10)
    terminating = v1.read_namespaced_pod("g", ns)
    assert terminating.metadata.deletion_timestamp is not None
    wait_for(lambda: not v1.list_namespaced_pod(ns).items, 10, what="pod gone")


def test_phases_follow_the_container(v1: client.CoreV1Api, ns: str) -> None:
    v1.create_namespaced_pod(ns, pod("ok", {}, "exit 0"))
    v1.create_namespaced_pod(ns, pod("bad", {}, "exit 4"))
    wait_for(lambda: v1.read_namespaced_pod("ok", ns).status.phase == "Succeeded", 10, what="ok")
    wait_for(lambda: v1.read_namespaced_pod("bad", ns).status.phase == "Failed", 10, what="bad")
    state = v1.read_namespaced_pod("bad", ns).status.container_statuses[0].state
    assert state.terminated.exit_code == 4


def test_exec_channels_stdin_and_exit_codes(
    kubeconfig: Path, ns: str, emulator: KubeEmulator
) -> None:
    exec_api = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
    v1 = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
    v1.create_namespaced_pod(ns, pod("x", {}))
    wait_for(lambda: v1.read_namespaced_pod("x", ns).status.phase == "Running", 10, what="running")
    ws = stream(
        exec_api.connect_get_namespaced_pod_exec,
        "x",
        ns,
        command=["sh", "-c", "tr a-z A-Z; echo oops >&2; exit 3"],
        stdin=True,
        stdout=True,
        stderr=True,
        tty=False,
        _preload_content=False,
    )
    ws.write_stdin(b"hello\n")
    ws.close_channel(0)
    ws.run_forever(timeout=10)
    assert ws.read_stdout() == "HELLO\n"
    assert ws.read_stderr() == "oops\n"
    assert ws.returncode == 3
    emulator.reset_counts()
    start = time.monotonic()
    emulator.latency = 0.2
    try:
        v1.read_namespaced_pod("x", ns)
    finally:
        emulator.latency = 0.0
    assert time.monotonic() - start >= 0.2
    assert emulator.requests == {"GET pod": 1}
    with pytest.raises(ApiException):
        stream(
            exec_api.connect_get_namespaced_pod_exec,
            "missing",
            ns,
            command=["true"],
            stdout=True,
            stderr=True,
            stdin=False,
            tty=False,
        )
