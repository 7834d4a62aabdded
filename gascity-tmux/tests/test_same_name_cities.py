"""Issue 12, defect 4: two cities of one workspace name on one machine used to share
a tmux server, so `gc --city b/twin stop` stopped city a/twin's agents and b adopted
a's sessions as its own. Each city's default socket now derives from its real path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gascity.tmuxconv import city_socket

from .conftest import reap_server


def gc(city: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GC_") or k == "GC_HOME"}
    return subprocess.run(
        [str(Path(sys.executable).parent / "gc"), "--city", str(city), *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )


def alive(socket: str) -> bool:
    return subprocess.run(["tmux", "-L", socket, "list-sessions"], capture_output=True,
                          check=False, timeout=10).returncode == 0


def test_a_same_name_city_elsewhere_neither_adopts_nor_stops_the_other(tmp_path: Path) -> None:
    cities = [tmp_path / side / "gctest-twin" for side in ("a", "b")]
    for city in cities:
        city.mkdir(parents=True)
        (city / "city.toml").write_text(
            '[workspace]\nname = "gctest-twin"\n\n[daemon]\nshutdown_timeout = "0s"\n\n'
            '[session.tmux]\nconfig_file = "/dev/null"\n\n'
            '[[agent]]\nname = "mayor"\ncommand = "sleep 300"\n'
        )
    a, b = cities
    sockets = [city_socket("gctest-twin", c) for c in cities]
    try:
        for city in cities:
            started = gc(city, "start", "--once")
            assert started.returncode == 0, started.stderr
            assert "0 running, 1 desired; started mayor" in started.stdout, started.stdout
        assert sockets[0] != sockets[1] and all(alive(s) for s in sockets)
        stopped = gc(b, "stop")
        assert stopped.returncode == 0, stopped.stderr
        listed = gc(a, "session", "list")
        assert "mayor" in listed.stdout, listed.stdout
        assert alive(sockets[0])
    finally:
        gc(a, "stop")
        gc(b, "stop")
        for socket in sockets:
            reap_server(socket)


def _panes(socket: str) -> list[int]:
    done = subprocess.run(["tmux", "-L", socket, "list-panes", "-a", "-F", "#{pane_pid}"],
                          capture_output=True, text=True, check=False, timeout=10)
    return [int(p) for p in done.stdout.split()] if done.returncode == 0 else []


def test_same_name_cities_under_one_supervisor_are_kept_apart_by_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: the registry keys cities by real path and refuses a second city of a
    taken name; registered under another name (gc register --name) the twin runs beside
    the first under one supervisor, on its own tmux server, and `gc start` keeps that
    registration name instead of putting back the taken workspace.name."""
    from gascity.supervisor import client
    from gascity.supervisor.home import SupervisorHome
    from gascity.supervisor.registry import Registry
    from gascity.testing import wait_for
    from gascity.testing.supervisor import stop_supervisor

    home = SupervisorHome(tmp_path / "gchome")
    monkeypatch.setenv("GC_HOME", str(home.root))
    home.ensure()
    home.config.write_text('[supervisor]\npatrol_interval = "300ms"\n')
    cities = [tmp_path / side / "gctest-twin" for side in ("a", "b")]
    for city in cities:
        city.mkdir(parents=True)
        (city / "city.toml").write_text(
            '[workspace]\nname = "gctest-twin"\n\n[daemon]\npatrol_interval = "1s"\n'
            'shutdown_timeout = "0s"\n\n[session]\nprovider = "tmux"\n\n'
            '[session.tmux]\nconfig_file = "/dev/null"\n\n'
            '[[agent]]\nname = "mayor"\ncommand = "sleep 300"\n'
        )
    a, b = cities
    sockets = [city_socket("gctest-twin", c) for c in cities]

    try:
        first = gc(a, "start", str(a))
        assert first.returncode == 0, first.stderr
        refused = gc(b, "start", str(b))
        assert refused.returncode == 1
        assert f"'gctest-twin' is already registered for {a}" in refused.stderr
        assert f"gc register --name NAME {b}" in refused.stderr
        assert Registry(home.registry).find(b) is None

        assert gc(b, "register", "--name", "twin-b", str(b)).returncode == 0
        second = gc(b, "start", str(b))
        assert second.returncode == 0, second.stderr
        assert "supervisor started" not in second.stdout, "one supervisor for both"
        assert Registry(home.registry).find(b).name == "twin-b"  # type: ignore[union-attr]

        listed = {c["name"]: c for c in json.loads(gc(a, "cities", "--json").stdout)}
        assert set(listed) == {"gctest-twin", "twin-b"}
        assert {c["path"] for c in listed.values()} == {str(a), str(b)}
        wait_for(lambda: all(len(_panes(s)) == 1 for s in sockets), timeout=30,
                 what="one mayor on each city's own tmux server")
        assert sockets[0] != sockets[1]
        pane_a, pane_b = (_panes(s)[0] for s in sockets)
        # The supervisor's log names each city's lines as the registry does.
        logged = home.log.read_text()
        assert "gc[gctest-twin]: tick 1:" in logged and "gc[twin-b]: tick 1:" in logged

        # a's mayor dies: only a's runtime starts it again; b's is the same process.
        os.kill(pane_a, 9)
        wait_for(lambda: (p := _panes(sockets[0])) and p[0] != pane_a, timeout=30,
                 what="a's mayor restarted by a's runtime")
        assert _panes(sockets[1]) == [pane_b]

        stopped = gc(b, "stop", str(b))
        assert stopped.returncode == 0, stopped.stderr
        assert not alive(sockets[1])
        assert alive(sockets[0]) and len(_panes(sockets[0])) == 1
        assert {c["name"] for c in client.cities(home) or []} == {"gctest-twin"}
    finally:
        gc(a, "stop", str(a))
        gc(b, "stop", str(b))
        stop_supervisor(home)
        for socket in sockets:
            reap_server(socket)
