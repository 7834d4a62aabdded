"""Bad config writes never stop what runs (issue 12, defects 1, 6 and 7).

Reload reads only a settled file that parses, has [workspace] and passes the plugin
tables' validation; agent and operator commands run on the last good config while
city.toml is broken. Every test here failed on the code before the fix."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.city import City
from gascity.controller import Controller
from gascity.testing import FakeProvider, MemoryEvents, open_test_city

BASE = (
    '[workspace]\nname = "torn"\n\n[daemon]\npatrol_interval = "7s"\n\n'
    '[[agent]]\nname = "mayor"\ncommand = "run mayor"\n\n'
)
POOL = (
    '[[agent]]\nname = "worker"\ncommand = "run worker"\n'
    "min_active_sessions = 3\nmax_active_sessions = 3\n"
)


class Rig:
    def __init__(self, tmp_path: Path, toml: str) -> None:
        self.dir = tmp_path
        self.path = tmp_path / "city.toml"
        self.path.write_text(toml)
        self.fake = FakeProvider()
        self.events = MemoryEvents()
        self.city: City = open_test_city(tmp_path, session=self.fake, events=self.events)
        self.controller = Controller(self.city)

    def rejected(self) -> list[str]:
        return [str(e.payload.get("error")) for e in self.events.of_type("config.rejected")]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    # The workspace name is the directory's, so an emptied file keeps the same city
    # name (what a city made by `gc init torn` has).
    (tmp_path / "torn").mkdir()
    made = Rig(tmp_path / "torn", BASE + POOL)
    yield made
    made.city.close()


def test_emptied_city_toml_keeps_everything_running(rig: Rig) -> None:
    first = rig.controller.tick()
    assert len(first.started) == 4
    rig.path.write_text("")  # `: > city.toml`
    time.sleep(0.25)
    report = rig.controller.tick()
    assert report.stopped == [] and report.drained == [], report.summary()
    assert rig.controller.loaded.config.daemon.patrol_interval == 7.0
    assert len(rig.rejected()) == 1 and "workspace" in rig.rejected()[0]
    assert len(rig.fake.list_running("")) == 4


def test_two_step_writer_is_read_once_it_settles(rig: Rig) -> None:
    rig.controller.tick()
    full = BASE + POOL

    def second_half() -> None:
        time.sleep(0.12)  # a writer pausing at an [[agent]] boundary
        with rig.path.open("a") as fh:
            fh.write(POOL)

    with rig.path.open("w") as fh:  # truncate, write the first half
        fh.write(BASE)
    writer = threading.Thread(target=second_half)
    writer.start()
    try:
        report = rig.controller.tick()
    finally:
        writer.join()
    assert rig.path.read_text() == full
    assert report.stopped == [] and report.started == [], report.summary()
    assert rig.rejected() == []
    assert len(rig.fake.list_running("")) == 4


def test_reload_validates_the_plugin_tables(tmp_path: Path) -> None:
    text = '[workspace]\nname = "plug"\n\n[session]\nprovider = "subprocess"\n\n'
    made = Rig(tmp_path, text + '[[agent]]\nname = "a"\ncommand = "x"\n')
    try:
        made.controller.tick()
        made.path.write_text(text + "[session.subprocess]\nbogus = 1\n\n"
                             '[[agent]]\nname = "a"\ncommand = "x"\n')
        time.sleep(0.25)
        report = made.controller.tick()
        assert report.config_error is not None and "bogus" in report.config_error
        assert len(made.rejected()) == 1
        assert made.controller.loaded.config.section("session").plugin_settings("subprocess") == {}
    finally:
        made.city.close()


# ------------------------------------------------------- last good config (defect 6)


def gc(city: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "gc"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GC_")}
    return subprocess.run([str(exe), "--city", str(city), *args], capture_output=True,
                          text=True, env=env, input=stdin, timeout=60, check=False)


@pytest.fixture
def broken_city(tmp_path: Path) -> Iterator[Path]:
    city_dir = tmp_path / "city"
    city_dir.mkdir()
    good = (
        '[workspace]\nname = "typo"\n\n[session]\nprovider = "subprocess"\n\n'
        '[[agent]]\nname = "mayor"\ncommand = "sleep 300"\n'
    )
    (city_dir / "city.toml").write_text(good)
    with City.open(city_dir, observers=False) as city:
        # What a running controller leaves behind: the snapshot (and a session).
        assert Controller(city).tick().started == ["mayor"]
    (city_dir / "city.toml").write_text('[workspace\nname = "typo"\n')  # one typo
    yield city_dir
    (city_dir / "city.toml").write_text(good)
    with City.open(city_dir, observers=False) as city:
        city.hooks.stop("mayor")


@pytest.mark.parametrize(
    "args",
    [
        ("event", "emit", "agent.note", "--message", "still here"),
        ("events",),
        ("mail", "send", "--from", "a", "--to", "mayor", "--body", "hi"),
        ("mail", "inbox", "mayor"),
        ("mail", "count", "mayor"),
        ("runtime", "drain-ack", "--session", "mayor"),
        ("status",),
        ("session", "list"),
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_commands_fall_back_to_the_last_good_config(
    broken_city: Path, args: tuple[str, ...]
) -> None:
    result = gc(broken_city, *args)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, result.stderr
    assert "city.toml" in warnings[0] and "last good config" in warnings[0]
    assert "line 1" in warnings[0]  # names the error


def test_drain_check_answers_from_the_last_good_config(broken_city: Path) -> None:
    # Exit 1 is its answer ("not being drained"); a broken config used to make it 2.
    result = gc(broken_city, "runtime", "drain-check", "--session", "mayor")
    assert result.returncode == 1, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "last good config" in warnings[0], result.stderr


def test_validate_never_falls_back(broken_city: Path) -> None:
    result = gc(broken_city, "config", "validate")
    assert result.returncode == 2 and "last good" not in result.stderr


def test_snapshot_is_private(broken_city: Path) -> None:
    snap = broken_city / ".gc" / "last-good-config.json"
    assert (snap.stat().st_mode & 0o777) == 0o600
    assert (snap.parent.stat().st_mode & 0o777) == 0o700
