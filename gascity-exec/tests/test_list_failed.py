"""A listing that fails never aborts a tick or a stop (the reference's screen script
exits 1 from ``list-running`` on an empty server): one ``session.list_failed`` event,
each desired session asked ``is-running``, no orphan stop, no crash, and ``gc stop``
stops every known name."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from gascity import event_names as ev
from gascity.city import City
from gascity.controller import Controller
from gascity.testing import MemoryEvents
from gascity.types import EventFilter

from .conftest import MakeProvider, WriteScript


def broken_listing_script(write_script: WriteScript, state: Path) -> Path:
    """Sessions are files; ``list-running`` always fails the way screen does."""
    return write_script(
        "#!/bin/sh\n"
        f'state="{state}"\n'
        'echo "$1 $2" >> "$state/log"\n'
        'case "$1" in\n'
        '  start) cat >/dev/null; touch "$state/$2" ;;\n'
        '  stop) rm -f "$state/$2" ;;\n'
        '  is-running) [ -f "$state/$2" ] && echo true || echo false ;;\n'
        '  list-running) echo "No Sockets found in /run/screen/S-$USER." >&2; exit 1 ;;\n'
        "  *) cat >/dev/null; exit 2 ;;\n"
        "esac\n"
    )


def log_lines(state: Path) -> list[str]:
    path = state / "log"
    return path.read_text().splitlines() if path.exists() else []


def test_a_failing_listing_never_aborts_a_tick_or_a_stop(
    write_script: WriteScript, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    script = broken_listing_script(write_script, state)
    city_dir = tmp_path / "city"
    city_dir.mkdir()
    (city_dir / "city.toml").write_text(
        '[workspace]\nname = "broken-list"\n\n'
        '[[agent]]\nname = "mayor"\ncommand = "sleep 1000"\n\n'
        '[[agent]]\nname = "deacon"\ncommand = "sleep 1000"\n'
    )
    (state / "stray").touch()  # a session of no agent: an orphan the tick cannot see
    events = MemoryEvents()
    with City.open(city_dir, env={"GC_SESSION": f"exec:{script}"}, roles=("session",)) as city:
        city.pm.register("events", events)
        controller = Controller(city)
        first = controller.tick()  # empty server: the listing fails, both are started
        assert sorted(first.started) == ["deacon", "mayor"], first.summary()
        assert first.crashed == [] and first.stopped == []
        second = controller.tick()  # both running: asked, left alone
        assert second.started == [] and second.stopped == [] and second.crashed == []
        (state / "deacon").unlink()  # deacon vanished while the listing is broken
        third = controller.tick()
        assert third.started == ["deacon"] and third.crashed == [], third.summary()
        assert (state / "stray").exists(), "no orphan stop without a listing"
        failed = events.list_events(EventFilter(types=(ev.SESSION_LIST_FAILED,)))
        assert len(failed) == 1, "one event per outage, not one per tick"
        assert "No Sockets found" in failed[0].message
        assert not events.list_events(EventFilter(types=(ev.SESSION_CRASHED,)))

        stopped = controller.shutdown_sessions()  # gc stop: stop each known name
        assert sorted(stopped) == ["deacon", "mayor"]
        assert not (state / "mayor").exists() and not (state / "deacon").exists()
    lines = log_lines(state)
    assert "is-running mayor" in lines and "stop mayor" in lines


def test_gc_exec_state_dir_is_passed_only_as_the_user_sets_it(
    make_provider: MakeProvider, write_script: WriteScript, tmp_path: Path
) -> None:
    # The reference: scripts use GC_EXEC_STATE_DIR "if set"; the controller sets none.
    out = tmp_path / "seen"
    script = write_script(
        f'#!/bin/sh\nprintf "%s|" "${{GC_EXEC_STATE_DIR-unset}}" >> "{out}"\nexit 2\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "GC_EXEC_STATE_DIR"}
    make_provider(script, env=env).is_running("x")
    make_provider(script, env={**env, "GC_EXEC_STATE_DIR": "/srv/state"}).is_running("x")
    seen = out.read_text().split("|")
    assert seen[0] == "unset" and seen[-2] == "/srv/state", seen


def test_the_per_session_probes_are_bounded_by_probe_concurrency(
    write_script: WriteScript, tmp_path: Path
) -> None:
    # Each is-running holds a slot for 0.3 s and records how many ran at once.
    state = tmp_path / "slots"
    script = write_script(
        f"#!{sys.executable}\n"
        "import fcntl, json, sys, time\n"
        f"path = {str(state)!r}\n"
        "def bump(delta):\n"
        "    with open(path + '.lock', 'w') as lock:\n"
        "        fcntl.flock(lock, fcntl.LOCK_EX)\n"
        "        try:\n"
        "            now, peak = json.load(open(path))\n"
        "        except (OSError, ValueError):\n"
        "            now, peak = 0, 0\n"
        "        now += delta\n"
        "        json.dump([now, max(peak, now)], open(path, 'w'))\n"
        "op = sys.argv[1]\n"
        "if op == 'list-running':\n"
        "    sys.exit('listing broken')\n"
        "if op == 'is-running':\n"
        "    bump(1); time.sleep(0.3); bump(-1)\n"
        "    print('true')\n"
        "    sys.exit(0)\n"
        "sys.stdin.read()\n"
        "sys.exit(2)\n"
    )
    city_dir = tmp_path / "city"
    city_dir.mkdir()
    agents = "".join(f'\n[[agent]]\nname = "a{i}"\ncommand = "sleep 1000"\n' for i in range(6))
    (city_dir / "city.toml").write_text(
        f'[workspace]\nname = "bounded"\n\n[daemon]\nprobe_concurrency = 2\n{agents}'
    )
    with City.open(city_dir, env={"GC_SESSION": f"exec:{script}"}, roles=("session",)) as city:
        city.pm.register("events", MemoryEvents())
        report = Controller(city).tick()
    assert report.started == [] and report.crashed == [], report.summary()
    now, peak = json.loads(state.read_text())
    assert now == 0 and peak <= 2, f"{peak} probes at once with probe_concurrency = 2"
