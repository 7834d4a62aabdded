"""Issue 12, defect 4: two cities of one workspace name on one machine used to share
a tmux server, so `gc --city b/twin stop` stopped city a/twin's agents and b adopted
a's sessions as its own. Each city's default socket now derives from its real path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
