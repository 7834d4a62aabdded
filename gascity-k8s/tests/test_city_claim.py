"""Two cities of one name in one namespace: pod names, the ``gc-city`` label, the Lease
and the state ConfigMap all derive from the name, so the second one is refused (with
the first one's path) before it lists, starts or stops a pod."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gascity.errors import SessionError
from gascity.types import StartConfig
from gascity_k8s.naming import pod_name
from gascity_k8s.testing import KubeEmulator

Factory = Callable[..., Any]


def cfg() -> StartConfig:
    return StartConfig(command="sleep 300", work_dir="/nowhere", startup_timeout=30.0)


def test_a_same_name_city_from_another_path_is_refused_before_it_touches_a_pod(
    make_provider: Factory, emulator: KubeEmulator, city_dir: Path, tmp_path: Path
) -> None:
    """Pod names, labels, Lease and state ConfigMap derive from the city's name: a
    second "twin" in the namespace would list, adopt and stop the first one's pods."""
    first = make_provider(city="twin", prebaked=True)
    first.start("mayor", cfg())
    elsewhere = tmp_path / "b" / "twin"
    elsewhere.mkdir(parents=True)
    second = make_provider(city="twin", prebaked=True, where=elsewhere)
    for attempt in (
        lambda: second.list_running(""),
        lambda: second.stop("mayor"),
        lambda: second.is_running("mayor"),
        lambda: second.start("mayor", cfg()),
        second.coordination,
    ):
        with pytest.raises(SessionError) as refused:
            attempt()
        message = str(refused.value)
        assert str(city_dir.resolve()) in message and str(elsewhere) in message
        assert "gc-twin-city" in message
    mayor = pod_name("twin", "mayor")
    assert [p["metadata"]["name"] for p in emulator.pods("gc", "gc-city=twin")] == [mayor]
    assert not any(p["metadata"].get("deletionTimestamp") for p in emulator.pods("gc"))
    # A replica of the first city (same path) and a second checkout of it that says so.
    replica = make_provider(city="twin", prebaked=True)
    assert [r.name for r in replica.list_running("")] == ["mayor"]
    checkout = make_provider(
        city="twin", prebaked=True, where=elsewhere, city_path=str(city_dir.resolve())
    )
    assert [r.name for r in checkout.list_running("")] == ["mayor"]
    # Another namespace is another claim.
    apart = make_provider(city="twin", namespace="gc-other", prebaked=True, where=elsewhere)
    assert apart.list_running("") == []
    assert first.stop("mayor") is True


def test_the_cli_of_a_same_name_city_says_whose_name_it_is(
    make_provider: Factory, emulator: KubeEmulator, kubeconfig: Path, tmp_path: Path
) -> None:
    """`gc --city b/twin stop` used to delete city a/twin's pods, then exited 0 with
    "stopped 0 session(s)": `gc stop` goes on past a failed listing by design (stopping
    each known name), but a refusal is no listing failure, so it is the command's error."""
    cities = {}
    for side in ("a", "b"):
        city = tmp_path / side / "twin"
        city.mkdir(parents=True)
        (city / "city.toml").write_text(
            '[workspace]\nname = "twin"\n\n[session]\nprovider = "k8s"\n\n'
            f'[session.k8s]\nnamespace = "twins"\nprebaked = true\nkubeconfig = "{kubeconfig}"\n'
            "watch_cache = false\nleader_election = false\n\n"
            '[[agent]]\nname = "mayor"\ncommand = "sleep 300"\n'
        )
        cities[side] = city
    first = make_provider(city="twin", namespace="twins", prebaked=True, where=cities["a"])
    first.start("mayor", cfg())
    env = {k: v for k, v in os.environ.items() if not k.startswith("GC_")}
    gc = [sys.executable, "-c", "from gascity.cli.main import main; main()"]
    for args in (("status",), ("session", "list"), ("stop",)):
        result = subprocess.run([*gc, "--city", str(cities["b"]), *args], capture_output=True,
                                text=True, env=env, timeout=120, check=False)
        assert result.returncode == 1, (args, result.returncode, result.stdout)
        assert "stopped" not in result.stdout, (args, result.stdout)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        assert str(cities["a"]) in result.stderr and "gc-twin-city" in result.stderr, (
            args, result.stderr)
    pods = emulator.pods("twins", "gc-city=twin")
    assert [p["metadata"]["name"] for p in pods] == [pod_name("twin", "mayor")]
    assert not pods[0]["metadata"].get("deletionTimestamp")
    assert first.stop("mayor") is True


def test_two_same_name_cities_claiming_at_once_leave_one_owner(
    make_provider: Factory, tmp_path: Path
) -> None:
    import threading

    sides = []
    for i in range(4):
        where = tmp_path / f"race{i}" / "twin"
        where.mkdir(parents=True)
        sides.append(make_provider(city="racer", namespace="race", prebaked=True, where=where))
    go = threading.Barrier(len(sides))
    outcomes: dict[int, str] = {}

    def claim(i: int) -> None:
        go.wait()
        try:
            sides[i].claim()
            outcomes[i] = "owner"
        except SessionError as exc:
            outcomes[i] = str(exc)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(sides))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    owners = [i for i, o in outcomes.items() if o == "owner"]
    assert len(outcomes) == len(sides) and len(owners) == 1, outcomes
    owner_path = sides[owners[0]].city_path
    assert all(owner_path in o for o in outcomes.values() if o != "owner"), outcomes
