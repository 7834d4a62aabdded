"""Kill windows of the subprocess provider (issue 12, defect 10): a starter killed
between spawning a session and recording its pid leaks nothing; a stop killed between
renaming and removing a session directory leaves nothing behind. Both failed before."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from gascity.builtin.subprocess_provider import SubprocessProvider
from gascity.osutil import proctree
from gascity.plugins import PluginContext
from gascity.types import StartConfig

# A starter whose pid write is delayed, so the test can kill it inside the window.
STARTER = """
import sys, time
from pathlib import Path
from gascity.builtin import subprocess_provider as sp
from gascity.plugins import PluginContext
from gascity.types import StartConfig

original = sp._Ident.write
def slow_write(self, session_dir):
    print("spawned", flush=True)
    time.sleep(30)
    original(self, session_dir)
sp._Ident.write = slow_write
p = sp.SubprocessProvider(PluginContext(role="session", name="subprocess",
                                        city_dir=Path(sys.argv[1])))
p.start("w", StartConfig(command="exec sleep 300", work_dir=sys.argv[1],
                         env={"KILLWIN_TAG": sys.argv[2]}))
"""


def tagged(tag: str) -> set[int]:
    return proctree.with_marker(f"KILLWIN_TAG={tag}", proctree.live_table())


def wait_tagged(tag: str, count: int) -> set[int]:
    """The tagged processes once there are `count` of them: a spawned child carries
    its environment only after it has exec'd, a moment after start returns."""
    deadline = time.monotonic() + 5
    while len(found := tagged(tag)) != count and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


def provider(city: Path) -> SubprocessProvider:
    return SubprocessProvider(PluginContext(role="session", name="subprocess", city_dir=city))


def test_a_kill_between_spawn_and_record_leaks_no_session(tmp_path: Path) -> None:
    tag = f"t{time.monotonic_ns()}"
    starter = subprocess.Popen([sys.executable, "-c", STARTER, str(tmp_path), tag],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert starter.stdout is not None and starter.stdout.readline().strip() == "spawned"
        assert len(wait_tagged(tag, 1)) == 1  # the agent runs, its pid not yet recorded
        starter.kill()
        starter.wait()
        p = provider(tmp_path)
        # The controller's view: a session whose start did not complete; it stops it
        # before starting again, and that stop must end the unrecorded process.
        assert p.stop("w") is True
        assert wait_tagged(tag, 0) == set(), "the spawned but unrecorded session leaked"
        p.start("w", StartConfig(command="exec sleep 300", work_dir=str(tmp_path),
                                 env={"KILLWIN_TAG": tag}))
        assert len(wait_tagged(tag, 1)) == 1
        p.stop("w")
    finally:
        starter.kill()
        starter.wait()
        for pid in tagged(tag):
            subprocess.run(["kill", "-9", str(pid)], check=False)


def test_leftover_gone_directories_are_removed(tmp_path: Path) -> None:
    p = provider(tmp_path)
    p.start("g", StartConfig(command="exec sleep 300", work_dir=str(tmp_path)))
    p.stop("g")
    # What a stop killed between its rename and its rmtree leaves.
    leftover = p.root / ".gone-g-deadbeef"
    (leftover / "sub").mkdir(parents=True)
    (leftover / "output.log").write_text("x")
    assert p.list_running("") == []
    assert not leftover.exists()


def test_a_stop_cut_short_by_a_kill_is_not_a_crash(tmp_path: Path) -> None:
    """A controller killed while stopping sessions (a `gc stop`, a restart for drift)
    left them missing or dead; the next controller counted each as a crash towards
    quarantine. The names being stopped are now saved before the stops."""
    import time as _time

    from gascity.controller import Controller
    from gascity.reconcile.state import ControllerState
    from gascity.testing import FakeProvider, MemoryEvents, open_test_city

    (tmp_path / "city.toml").write_text(
        '[workspace]\nname = "cut"\n\n[daemon]\nmax_restarts = 1\n\n'
        '[[agent]]\nname = "a0"\ncommand = "x"\n\n[[agent]]\nname = "a1"\ncommand = "y"\n'
    )
    fake = FakeProvider()
    events = MemoryEvents()
    city = open_test_city(tmp_path, session=fake, events=events)
    try:
        first = Controller(city)
        first.tick()
        # What a controller killed inside shutdown_sessions leaves: the names it was
        # stopping recorded, a0 already gone, a1 interrupted into a dead session.
        state_path = tmp_path / ".gc" / "controller-state.json"
        state = ControllerState.load(state_path)
        state.stopping = {"a0": _time.time(), "a1": _time.time()}
        state.save(state_path)
        fake.stop("a0")
        fake.kill("a1")
        second = Controller(city)
        report = second.tick()
        assert events.of_type("session.crashed") == []
        assert second.state.crashes == {} and second.state.quarantined == {}
        assert sorted(report.started) == ["a0", "a1"]
        assert second.state.stopping == {}
    finally:
        city.close()
