"""The controller as a real process: lock, control socket, signals, adoption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.controller import CityPaths, send_command
from gascity.testing import wait_for

GC = [sys.executable, "-c", "from gascity.cli.main import main; main()"]

CITY = """
[workspace]
name = "proc"
[daemon]
patrol_interval = "1h"
shutdown_timeout = "200ms"
[[agent]]
name = "db"
command = "db"
[[agent]]
name = "api"
command = "api"
depends_on = ["db"]
[[agent]]
name = "w"
command = "w"
max_active_sessions = 9
scale_check = "cat n"
"""


def env() -> dict[str, str]:
    return {**os.environ, "GC_SESSION": "fake", "GC_EVENTS": "file", "GC_MAIL": "sqlite"}


def gc(city: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*GC, "--city", str(city), *args], env=env(), capture_output=True,
                          check=False,
                          text=True, timeout=60)
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def sessions(city: Path) -> list[str]:
    # Read the fake provider's store directly: `gc session list` would (rightly) refuse
    # a city.toml that a test has just broken.
    path = city / ".gc" / "fake-sessions.json"
    return sorted(json.loads(path.read_text())) if path.exists() else []


def events(city: Path, type_: str) -> list[dict[str, object]]:
    path = city / ".gc" / "events.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [e for e in map(json.loads, lines) if e["type"] == type_]


@pytest.fixture
def city(tmp_path: Path) -> Path:
    (tmp_path / "city.toml").write_text(CITY)
    (tmp_path / "n").write_text("2")
    return tmp_path


@pytest.fixture
def controller(city: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([*GC, "--city", str(city), "start", "--foreground"], env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sock = CityPaths(city).socket

    def ready() -> bool:
        try:
            return send_command(sock, "ping", timeout=2) == "pong"
        except OSError:
            return False

    wait_for(ready, 30, what="controller socket")
    wait_for(lambda: len(sessions(city)) == 4, 30, what="first tick")
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_second_controller_is_refused(city: Path, controller: subprocess.Popen[str]) -> None:
    second = gc(city, "start", "--once", check=False)
    assert second.returncode != 0
    assert f"controller already running (pid {controller.pid})" in second.stderr
    refused = gc(city, "start", "--foreground", check=False)
    assert refused.returncode != 0
    assert f"controller already running (pid {controller.pid})" in refused.stderr
    status = json.loads(gc(city, "status", "--json").stdout)
    assert status["controller"] == {"running": True, "pid": controller.pid,
                                    "last_tick": status["controller"]["last_tick"]}
    assert status["holder"]["kind"] == "controller"
    assert status["holder"]["pid"] == controller.pid
    assert f"held by: standalone controller (pid {controller.pid})" in gc(city, "status").stdout


def test_start_on_a_standalone_controller_reconciles_now(
    city: Path, controller: subprocess.Popen[str]
) -> None:
    (city / "n").write_text("3")
    result = gc(city, "start")
    assert "started w-3" in result.stdout, result.stdout
    assert f"standalone controller (pid {controller.pid})" in result.stdout
    assert "w-3" in sessions(city)


def test_socket_is_private(city: Path, controller: subprocess.Popen[str]) -> None:
    mode = CityPaths(city).socket.stat().st_mode & 0o777
    assert mode == 0o600


def test_poke_and_reload_trigger_ticks(city: Path, controller: subprocess.Popen[str]) -> None:
    sock = CityPaths(city).socket
    (city / "n").write_text("3")
    reply = send_command(sock, "poke")
    assert reply.startswith("ok tick")
    assert "w-3" in sessions(city)
    (city / "city.toml").write_text(CITY + '[[agent]]\nname = "extra"\ncommand = "x"\n')
    assert send_command(sock, "reload").startswith("ok reloaded")
    assert "extra" in sessions(city)
    assert send_command(sock, "bogus").startswith("error: unknown command")


def test_broken_config_on_reload_keeps_the_old_one(
    city: Path, controller: subprocess.Popen[str]
) -> None:
    sock = CityPaths(city).socket
    (city / "city.toml").write_text(CITY + "[[agent]]\nname = 'bad'\ncomand = 'x'\n")
    reply = send_command(sock, "reload")
    assert reply.startswith("error:") and "agent[3].comand" in reply
    (city / "n").write_text("1")
    send_command(sock, "poke")
    # The old config still runs: the pool shrinks by draining, nothing else is lost.
    assert {"db", "api", "w-1"} <= set(sessions(city))
    rejected = events(city, "config.rejected")
    assert rejected and "agent[3].comand" in str(rejected[-1]["payload"])


def test_sigterm_stops_sessions_gracefully(
    city: Path, controller: subprocess.Popen[str]
) -> None:
    controller.send_signal(signal.SIGTERM)
    assert controller.wait(timeout=30) == 0
    assert sessions(city) == []
    stopped = [e["subject"] for e in events(city, "session.stopped")]
    assert stopped.index("api") < stopped.index("db"), "dependents stop first"
    assert events(city, "controller.stopped")


def test_gc_stop_stops_a_running_controller(
    city: Path, controller: subprocess.Popen[str]
) -> None:
    result = gc(city, "stop")
    assert "controller stopped" in result.stdout
    assert controller.wait(timeout=10) == 0
    assert sessions(city) == []


def test_kill_9_then_restart_adopts_without_duplicates(
    city: Path, controller: subprocess.Popen[str]
) -> None:
    before = sessions(city)
    started_before = len(events(city, "session.woke"))
    controller.send_signal(signal.SIGKILL)
    controller.wait()
    result = gc(city, "start", "--once")
    assert "started" not in result.stdout, result.stdout
    assert sessions(city) == before
    assert len(events(city, "session.woke")) == started_before


@pytest.mark.timeout(2400)  # 1600 real `gc` processes on 2 cores: minutes, not seconds
def test_concurrent_event_emitters(city: Path) -> None:
    """8 processes x 200 `gc event emit` -> 1600 events, seqs unique and contiguous."""
    script = (
        'for i in $(seq 1 200); do "$@" event emit load.test --actor "w$W" '
        '--message "$i" >/dev/null || exit 1; done'
    )
    procs = [
        subprocess.Popen(["sh", "-c", script, "sh", *GC, "--city", str(city)],
                         env={**env(), "W": str(w)})
        for w in range(8)
    ]
    assert [p.wait(timeout=2000) for p in procs] == [0] * 8
    lines = (city / ".gc" / "events.jsonl").read_text().splitlines()
    seqs = [json.loads(line)["seq"] for line in lines]
    load = [json.loads(line) for line in lines if json.loads(line)["type"] == "load.test"]
    assert len(load) == 1600
    assert seqs == list(range(1, len(seqs) + 1)), "unique, contiguous, file order = seq order"
    for w in range(8):
        mine = [int(e["message"]) for e in load if e["actor"] == f"w{w}"]
        assert mine == list(range(1, 201))
