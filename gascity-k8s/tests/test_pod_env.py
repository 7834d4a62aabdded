"""A pod's environment names pod paths: the controller's city, work dir and the
paths under the city are remapped to ``/workspace``, as the reference remaps them,
through the native provider, through ``gc-session-k8s``, and in a controller's
tick, whose drift fingerprint stays the one core computed on the controller."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gascity.config import load_city
from gascity.controller import Controller
from gascity.reconcile import build_desired
from gascity.testing import MemoryEvents, open_test_city, wait_for
from gascity.types import META_FINGERPRINT, StartConfig
from gascity_k8s.podenv import city_roots, pod_path, pod_work_dir
from gascity_k8s.testing import KubeEmulator

from .conftest import ProviderFactory
from .test_script import Run, script  # noqa: F401  (the fixture)


def _env(pod: dict[str, Any]) -> dict[str, str]:
    (agent,) = pod["spec"]["containers"]
    return {e["name"]: e["value"] for e in agent["env"] if "value" in e}


def _controller_env(city_dir: Path) -> dict[str, str]:
    """What core hands a provider for an agent of rig ``app`` in ``city_dir``."""
    city, rig = str(city_dir), str(city_dir / "rigs" / "app")
    return {
        "GC_CITY": city,
        "GC_CITY_PATH": city,
        "GC_CITY_DIR": city,
        "GC_CITY_RUNTIME_DIR": f"{city}/.gc/runtime",
        "GC_DIR": rig,
        "GC_RIG": "app",
        "GC_RIG_ROOT": rig,
        "BEADS_DIR": f"{rig}/.beads",
        "GC_PACK_DIR": f"{city}/packs/crew",
        "GC_STORE_ROOT": "/srv/shared-store",  # outside the city: a mount, kept
        "GC_SESSION": "k8s",  # the controller's provider: never the pod's
        "GC_EVENTS": "file",
        "KEEP": "v",
    }


def _expected(work: str = "/workspace/rigs/app") -> dict[str, str]:
    return {
        "GC_CITY": "/workspace",
        "GC_CITY_PATH": "/workspace",
        "GC_CITY_DIR": "/workspace",
        "GC_CITY_RUNTIME_DIR": "/workspace/.gc/runtime",
        "GC_DIR": work,
        "GC_RIG": "app",
        "GC_RIG_ROOT": "/workspace/rigs/app",
        "BEADS_DIR": "/workspace/rigs/app/.beads",
        "GC_PACK_DIR": "/workspace/packs/crew",
        "GC_STORE_ROOT": "/srv/shared-store",
        "KEEP": "v",
    }


def test_path_remapping_keeps_to_path_boundaries(tmp_path: Path) -> None:
    roots = city_roots({"GC_CITY": "/c/city"})
    assert pod_path("/c/city", roots) == "/workspace"
    assert pod_path("/c/city/rigs/a", roots) == "/workspace/rigs/a"
    assert pod_path("/c/city-other/x", roots) == "/c/city-other/x"  # a sibling, not inside
    assert pod_path(" /c/city/x ", roots) == "/workspace/x"
    assert pod_work_dir("/elsewhere", roots) == "/workspace"
    # Core resolves work dirs but not GC_CITY: a city reached through a symlink maps too.
    real = tmp_path / "real"
    (real / "rig").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    roots = city_roots({"GC_CITY": str(tmp_path / "link")})
    assert pod_work_dir(str(real / "rig"), roots) == "/workspace/rig"


def test_native_pod_env_names_pod_paths(
    make_provider: ProviderFactory, emulator: KubeEmulator, city_dir: Path
) -> None:
    (city_dir / "rigs" / "app").mkdir(parents=True)
    (city_dir / "rigs" / "app" / "README").write_text("the app rig\n")
    provider = make_provider(city="podenv", namespace="podenv")
    provider.start(
        "worker",
        StartConfig(command="sleep 300", work_dir=str(city_dir / "rigs" / "app"),
                    env=_controller_env(city_dir), startup_timeout=30),
    )
    try:
        (pod,) = emulator.pods("podenv", "gc-city=podenv")
        env = _env(pod)
        assert {k: env[k] for k in _expected()} == _expected()
        assert "GC_SESSION" not in env and "GC_EVENTS" not in env
        assert pod["spec"]["containers"][0]["workingDir"] == "/workspace/rigs/app"
        # Inside the pod the variables lead to the staged city, not the controller's.
        code, out, err = provider.exec(
            pod["metadata"]["name"],
            ["sh", "-c", 'pwd; echo "$GC_RIG_ROOT"; cat "$GC_RIG_ROOT/README"; echo "$GC_CITY"'],
        )
        assert code == 0, err
        cwd, rig_root, readme, city = out.splitlines()
        assert rig_root == cwd and readme == "the app rig"
        assert city != str(city_dir) and Path(city, "city.toml").is_file()
    finally:
        provider.stop("worker")


def test_script_pod_env_agrees_with_the_native_one(
    script: Run,  # noqa: F811
    emulator: KubeEmulator,
    city_dir: Path,
) -> None:
    (city_dir / "rigs" / "app").mkdir(parents=True)
    start = {"work_dir": str(city_dir / "rigs" / "app"), "command": "sleep 300",
             "env": {**_controller_env(city_dir), "GC_AGENT": "worker"}}
    done = script("start", "scripted-env", stdin=json.dumps(start))
    assert done.returncode == 0, done.stderr
    try:
        (pod,) = emulator.pods("mixed", "gc-session=scripted-env")
        env = _env(pod)
        assert {k: env[k] for k in _expected()} == _expected()
        assert "GC_SESSION" not in env and "GC_EVENTS" not in env
        assert pod["spec"]["containers"][0]["workingDir"] == "/workspace/rigs/app"
    finally:
        assert script("stop", "scripted-env").returncode == 0


def test_a_tick_starts_pods_with_pod_paths_and_the_controller_fingerprint(
    make_provider: ProviderFactory, emulator: KubeEmulator, tmp_path: Path
) -> None:
    city_dir = tmp_path / "envcity"
    (city_dir / "crew").mkdir(parents=True)
    (city_dir / "city.toml").write_text(
        '[workspace]\nname = "envcity"\n\n[[agent]]\nname = "mayor"\n'
        'command = "sleep 300"\ndir = "crew"\n'
    )
    provider = make_provider(city="envcity", namespace="envcity", where=city_dir,
                             leader_election=False)
    controller = Controller(open_test_city(city_dir, session=provider, events=MemoryEvents()))
    try:
        assert controller.tick().started == ["mayor"]
        (pod,) = emulator.pods("envcity", "gc-city=envcity")
        env = _env(pod)
        assert env["GC_CITY"] == env["GC_CITY_PATH"] == env["GC_CITY_DIR"] == "/workspace"
        assert env["GC_DIR"] == "/workspace/crew"
        assert env["GC_CITY_RUNTIME_DIR"] == "/workspace/.gc/runtime"
        assert not [v for v in env.values() if str(city_dir) in v]
        # The fingerprint is core's, over the controller's env: no drift, no restart.
        config = load_city(city_dir).config
        desired = build_desired(config, {}, city_name="envcity", city_dir=city_dir)
        annotations = pod["metadata"]["annotations"]
        assert annotations[f"gascity.dev/{META_FINGERPRINT}"] == desired["mayor"].fingerprint
        assert desired["mayor"].config.env["GC_CITY"] == str(city_dir)
        wait_for(lambda: controller.tick().running == 1, timeout=20)
        again = controller.tick()
        assert (again.started, again.stopped) == ([], [])
    finally:
        provider.stop("mayor")


def test_the_setup_script_is_run_at_its_pod_path_quoted() -> None:
    # Core hands the script over as the controller's absolute path under the city; in
    # the pod the city is /workspace, so the program runs it there, and as one word
    # (the city's directory name is the user's: a space or "$(...)" stays data).
    from gascity_k8s.podspec import build_pod
    from gascity_k8s.settings import K8sSettings

    city = "/home/me/my city $(id)"
    body = build_pod(city="c", name="mayor", command="sleep 1", work_dir=city,
                     settings=K8sSettings(), env={"GC_CITY": city}, city_dir=city,
                     session_setup_script=f"{city}/setup/mayor.sh")
    (agent,) = body["spec"]["containers"]
    program = agent["args"][0]
    assert "sh /workspace/setup/mayor.sh ||" in program
    assert "/home/me" not in program
    outside = build_pod(city="c", name="mayor", command="sleep 1", work_dir=city,
                        settings=K8sSettings(), env={"GC_CITY": city}, city_dir=city,
                        session_setup_script="/opt/my scripts/set up.sh")
    assert "sh '/opt/my scripts/set up.sh' ||" in outside["spec"]["containers"][0]["args"][0]
