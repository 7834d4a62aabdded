"""The native provider's own promises: one request per steady tick, city isolation,
meta as annotation PATCHes, pod shape, naming, startup failures and back-offs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gascity.errors import ConfigError, SessionError, SessionExists
from gascity.testing import wait_for
from gascity.types import META_FINGERPRINT, Liveness, StartConfig
from gascity_k8s.naming import label_value, pod_name
from gascity_k8s.podspec import build_pod
from gascity_k8s.settings import K8sSettings
from gascity_k8s.testing import KubeEmulator

Factory = Callable[..., Any]


def cfg(command: str = "sleep 300", **kw: Any) -> StartConfig:
    kw.setdefault("work_dir", "/nowhere")
    return StartConfig(command=command, startup_timeout=30.0, **kw)


def simulated_pods(emulator: KubeEmulator, city: str, count: int, ns: str) -> None:
    settings = K8sSettings(namespace=ns, prebaked=True)
    for i in range(count):
        body = build_pod(
            city=city,
            name=f"agent-{i}",
            command="sleep 1",
            work_dir="/w",
            settings=settings,
            meta={META_FINGERPRINT: f"fp{i}"},
        )
        emulator.add_running_pod(ns, body)


@pytest.mark.parametrize("count", [100, 1000])
def test_steady_list_is_one_request(
    count: int, make_provider: Factory, emulator: KubeEmulator
) -> None:
    ns = f"count{count}"
    simulated_pods(emulator, "big", count, ns)
    provider = make_provider(city="big", namespace=ns)
    provider.list_running("")  # warm the connection pool
    emulator.reset_counts()
    listed = provider.list_running("")
    assert emulator.request_count == 1
    assert emulator.requests == {"GET pods": 1}
    assert len(listed) == count
    assert {r.liveness for r in listed} == {Liveness.ALIVE}
    by_name = {r.name: r for r in listed}
    assert by_name["agent-7"].meta == {META_FINGERPRINT: "fp7"}
    assert "labelSelector=app%3Dgc-agent%2Cgc-city%3Dbig" in emulator.log[0][1]


def test_two_cities_in_one_namespace_are_isolated(
    make_provider: Factory, emulator: KubeEmulator
) -> None:
    north, south = (
        make_provider(city="north", prebaked=True),
        make_provider(city="south", prebaked=True),
    )
    north.start("mayor", cfg())
    south.start("mayor", cfg())
    assert [r.name for r in north.list_running("")] == ["mayor"]
    assert [r.name for r in south.list_running("")] == ["mayor"]
    north.set_meta("mayor", "gc.drain", "1")
    assert south.get_meta("mayor", "gc.drain") is None
    assert north.stop("mayor") is True
    wait_for(lambda: north.list_running("") == [], 20, what="north's mayor gone")
    assert [r.name for r in south.list_running("")] == ["mayor"]
    assert south.stop("mayor") is True


def test_meta_is_an_annotation_patch_not_an_exec(
    make_provider: Factory, emulator: KubeEmulator
) -> None:
    provider = make_provider(city="metacity", prebaked=True)
    provider.start("worker", cfg(meta={META_FINGERPRINT: "abc"}))
    emulator.reset_counts()
    provider.set_meta("worker", "gc.drain", "yes")
    provider.remove_meta("worker", META_FINGERPRINT)
    assert emulator.requests["PATCH pod"] == 2
    assert "GET exec" not in emulator.requests
    pod = emulator.pods("gc", "gc-city=metacity")[0]
    assert pod["metadata"]["annotations"]["gascity.dev/gc.drain"] == "yes"
    assert "gascity.dev/gc.fingerprint" not in pod["metadata"]["annotations"]
    (record,) = provider.list_running("")
    assert record.meta == {"gc.drain": "yes"}
    provider.stop("worker")


def test_pod_shape(make_provider: Factory, emulator: KubeEmulator, city_dir: Path) -> None:
    provider = make_provider(
        city="Shape City", cpu_limit="3", mem_request="2Gi", service_account="agents"
    )
    provider.start(
        "Mayor_1",
        cfg(agent="mayor", env={"KEEP": "v", "DROP": ""}, work_dir=str(city_dir / "prompts"),
            session_setup=("echo set-up",), session_live=("echo live-on",)),
    )
    (pod,) = emulator.pods("gc", "gc-agent=mayor")
    meta, spec = pod["metadata"], pod["spec"]
    assert meta["labels"] == {
        "app": "gc-agent",
        "gc-city": label_value("Shape City"),
        "gc-session": "Mayor_1",
        "gc-agent": "mayor",
    }
    assert meta["annotations"]["gc-session-name"] == "Mayor_1"
    assert spec["restartPolicy"] == "Never" and spec["serviceAccountName"] == "agents"
    (agent,) = spec["containers"]
    assert agent["name"] == "agent" and agent["workingDir"] == "/workspace/prompts"
    assert agent["resources"] == {
        "requests": {"cpu": "500m", "memory": "2Gi"},
        "limits": {"cpu": "3", "memory": "4Gi"},
    }
    assert "tmux new-session -d -s main" in agent["args"][0]
    assert agent["args"][0].rstrip().endswith("exec sleep infinity")
    # session_live runs in the pod's program after the setup, as a setup step.
    program = agent["args"][0]
    assert program.index("echo set-up ||") < program.index("echo live-on ||")
    env = {e["name"]: e["value"] for e in agent["env"]}
    assert env["KEEP"] == "v" and "DROP" not in env
    assert [c["name"] for c in spec["initContainers"]] == ["stage"]
    # The city was staged into /workspace without runtime state or secrets.
    code, out, _ = provider.exec(
        meta["name"], ["sh", "-c", "cd /workspace && find . -type f | sort"]
    )
    assert code == 0
    assert out.split() == ["./.gc-ready", "./city.toml", "./prompts/mayor.md"]
    provider.stop("Mayor_1")


def test_prebaked_drops_staging() -> None:
    body = build_pod(
        city="c", name="n", command="x", work_dir="/", settings=K8sSettings(prebaked=True)
    )
    assert "initContainers" not in body["spec"] and "volumes" not in body["spec"]
    assert "volumeMounts" not in body["spec"]["containers"][0]


def test_names_are_dns_safe_and_collision_free() -> None:
    names = ["Mayor", "mayor", "a" * 70, "a" * 70 + "b", "x_y", "x-y"]
    pods = {pod_name("city", n) for n in names}
    assert len(pods) == len(names)
    assert all(len(p) <= 63 and p == p.lower() for p in pods)
    labels = {label_value(n) for n in names}
    assert len(labels) == len(names)
    assert label_value("plain-name") == "plain-name"


def test_invalid_quantity_is_a_config_error(make_provider: Factory) -> None:
    with pytest.raises(ConfigError, match="cpu_request"):
        make_provider(cpu_request="lots")
    with pytest.raises(ConfigError, match="GC_K8S_MEM_LIMIT"):
        make_provider(env={"GC_K8S_MEM_LIMIT": "4 gigs"})


def test_env_overrides_settings(make_provider: Factory) -> None:
    provider = make_provider(env={"GC_K8S_NAMESPACE": "other", "GC_K8S_PREBAKED": "true"})
    assert provider.ns == "other" and provider.settings.prebaked is True


def test_duplicate_start_and_stale_pod(make_provider: Factory, emulator: KubeEmulator) -> None:
    provider = make_provider(city="dups", prebaked=True)
    provider.start("w", cfg())
    with pytest.raises(SessionExists):
        provider.start("w", cfg())
    provider.stop("w")
    provider.start("w", cfg("echo done"))  # waits out the terminating pod, then starts
    wait_for(lambda: provider.list_running("")[0].liveness is Liveness.DEAD, 20, what="dead pane")
    provider.start("w", cfg())  # a dead session is replaced, not a conflict
    assert provider.list_running("")[0].liveness is not Liveness.DEAD
    provider.stop("w")


def test_pod_dying_during_startup_is_deleted_and_reported(
    make_provider: Factory, emulator: KubeEmulator
) -> None:
    provider = make_provider(city="dying", prebaked=True)
    # pre_start failures only warn; killing the pod's program ends the container.
    with pytest.raises(SessionError, match="died during startup: agent exited 137"):
        provider.start("w", cfg(pre_start=("kill -KILL $$",)))
    assert emulator.pods("gc", "gc-city=dying") == []


def test_image_pull_backoff_is_initializing_not_failure(
    make_provider: Factory, emulator: KubeEmulator
) -> None:
    provider = make_provider(city="pulling", prebaked=True)
    emulator.kubelet.hold_new = True
    try:
        body = build_pod(
            city="pulling",
            name="slow",
            command="sleep 300",
            work_dir="/",
            settings=K8sSettings(prebaked=True),
        )
        emulator.store.create("gc", body)
    finally:
        emulator.kubelet.hold_new = False
    emulator.kubelet.set_waiting("gc", body["metadata"]["name"], "ImagePullBackOff")
    (record,) = provider.list_running("")
    assert record.liveness is Liveness.STARTING and record.detail == "ImagePullBackOff"
    emulator.kubelet.release("gc", body["metadata"]["name"])
    wait_for(lambda: provider.list_running("")[0].liveness is Liveness.ALIVE, 20, what="alive")
    provider.stop("slow")


def test_start_times_out_while_initializing(make_provider: Factory, emulator: KubeEmulator) -> None:
    provider = make_provider(city="stuck", prebaked=True)
    emulator.kubelet.hold_new = True
    try:
        with pytest.raises(SessionError, match="still initializing"):
            provider.start("w", StartConfig(command="sleep 1", work_dir="/", startup_timeout=1.0))
    finally:
        emulator.kubelet.hold_new = False
    assert emulator.pods("gc", "gc-city=stuck") == []


def test_copy_to_lands_under_the_pod_work_dir(make_provider: Factory, tmp_path: Path) -> None:
    provider = make_provider(city="copycity", prebaked=True)
    provider.start("worker", cfg())
    src = tmp_path / "notes.md"
    src.write_text("from the controller\n")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a.txt").write_text("A\n")
    provider.copy_to("worker", str(src), "docs/notes.md")
    provider.copy_to("worker", str(tree), "")
    provider.copy_to("worker", str(tmp_path / "missing"), "")  # best-effort: no error
    with pytest.raises(SessionError, match="outside the session's work dir"):
        provider.copy_to("worker", str(src), "../../etc/x")
    pod = provider._pod("worker")["metadata"]["name"]
    code, out, _ = provider.exec(pod, ["sh", "-c", "cat docs/notes.md sub/a.txt"])
    assert (code, out) == (0, "from the controller\nA\n")
    provider.stop("worker")
