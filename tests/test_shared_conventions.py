"""The two tmux implementations (gascity-tmux's provider and gascity-exec's
gc-session-tmux) follow one convention, gascity.tmuxconv: a live city moves between
them in either direction without a restart, and drift is still detected after a move."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.city import City
from gascity.controller import Controller
from gascity.tmuxconv import city_socket

TMUX_PROVIDER = "tmux"
EXEC_TMUX = "exec:gc-session-tmux"


def write_city(city_dir: Path, name: str, command: str) -> None:
    (city_dir / "city.toml").write_text(
        f'[workspace]\nname = "{name}"\n\n'
        "[session.tmux]\nconfig_file = \"/dev/null\"\n\n"
        f'[[agent]]\nname = "mayor"\ncommand = "{command}"\n\n'
        '[[agent]]\nname = "deacon"\ncommand = "sleep 600"\n'
    )


@pytest.fixture
def city_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "city"
    path.mkdir()
    name = f"switch-{uuid.uuid4().hex[:6]}"
    write_city(path, name, "sleep 500")
    yield path
    subprocess.run(["tmux", "-L", city_socket(name, path), "kill-server"],
                   capture_output=True, check=False)


def tick(city_dir: Path, provider: str) -> tuple[list[str], list[str], dict[str, object]]:
    """One controller tick: (started, stopped or drained, start time by session)."""
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    with City.open(city_dir, env={"PATH": path, "GC_SESSION": provider}) as city:
        report = Controller(city).tick()
        started = {s.name: s.started_at for s in city.hooks.list_running("")}
    assert not report.crashed, report.summary()
    return sorted(report.started), sorted(report.stopped + report.drained), dict(started)


@pytest.mark.parametrize("first,second", [(TMUX_PROVIDER, EXEC_TMUX), (EXEC_TMUX, TMUX_PROVIDER)])
def test_a_live_city_switches_tmux_implementation_without_restarts(
    city_dir: Path, first: str, second: str
) -> None:
    started, stopped, before = tick(city_dir, first)
    assert len(started) == 2 and stopped == []

    # The other implementation reads the same server, names and fingerprints.
    started, stopped, after = tick(city_dir, second)
    assert (started, stopped) == ([], []), "switching implementations restarted sessions"
    assert after.keys() == before.keys()

    # Drift is still seen through the other implementation: a changed command drains
    # (then restarts) that one session.
    name = (city_dir / "city.toml").read_text().split('name = "', 1)[1].split('"', 1)[0]
    write_city(city_dir, name, "sleep 501")
    started, stopped, _ = tick(city_dir, second)
    restarted = set(started) | set(stopped)
    assert len(restarted) == 1 and "deacon" not in restarted, restarted

    # And back again: still no restart.
    started, stopped, _ = tick(city_dir, first)
    assert (started, stopped) == ([], [])


def test_each_implementation_reads_and_stops_the_others_sessions(city_dir: Path) -> None:
    from gascity.types import META_FINGERPRINT

    tick(city_dir, EXEC_TMUX)
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    with City.open(city_dir, env={"PATH": path, "GC_SESSION": EXEC_TMUX}) as exec_city, \
            City.open(city_dir, env={"PATH": path, "GC_SESSION": TMUX_PROVIDER}) as tmux_city:
        via_exec, via_tmux = exec_city.hooks, tmux_city.hooks
        listed = {s.name: s for s in via_tmux.list_running("")}
        assert set(listed) == {"mayor", "deacon"}
        # The fingerprint the exec script stored is what the tmux listing reads.
        fingerprint = listed["mayor"].meta and listed["mayor"].meta.get(META_FINGERPRINT)
        assert fingerprint and fingerprint == via_exec.get_meta("mayor", META_FINGERPRINT)
        via_exec.set_meta("mayor", "note", "tab\tand ünï;")
        assert via_tmux.get_meta("mayor", "note") == "tab\tand ünï;"
        via_tmux.set_meta("deacon", "k.2", "%41")
        assert via_exec.get_meta("deacon", "k.2") == "%41"
        assert via_tmux.stop("mayor") is True
        assert [s.name for s in via_exec.list_running("")] == ["deacon"]
