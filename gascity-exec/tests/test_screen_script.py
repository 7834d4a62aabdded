"""gc-session-screen, our own screen-backed session script: it passes the session kit,
and a city runs on it from an empty screen server to an empty one again."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.city import City
from gascity.controller import Controller
from gascity.plugins import Hooks
from gascity.testing import hooks_for
from gascity.testing.kits.sessions import OPTIONAL_SESSION_HOOKS, SessionProviderKit
from gascity.types import StartConfig

from .conftest import VENV_BIN, MakeProvider


@pytest.fixture
def screendir(tmp_path: Path) -> Iterator[str]:
    if shutil.which("screen") is None:
        pytest.fail("GNU screen is required for these tests (apt-get install screen)")
    path = tmp_path / "screens"
    path.mkdir(mode=0o700)
    yield str(path)
    # Whatever a failed test left running on this throwaway socket directory.
    listing = subprocess.run(
        ["screen", "-ls"], env={**os.environ, "SCREENDIR": str(path)},
        capture_output=True, text=True, check=False,
    )
    for line in listing.stdout.splitlines():
        if "(" in line and "." in line.split()[0]:
            subprocess.run(
                ["screen", "-S", line.split()[0], "-X", "quit"],
                env={**os.environ, "SCREENDIR": str(path)}, check=False,
            )


class TestScreenScriptConformance(SessionProviderKit):
    reports_dead = False  # a screen session ends with its agent
    optional_hooks = OPTIONAL_SESSION_HOOKS

    @pytest.fixture
    def session_hooks(self, make_provider: MakeProvider, screendir: str) -> Iterator[Hooks]:
        provider = make_provider(
            "gc-session-screen",
            env={"SCREENDIR": screendir, "GC_EXEC_STATE_DIR": str(Path(screendir).parent / "st")},
        )
        yield hooks_for(provider)


def test_a_city_from_an_empty_server_to_an_empty_server(tmp_path: Path, screendir: str) -> None:
    city_dir = tmp_path / "city"
    city_dir.mkdir()
    (city_dir / "city.toml").write_text(
        '[workspace]\nname = "screen-city"\n\n'
        # The agent ignores the shutdown's interrupt, so gc stop has to stop it.
        '[[agent]]\nname = "mayor"\ncommand = "trap \'\' INT; cat"\n'
    )
    env = {**os.environ, "GC_SESSION": "exec:gc-session-screen", "SCREENDIR": screendir}
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", os.defpath)
    with City.open(city_dir, env=env, roles=("session",)) as city:
        controller = Controller(city)
        report = controller.tick()  # empty server: nothing listed, no error
        assert report.started == ["mayor"], report.summary()
        assert [s.name for s in city.hooks.list_running("")] == ["mayor"]
        city.hooks.nudge("mayor", "hello screen")
        import time

        deadline = time.monotonic() + 10
        while "hello screen" not in city.hooks.peek("mayor", 20):
            assert time.monotonic() < deadline, city.hooks.peek("mayor", 20)
            time.sleep(0.1)
        steady = controller.tick()
        assert steady.started == [] and steady.stopped == [] and steady.crashed == []
        assert controller.shutdown_sessions() == ["mayor"]
        assert city.hooks.list_running("") == []  # an empty server again, no error
        assert controller.shutdown_sessions() == []


def test_gc_start_status_peek_nudge_stop_through_the_cli(tmp_path: Path, screendir: str) -> None:
    import json
    import sys

    city_dir = tmp_path / "cli-city"
    city_dir.mkdir()
    (city_dir / "city.toml").write_text(
        '[workspace]\nname = "screen-cli"\n\n'
        '[[agent]]\nname = "mayor"\ncommand = "trap \'\' INT; cat"\n'
    )
    env = {**os.environ, "GC_SESSION": "exec:gc-session-screen", "SCREENDIR": screendir}
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", os.defpath)
    env["HOME"] = str(tmp_path / "home")  # no supervisor of the machine's user is asked
    gc = [sys.executable, "-c", "from gascity.cli.main import main; main()"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*gc, *args], cwd=city_dir, env=env, capture_output=True, text=True,
            timeout=120, check=False,
        )

    started = run("start", "--once")  # an empty screen server: nothing listed, no error
    assert started.returncode == 0, started.stderr
    status = run("status", "--json")
    assert status.returncode == 0, status.stderr
    [mayor] = [a for a in json.loads(status.stdout)["agents"] if a["name"] == "mayor"]
    assert mayor["running"] == 1, mayor
    nudged = run("session", "nudge", "mayor", "hello from gc")
    assert nudged.returncode == 0, nudged.stderr
    import time

    deadline = time.monotonic() + 10
    while "hello from gc" not in (peek := run("session", "peek", "mayor")).stdout:
        assert time.monotonic() < deadline, peek.stdout + peek.stderr
        time.sleep(0.2)
    stopped = run("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "mayor" in stopped.stdout
    again = run("stop")  # an empty server at stop: no error
    assert again.returncode == 0, again.stderr


def test_session_setup_script_path_is_never_parsed_by_a_shell(
    make_provider: MakeProvider, screendir: str, tmp_path: Path
) -> None:
    # The controller sends the script as an absolute path under the city, and a city's
    # directory name is the user's: the script runs by its argv, so a ``"`` or a
    # ``$(...)`` in that path neither breaks the step nor runs anything.
    city = tmp_path / 'city "$(touch injected)"'
    city.mkdir()
    ran = tmp_path / "ran"
    script = city / "setup.sh"
    script.write_text(f'echo ok > "{ran}"\n')
    provider = make_provider(
        "gc-session-screen",
        env={"SCREENDIR": screendir, "GC_EXEC_STATE_DIR": str(tmp_path / "st")},
    )
    provider.start("setup-quoting", StartConfig(command="sleep 1000", work_dir=str(city),
                                                session_setup_script=str(script)))
    try:
        assert ran.read_text() == "ok\n"
        assert not (city / "injected").exists()
        assert not list(tmp_path.rglob("injected"))
    finally:
        provider.stop("setup-quoting")
