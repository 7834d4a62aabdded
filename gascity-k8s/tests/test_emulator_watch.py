"""The emulator's watch, Lease and ConfigMap semantics, through the real client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from gascity_k8s.testing import ApiError, KubeEmulator, PodStore

from .test_emulator import pod


@pytest.fixture
def api(kubeconfig: Path) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(str(kubeconfig))
    yield api_client
    api_client.close()


def _events(v1: client.CoreV1Api, ns: str, **kw: Any) -> list[tuple[str, str, str]]:
    raw = v1.list_namespaced_pod(ns, watch=True, _preload_content=False, **kw)
    out = []
    for line in raw.read().decode().splitlines():
        event = json.loads(line)
        meta = event["object"].get("metadata", {})
        out.append((event["type"], meta.get("name", ""), str(event["object"].get("code", ""))))
    return out


def test_watch_streams_changes_from_a_resource_version(
    api: client.ApiClient, emulator: KubeEmulator
) -> None:
    v1 = client.CoreV1Api(api)
    ns = "watch-stream"
    emulator.add_running_pod(ns, pod("a", {"app": "w"}))
    start = v1.list_namespaced_pod(ns, label_selector="app=w").metadata.resource_version
    emulator.add_running_pod(ns, pod("b", {"app": "w"}))
    emulator.add_running_pod(ns, pod("other", {"app": "z"}))
    v1.patch_namespaced_pod("a", ns, {"metadata": {"annotations": {"k": "v"}}})
    v1.delete_namespaced_pod("b", ns, grace_period_seconds=0)
    begun = time.monotonic()
    events = _events(v1, ns, label_selector="app=w", resource_version=start, timeout_seconds=1)
    assert time.monotonic() - begun >= 0.9  # the server held the stream until the timeout
    kinds = [(k, n) for k, n, _ in events]
    assert ("ADDED", "b") in kinds and ("DELETED", "b") in kinds
    assert ("MODIFIED", "a") in kinds
    assert all(n != "other" for _, n in kinds)  # the selector applies to the stream
    assert kinds.index(("ADDED", "b")) < kinds.index(("DELETED", "b"))


def test_a_label_change_moves_a_pod_in_and_out_of_a_watch(
    api: client.ApiClient, emulator: KubeEmulator
) -> None:
    """As the API server's watch cache does: leaving the selector is that watch's
    DELETED (of the pod as it last matched), entering it is its ADDED."""
    v1 = client.CoreV1Api(api)
    ns = "watch-move"
    emulator.add_running_pod(ns, pod("a", {"app": "m"}))
    start = v1.list_namespaced_pod(ns, label_selector="app=m").metadata.resource_version
    v1.patch_namespaced_pod("a", ns, {"metadata": {"labels": {"app": "elsewhere"}}})
    v1.patch_namespaced_pod("a", ns, {"metadata": {"annotations": {"k": "v"}}})  # not ours
    v1.patch_namespaced_pod("a", ns, {"metadata": {"labels": {"app": "m"}}})
    raw = v1.list_namespaced_pod(ns, label_selector="app=m", resource_version=start,
                                 timeout_seconds=1, watch=True, _preload_content=False)
    events = [json.loads(line) for line in raw.read().decode().splitlines()]
    assert [e["type"] for e in events] == ["DELETED", "ADDED"]
    deleted, added = (e["object"]["metadata"] for e in events)
    assert deleted["labels"]["app"] == "m"  # as it last matched
    assert int(deleted["resourceVersion"]) > int(start)  # at the revision it left
    assert added["labels"]["app"] == "m" and added["annotations"] == {"k": "v"}


def test_watch_with_a_compacted_resource_version_is_410(
    api: client.ApiClient, emulator: KubeEmulator
) -> None:
    v1 = client.CoreV1Api(api)
    ns = "watch-gone"
    emulator.add_running_pod(ns, pod("a", {"app": "g"}))
    old = v1.list_namespaced_pod(ns).metadata.resource_version
    emulator.add_running_pod(ns, pod("b", {"app": "g"}))
    emulator.compact()
    events = _events(v1, ns, resource_version=old, timeout_seconds=1)
    assert events == [("ERROR", "", "410")]
    # The official client's Watch surfaces it as an ApiException 410, as with a cluster.
    with pytest.raises(ApiException) as gone:
        for _ in watch.Watch().stream(
            v1.list_namespaced_pod, ns, resource_version=old, timeout_seconds=1
        ):
            pass
    assert gone.value.status == 410


def test_a_full_history_forgets_its_oldest_revisions() -> None:
    """etcd keeps a bounded history: a watch from a revision that fell off it is 410,
    one from the oldest kept revision on gets every later event."""
    store = PodStore(history=3)
    revisions = [int(store.create("h", pod(f"p{i}", {"app": "h"}))["metadata"]["resourceVersion"])
                 for i in range(5)]
    with pytest.raises(ApiError) as gone:
        store.events_since(revisions[0])
    assert gone.value.code == 410
    events, reached = store.events_since(revisions[1])
    assert [e[0] for e in events] == revisions[2:] and reached == revisions[-1]


def test_watch_sends_bookmarks_when_asked(api: client.ApiClient, emulator: KubeEmulator) -> None:
    v1 = client.CoreV1Api(api)
    ns = "watch-bookmark"
    emulator.add_running_pod(ns, pod("a", {"app": "b"}))
    rv = v1.list_namespaced_pod(ns).metadata.resource_version
    emulator.add_running_pod("elsewhere", pod("x", {"app": "b"}))  # moves the revision
    events = _events(
        v1, ns, resource_version=rv, timeout_seconds=2, allow_watch_bookmarks=True
    )
    assert [k for k, _, _ in events] and {k for k, _, _ in events} == {"BOOKMARK"}
    plain = _events(v1, ns, resource_version=rv, timeout_seconds=1)
    assert plain == []


def test_lease_compare_and_swap(api: client.ApiClient, emulator: KubeEmulator) -> None:
    coord = client.CoordinationV1Api(api)
    ns = "lease-cas"
    body = client.V1Lease(
        metadata=client.V1ObjectMeta(name="l"),
        spec=client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15),
    )
    created = coord.create_namespaced_lease(ns, body)
    with pytest.raises(ApiException) as exists:
        coord.create_namespaced_lease(ns, body)
    assert exists.value.status == 409
    created.spec.holder_identity = "b"
    moved = coord.replace_namespaced_lease("l", ns, created)
    assert moved.spec.holder_identity == "b"
    assert int(moved.metadata.resource_version) > int(created.metadata.resource_version)
    created.spec.holder_identity = "c"  # still carries the old resourceVersion
    with pytest.raises(ApiException) as conflict:
        coord.replace_namespaced_lease("l", ns, created)
    assert conflict.value.status == 409
    assert coord.read_namespaced_lease("l", ns).spec.holder_identity == "b"
    assert emulator.lease_holders(ns)["l"][0] == "b"
    with pytest.raises(ApiException) as missing:
        coord.read_namespaced_lease("nope", ns)
    assert missing.value.status == 404


def test_configmap_compare_and_swap(api: client.ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    ns = "cm-cas"
    cm = v1.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="s"), data={"k": "1"})
    )
    cm.data = {"k": "2"}
    v1.replace_namespaced_config_map("s", ns, cm)
    cm.data = {"k": "3"}
    with pytest.raises(ApiException) as conflict:
        v1.replace_namespaced_config_map("s", ns, cm)
    assert conflict.value.status == 409
    assert v1.read_namespaced_config_map("s", ns).data == {"k": "2"}
