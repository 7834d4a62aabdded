"""The machine-wide supervisor as real processes: `gc start`, cities, isolation, adoption.

Every test has its own GC_HOME (so its own registry, lock, socket and log) and stops the
supervisor it started. Sessions are real processes of the subprocess provider.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gascity.controller.lock import holder_pid
from gascity.controller.paths import CityPaths
from gascity.supervisor import client
from gascity.supervisor.home import SupervisorHome
from gascity.supervisor.registry import Registry
from gascity.testing import wait_for
from gascity.testing.supervisor import stop_supervisor

GC = [sys.executable, "-m", "gascity.cli"]

CITY = """
[workspace]
name = "{name}"
[session]
provider = "subprocess"
[session.subprocess]
stop_grace = 1
[daemon]
patrol_interval = "{patrol}"
shutdown_timeout = "300ms"
probe_timeout = "{probe_timeout}"
"""

AGENT = """
[[agent]]
name = "{name}"
command = "{command}"
"""


def env() -> dict[str, str]:
    drop = {"GC_SESSION", "GC_EVENTS", "GC_MAIL", "GC_CITY_DIR"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def gc(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*GC, *args], env=env(), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check:
        assert done.returncode == 0, f"gc {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done


def session_pid(city: Path, name: str) -> int | None:
    try:
        return int((city / ".gc" / "sessions" / name / "pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def sessions(city: Path) -> dict[str, int]:
    """Live sessions of a city by name -> leader pid, read from the provider's files."""
    root = city / ".gc" / "sessions"
    found = {}
    for entry in sorted(root.iterdir()) if root.exists() else []:
        pid = session_pid(city, entry.name)
        if alive(pid):
            assert pid is not None
            found[entry.name] = pid
    return found


def city_record(home: SupervisorHome, city: Path) -> dict[str, Any] | None:
    for record in client.cities(home) or []:
        if record["path"] == str(city.resolve()):
            return record
    return None


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SupervisorHome]:
    h = SupervisorHome(tmp_path / "gchome")
    monkeypatch.setenv("GC_HOME", str(h.root))
    h.ensure()
    # A short supervisor patrol so restarts after a fixed city.toml show up quickly.
    h.config.write_text('[supervisor]\npatrol_interval = "300ms"\n')
    yield h
    stop_supervisor(h)


MakeCity = Callable[..., Path]


@pytest.fixture
def make_city(tmp_path: Path) -> Iterator[MakeCity]:
    made: list[Path] = []

    def make(name: str, agents: dict[str, str], patrol: str = "1s",
             probe_timeout: str = "30s", extra: str = "") -> Path:
        city = tmp_path / name
        city.mkdir()
        text = CITY.format(name=name, patrol=patrol, probe_timeout=probe_timeout)
        for agent, command in agents.items():
            text += AGENT.format(name=agent, command=command)
        (city / "city.toml").write_text(text + extra)
        made.append(city)
        return city

    yield make
    for city in made:  # whatever a failed test left running
        for pid in sessions(city).values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def test_two_cities_one_supervisor_and_a_killed_agent_comes_back(
    home: SupervisorHome, make_city: MakeCity
) -> None:
    patrol = 3.0
    one = make_city("one", {"mayor": "sleep 600", "deacon": "sleep 600"}, patrol="3s")
    two = make_city("two", {"worker": "sleep 600"}, patrol="3s")
    first = gc("start", str(one))
    assert "started" in first.stdout and "mayor" in first.stdout, first.stdout
    assert "supervisor started" in first.stdout
    assert f"stop it with: gc stop {one}" in first.stdout
    second = gc("start", str(two))
    assert "supervisor started" not in second.stdout, "one supervisor for both"
    assert "started worker" in second.stdout

    records = {r["name"]: r for r in client.cities(home) or []}
    assert set(records) == {"one", "two"}
    assert all(r["state"] == "running" for r in records.values()), records
    pid = client.supervisor_pid(home)
    # gc cities: name, path, state, last tick, sessions (the two cities' own figures).
    header, *rows = gc("cities").stdout.splitlines()
    assert header.split() == ["NAME", "PATH", "STATE", "LAST", "TICK", "SESSIONS"]
    table = {r.split()[0]: r.split()[1:] for r in rows}
    assert table["one"][:2] == [str(one), "running"] and table["one"][-1] == "2"
    assert table["two"][:2] == [str(two), "running"] and table["two"][-1] == "1"
    for name in ("one", "two"):  # the last tick, as an ISO time of this very minute
        last = datetime.fromisoformat(table[name][2])
        assert abs(last.timestamp() - time.time()) < 60, table[name]
    assert set(sessions(one)) == {"mayor", "deacon"}
    assert set(sessions(two)) == {"worker"}

    victim = sessions(one)["mayor"]
    worker = sessions(two)["worker"]
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    back = wait_for(lambda: (p := session_pid(one, "mayor")) != victim and alive(p) and p,
                    timeout=30, what="mayor restarted by the supervisor's city runtime")
    # Within one patrol interval of the city (plus the tick's own work on a busy box),
    # well before a second one would have come.
    took = time.monotonic() - killed_at
    print(f"killed mayor back after {took:.2f}s (patrol {patrol:g}s)")
    assert took < patrol + 2.0
    assert alive(back)
    assert client.supervisor_pid(home) == pid, "no command, no new supervisor"
    # The pass that restarted it counts the mayor once (its listing held the dead one).
    record = wait_for(lambda: (r := city_record(home, one)) and "crashed mayor"
                      in (r["summary"] or "") and r, timeout=30, what="the restarting pass")
    assert record["sessions"] == 2, record
    assert sessions(two) == {"worker": worker}, "the other city is untouched"


def test_broken_and_hanging_cities_do_not_delay_another(
    home: SupervisorHome, make_city: MakeCity
) -> None:
    good = make_city("good", {"g": "sleep 600"}, patrol="300ms")
    hang = make_city("hang", {"h": "sleep 600"}, patrol="300ms", probe_timeout="20s",
                     extra='[[agent]]\nname = "pool"\ncommand = "sleep 600"\n'
                           'max_active_sessions = 3\nscale_check = "sleep 3600"\n')
    broken = make_city("broken", {"b": "sleep 600"})
    (broken / "city.toml").write_text("[workspace]\nname = 'broken'\n[daemon]\n"
                                      "patrol_interval = 'soon'\n")
    registry = Registry(home.registry)
    registry.register(hang, "hang")
    registry.register(broken, "broken")
    gc("start", str(good))

    def ticks() -> tuple[int, float]:
        record = city_record(home, good)
        assert record is not None
        return record["tick"], record["last_tick"] or 0.0

    wait_for(lambda: (r := city_record(home, broken)) and r["state"] == "backoff",
             timeout=30, what="broken city in backoff")
    start_tick, _ = ticks()
    gaps, last = [], ticks()[1]
    for _ in range(20):
        time.sleep(0.25)
        _, at = ticks()
        if at != last:
            gaps.append(at - last)
            last = at
    end_tick, _ = ticks()
    print(f"good city: {end_tick - start_tick} ticks in 5 s; gaps {min(gaps):.2f}-"
          f"{max(gaps):.2f}s (patrol 0.3s) beside a hung and a broken city")
    # 300 ms patrols for 5 s; the hang (20 s per tick) and the broken city's restarts
    # must not stretch them.
    assert end_tick - start_tick >= 5, f"good ticked {end_tick - start_tick} times in 5 s"
    assert max(gaps) < 2.5, f"good's ticks were delayed: gaps {gaps}"

    hung = city_record(home, hang)
    assert hung is not None and hung["state"] == "running" and hung["tick"] == 0
    failed = city_record(home, broken)
    assert failed is not None and failed["state"] == "backoff"
    assert "daemon.patrol_interval" in failed["error"] and str(broken) in failed["error"]
    assert 0 < failed["retry_in"] <= 10
    assert "backoff" in gc("cities").stdout

    # Fixing city.toml resets the backoff: the runtime starts well before 10 s are up.
    (broken / "city.toml").write_text(CITY.format(name="broken", patrol="1s",
                                                  probe_timeout="30s")
                                      + AGENT.format(name="b", command="sleep 600"))
    wait_for(lambda: (r := city_record(home, broken)) and r["tick"] >= 1, timeout=5,
             what="broken city restarted once its city.toml was fixed")
    assert set(sessions(broken)) == {"b"}


def test_fixing_a_pack_file_of_a_failing_city_restarts_it_at_once(
    home: SupervisorHome, make_city: MakeCity
) -> None:
    good = make_city("steady", {"s": "sleep 600"})
    packed = make_city("packed", {}, extra='[imports.crew]\nsource = "packs/crew"\n')
    crew = packed / "packs" / "crew"
    (crew / "agents" / "deck").mkdir(parents=True)
    (crew / "pack.toml").write_text('[pack]\nname = "crew"\nschema = 2\n')
    deck = crew / "agents" / "deck" / "agent.toml"
    deck.write_text('start_command = "sleep 600"\nmax_active_sessions = "two"\n')
    Registry(home.registry).register(packed, "packed")
    gc("start", str(good))
    failed = wait_for(lambda: (r := city_record(home, packed)) and r["state"] == "backoff"
                      and r, timeout=30, what="the city with a broken pack in backoff")
    assert "max_active_sessions" in failed["error"] and str(deck) in failed["error"]

    # Only the pack's file changes, not city.toml: the runtime starts well before the
    # 10 s backoff is up.
    deck.write_text('start_command = "sleep 600"\n')
    wait_for(lambda: (r := city_record(home, packed)) and r["tick"] >= 1, timeout=5,
             what="the city restarted once its pack file was fixed")
    assert set(sessions(packed)) == {"deck"}


def test_kill_9_of_the_supervisor_then_start_adopts_every_session(
    home: SupervisorHome, make_city: MakeCity
) -> None:
    city = make_city("adopt", {"a": "sleep 600", "b": "sleep 600", "c": "sleep 600"})
    gc("start", str(city))
    before = sessions(city)
    assert set(before) == {"a", "b", "c"}
    sup = client.supervisor_pid(home)
    runtime = holder_pid(CityPaths(city).lock)
    assert sup and runtime and runtime != sup
    os.kill(sup, signal.SIGKILL)
    # Its city runtime notices (its stdin pipe closes) and leaves the sessions running.
    wait_for(lambda: holder_pid(CityPaths(city).lock) is None, timeout=15,
             what="the orphaned city runtime to exit")
    assert sessions(city) == before, "a supervisor crash must not stop the sessions"

    again = gc("start", str(city))
    assert "supervisor started" in again.stdout
    assert "started" not in again.stdout.split("\n")[1], again.stdout
    assert "3 running, 3 desired" in again.stdout, again.stdout
    assert sessions(city) == before, "adopted, not restarted"
    events = [json.loads(line) for line in (city / ".gc" / "events.jsonl").read_text()
              .splitlines()]
    assert sum(e["type"] == "session.woke" for e in events) == 3


def test_kill_9_of_the_supervisor_leaves_no_hung_scale_check_behind(
    home: SupervisorHome, make_city: MakeCity, tmp_path: Path
) -> None:
    probe = tmp_path / "probe.pid"
    city = make_city("probed", {}, patrol="1h", probe_timeout="120s",
                     extra='[[agent]]\nname = "pool"\ncommand = "sleep 600"\n'
                           f'max_active_sessions = 2\nscale_check = "echo $$ > {probe}; '
                           'sleep 3600"\n')
    gc("start", "--wait", "1", str(city), check=False)  # its first pass hangs
    pid = wait_for(lambda: probe.exists() and probe.read_text().strip().isdigit()
                   and int(probe.read_text()), timeout=30, what="the scale check running")
    assert alive(pid)
    sup = client.supervisor_pid(home)
    assert sup is not None
    os.kill(sup, signal.SIGKILL)
    wait_for(lambda: holder_pid(CityPaths(city).lock) is None, timeout=15,
             what="the orphaned city runtime to exit")
    # Not its 120 s probe_timeout later: the whole group (sh and its sleep) at once.
    wait_for(lambda: not alive(pid), timeout=10, what="the hung scale check killed")
    left = [(q.name, (q / "stat").read_text()) for q in Path("/proc").iterdir()
            if q.name.isdigit() and _pgid(q) == pid]
    assert not any(s.rsplit(")", 1)[1].split()[0] != "Z" for _, s in left), left


def _pgid(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, ValueError, IndexError):
        return None


def test_start_on_a_running_city_returns_after_a_pass(
    home: SupervisorHome, make_city: MakeCity
) -> None:
    city = make_city("again", {"a": "sleep 600"}, patrol="1h")
    gc("start", str(city))
    record = city_record(home, city)
    assert record is not None and record["tick"] == 1
    # An agent added to city.toml starts on the next pass; with a 1 h patrol only the
    # poke of `gc start` can make that pass happen.
    with open(city / "city.toml", "a") as fh:
        fh.write(AGENT.format(name="late", command="sleep 600"))
    t0 = time.monotonic()
    result = gc("start", str(city))
    assert time.monotonic() - t0 < 20
    assert "started late" in result.stdout, result.stdout
    assert "supervisor started" not in result.stdout
    record = city_record(home, city)
    assert record is not None and record["tick"] >= 2
    assert set(sessions(city)) == {"a", "late"}
    refused = gc("start", "--foreground", str(city), check=False)
    assert refused.returncode != 0
    assert f"run by the supervisor (pid {client.supervisor_pid(home)})" in refused.stderr


def test_stop_leaves_nothing_running_and_the_city_unregistered(
    home: SupervisorHome, make_city: MakeCity
) -> None:
    city = make_city("gone", {"a": "sleep 600", "b": "sleep 600"})
    keep = make_city("kept", {"k": "sleep 600"})
    gc("start", str(city))
    gc("start", str(keep))
    pids = sessions(city)
    assert len(pids) == 2
    held = gc("--city", str(city), "status").stdout
    assert f"held by: supervisor (pid {client.supervisor_pid(home)}" in held

    result = gc("stop", str(city))
    assert "unregistered" in result.stdout and "controller stopped" in result.stdout
    # Returned only after the runtime exited: nothing holds the city, nothing runs.
    assert holder_pid(CityPaths(city).lock) is None
    assert not any(alive(p) for p in pids.values())
    assert sessions(city) == {}
    assert Registry(home.registry).find(city) is None
    assert city_record(home, city) is None
    assert set(sessions(keep)) == {"k"}, "the other city keeps running"
    assert "nobody" in gc("--city", str(city), "status").stdout


def test_supervisor_stop_stops_every_city(home: SupervisorHome, make_city: MakeCity) -> None:
    city = make_city("all", {"a": "sleep 600"})
    gc("start", str(city))
    pids = sessions(city)
    assert "running" in gc("supervisor", "status").stdout
    gc("supervisor", "stop")
    assert holder_pid(home.lock) is None
    assert not any(alive(p) for p in pids.values())
    assert gc("supervisor", "status", check=False).returncode == 1
    # Still registered: the next `gc start` (or login, with the service) runs it again.
    assert Registry(home.registry).find(city) is not None
    assert "supervisor not running" in gc("cities").stdout
    # So a standalone controller is refused, as the reference refuses it: the
    # supervisor would find the city taken at its next start.
    refused = gc("start", "--foreground", str(city), check=False, timeout=60)
    assert refused.returncode == 1, refused.stdout
    assert "is registered with the supervisor" in refused.stderr
    assert f"gc unregister {city}" in refused.stderr
    assert holder_pid(CityPaths(city).lock) is None and sessions(city) == {}
    assert "supervisor running" in gc("supervisor", "logs", "-n", "200").stdout


def test_start_refuses_a_broken_city_naming_the_key(
    home: SupervisorHome, make_city: MakeCity
) -> None:
    city = make_city("bad", {})
    (city / "city.toml").write_text("[workspace]\nname = 'bad'\n[daemon]\npatrol_interval = 'x'\n")
    result = gc("start", str(city), check=False)
    assert result.returncode == 2
    assert "daemon.patrol_interval" in result.stderr
    assert Registry(home.registry).entries() == []
    assert client.supervisor_pid(home) is None, "nothing started for a city that cannot run"


def test_register_unregister_and_reload(home: SupervisorHome, make_city: MakeCity) -> None:
    city = make_city("reg", {"a": "sleep 600"}, patrol="1h")
    out = gc("register", str(city)).stdout
    assert "registered" in out
    assert "already registered" in gc("register", str(city)).stdout
    wait_for(lambda: (r := city_record(home, city)) and r["tick"] >= 1, timeout=30,
             what="registered city reconciled")
    # reload pokes every city for a pass: with a 1 h patrol only that pass can start
    # an agent added to city.toml.
    with open(city / "city.toml", "a") as fh:
        fh.write(AGENT.format(name="late", command="sleep 600"))
    assert "poked 1 cities" in gc("supervisor", "reload").stdout
    wait_for(lambda: set(sessions(city)) == {"a", "late"}, timeout=30,
             what="the pass gc supervisor reload asked for")

    # A registry broken by hand: the supervisor says so and keeps running what runs.
    good = home.registry.read_text()
    home.registry.write_text("[[cities]\n")
    gc("supervisor", "reload")
    status = gc("supervisor", "status").stdout
    assert "registry:" in status and "not valid TOML" in status and "cities.toml" in status
    record = city_record(home, city)
    assert record is not None and record["state"] == "running"
    assert set(sessions(city)) == {"a", "late"}
    home.registry.write_text(good)
    gc("unregister", str(city))
    assert holder_pid(CityPaths(city).lock) is None
    assert sessions(city) == {}
    assert gc("unregister", str(city), check=False).returncode != 0


def test_a_standalone_controller_keeps_its_city_and_gc_stop_ends_it(
    home: SupervisorHome, make_city: MakeCity
) -> None:
    city = make_city("solo", {"a": "sleep 600"}, patrol="1h")
    proc = subprocess.Popen([*GC, "start", "--foreground", str(city)], env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: holder_pid(CityPaths(city).lock) == proc.pid, timeout=30,
                 what="standalone controller holding the city")
        wait_for(lambda: set(sessions(city)) == {"a"}, timeout=30, what="its first tick")
        # Registered behind its back: the supervisor's runtime cannot take the city.
        Registry(home.registry).register(city, "solo")
        gc("supervisor", "start")
        record = wait_for(lambda: (r := city_record(home, city)) and r["state"] == "backoff"
                          and r, timeout=30, what="runtime refused by the lock")
        assert f"(pid {proc.pid}) outside the supervisor" in record["error"]

        with open(city / "city.toml", "a") as fh:
            fh.write(AGENT.format(name="b", command="sleep 600"))
        out = gc("start", str(city)).stdout
        assert f"run by standalone controller (pid {proc.pid})" in out, out
        assert "started b" in out, "gc start reconciled through the standalone controller"
        assert (f"held by: standalone controller (pid {proc.pid})"
                in gc("--city", str(city), "status").stdout)

        result = gc("stop", str(city))
        assert "unregistered" in result.stdout and "controller stopped" in result.stdout
        assert proc.wait(timeout=30) == 0
        assert sessions(city) == {}
        assert Registry(home.registry).find(city) is None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_start_of_a_city_whose_first_pass_hangs_returns_after_wait(
    home: SupervisorHome, make_city: MakeCity
) -> None:
    city = make_city("slow", {}, patrol="1h", probe_timeout="120s",
                     extra='[[agent]]\nname = "pool"\ncommand = "sleep 600"\n'
                           'max_active_sessions = 2\nscale_check = "sleep 3600"\n')
    t0 = time.monotonic()
    result = gc("start", "--wait", "2", str(city), check=False)
    assert time.monotonic() - t0 < 60  # not the 120 s probe
    assert result.returncode == 1
    assert f"no reconcile pass of {city} within 2s" in result.stderr
    assert "keeps running it" in result.stderr
    record = city_record(home, city)
    assert record is not None and record["state"] == "running"

    # gc stop of that city does not wait out the hung probe either: the runtime's stop
    # cancels it (SIGKILL of its group), and nothing of the city is left.
    def in_city() -> list[str]:
        return [q.name for q in Path("/proc").iterdir() if q.name.isdigit()
                and _cwd(q) == city.resolve() and alive(int(q.name))]

    assert in_city(), "the hung scale check runs in the city's directory"
    t0 = time.monotonic()
    stopped = gc("stop", str(city))
    took = time.monotonic() - t0
    print(f"gc stop of a city whose scale_check hangs took {took:.2f}s (probe 120s)")
    assert took < 60, stopped.stdout
    assert Registry(home.registry).find(city) is None and city_record(home, city) is None
    assert holder_pid(CityPaths(city).lock) is None
    assert in_city() == [], "the scale check is gone with its city"


def test_once_makes_one_pass_with_no_supervisor_and_refuses_a_held_city(
    home: SupervisorHome, make_city: MakeCity
) -> None:
    city = make_city("ci", {"a": "sleep 600", "b": "sleep 600"})
    once = gc("start", "--once", str(city))
    assert "0 running, 2 desired; started a, b" in once.stdout, once.stdout
    # It returned with nothing left holding or watching the city: no supervisor, no
    # registration, no controller; only the city's sessions run.
    assert client.supervisor_pid(home) is None and holder_pid(home.lock) is None
    assert Registry(home.registry).entries() == []
    assert holder_pid(CityPaths(city).lock) is None
    assert set(sessions(city)) == {"a", "b"}
    assert "held by: nobody" in gc("--city", str(city), "status").stdout
    again = gc("start", "--once", str(city))
    assert "2 running, 2 desired" in again.stdout and "started" not in again.stdout

    # Under the supervisor, a one-shot pass is refused: one controller per city.
    gc("start", str(city))
    runtime = holder_pid(CityPaths(city).lock)
    refused = gc("start", "--once", str(city), check=False)
    assert refused.returncode != 0
    assert f"controller already running (pid {runtime})" in refused.stderr, refused.stderr
    gc("stop", str(city))
    assert sessions(city) == {}


def _cwd(proc: Path) -> Path | None:
    try:
        return (proc / "cwd").readlink()
    except OSError:
        return None
