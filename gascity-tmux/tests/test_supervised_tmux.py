"""Issue 20 on real tmux: a supervisor killed with -9 leaves the city's tmux server and
its sessions running, and the next `gc start` adopts them (same panes, nothing twice)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gascity.controller.lock import holder_pid
from gascity.controller.paths import CityPaths
from gascity.supervisor import client
from gascity.supervisor.home import SupervisorHome
from gascity.testing import wait_for
from gascity.testing.supervisor import stop_supervisor
from gascity.tmuxconv import city_socket

from .conftest import reap_server


def gc(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GC_") or k == "GC_HOME"}
    done = subprocess.run([sys.executable, "-m", "gascity.cli", *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def panes(socket: str) -> dict[str, int]:
    done = subprocess.run(["tmux", "-L", socket, "list-panes", "-a", "-F",
                           "#{session_name} #{pane_pid}"],
                          capture_output=True, text=True, check=False, timeout=10)
    return {name: int(pid) for name, pid in
            (line.split() for line in done.stdout.splitlines())} if done.returncode == 0 else {}


def test_kill_9_of_the_supervisor_then_start_adopts_the_tmux_sessions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = SupervisorHome(tmp_path / "gchome")
    monkeypatch.setenv("GC_HOME", str(home.root))
    city = tmp_path / "gctest-adopt"
    city.mkdir()
    (city / "city.toml").write_text(
        '[workspace]\nname = "gctest-adopt"\n\n[daemon]\npatrol_interval = "1s"\n'
        'shutdown_timeout = "0s"\n\n[session]\nprovider = "tmux"\n\n'
        '[session.tmux]\nconfig_file = "/dev/null"\n\n'
        '[[agent]]\nname = "mayor"\ncommand = "sleep 300"\n\n'
        '[[agent]]\nname = "deacon"\ncommand = "sleep 300"\n'
    )
    socket = city_socket("gctest-adopt", city)
    try:
        gc("start", str(city))
        before = wait_for(lambda: (p := panes(socket)) and len(p) == 2 and p, timeout=30,
                          what="both sessions on the city's tmux server")
        sup = client.supervisor_pid(home)
        assert sup is not None
        os.kill(sup, signal.SIGKILL)
        wait_for(lambda: holder_pid(CityPaths(city).lock) is None, timeout=15,
                 what="the orphaned city runtime to exit")
        assert panes(socket) == before, "a supervisor crash must not touch the sessions"

        again = gc("start", str(city))
        assert "supervisor started" in again.stdout
        assert "2 running, 2 desired" in again.stdout and "started" not in (
            again.stdout.splitlines()[1]), again.stdout
        assert panes(socket) == before, "adopted: the same panes, no second copy"
        events = [json.loads(line) for line in
                  (city / ".gc" / "events.jsonl").read_text().splitlines()]
        assert sum(e["type"] == "session.woke" for e in events) == 2
        gc("stop", str(city))
        assert panes(socket) == {}
    finally:
        stop_supervisor(home)
        reap_server(socket)
