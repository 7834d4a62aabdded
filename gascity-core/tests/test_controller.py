"""The controller executing ticks over the fake provider: call budget, waves, failures,
crash loops and reloads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.city import City
from gascity.controller import Controller
from gascity.testing import FakeProvider, HookCallCounter, MemoryEvents, open_test_city
from gascity.types import META_DRAIN, META_DRAIN_ACK, META_FINGERPRINT


class Rig:
    def __init__(self, tmp_path: Path, toml: str) -> None:
        self.dir = tmp_path
        (tmp_path / "city.toml").write_text(toml)
        self.fake = FakeProvider()
        self.events = MemoryEvents()
        self.counter = HookCallCounter()
        self.city: City = open_test_city(tmp_path, session=self.fake, events=self.events,
                                         observers=[self.counter])
        self.controller = Controller(self.city)

    def write(self, toml: str) -> None:
        path = self.dir / "city.toml"
        # A reload needs a [workspace] table (an emptied file must never apply).
        path.write_text(toml if "[workspace]" in toml else "[workspace]\n" + toml)
        # Make the change visible even within one mtime granule.
        stat = path.stat()
        import os

        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


@pytest.fixture
def rig_factory(tmp_path: Path) -> Iterator[object]:
    rigs: list[Rig] = []

    def make(toml: str) -> Rig:
        rig = Rig(tmp_path, toml)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.city.close()


def agents(n: int) -> str:
    return "".join(f'[[agent]]\nname = "a{i}"\ncommand = "run {i}"\n' for i in range(n))


def test_thousand_healthy_agents_cost_one_provider_call(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(agents(1000))
    first = rig.controller.tick()
    assert len(first.started) == 1000
    rig.counter.reset()
    rig.fake.calls.clear()
    report = rig.controller.tick()
    assert rig.counter.session_calls == 1
    assert rig.counter.snapshot() == {"list_running": 1}
    assert rig.fake.calls == [("list_running", "")]
    assert report.started == [] and report.stopped == []


def test_steady_pool_costs_one_call_too(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory('[[agent]]\nname = "w"\ncommand = "x"\nmax_active_sessions = 100\n'
                      'scale_check = "echo 60"\n')
    rig.controller.tick()
    assert len(rig.fake.names()) == 60
    rig.counter.reset()
    rig.controller.tick()
    assert rig.counter.session_calls == 1


DEPS = """
[[agent]]
name = "db"
command = "db"
[[agent]]
name = "api"
command = "api"
depends_on = ["db"]
[[agent]]
name = "audit"
command = "audit"
depends_on = ["db"]
[[agent]]
name = "worker"
command = "worker"
depends_on = ["api", "audit"]
[[agent]]
name = "solo"
command = "solo"
"""


def test_dependency_waves_and_blocking(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(DEPS)
    rig.fake.fail_start["api"] = "port in use"
    report = rig.controller.tick()
    assert sorted(report.started) == ["audit", "db", "solo"]
    assert report.failed == {"api": "api: port in use"}
    assert report.blocked == {"worker": "api"}
    log = {name: (began, ended) for name, began, ended in rig.fake.start_log}
    assert log["db"][1] <= log["audit"][0], "a dependency finishes before its dependents start"
    assert "worker" not in log
    assert [e.subject for e in rig.events.of_type("session.start_failed")] == ["api"]
    assert [e.subject for e in rig.events.of_type("session.blocked")] == ["worker"]
    # The failure is fixed: the next tick starts api, then worker.
    del rig.fake.fail_start["api"]
    report = rig.controller.tick()
    assert sorted(report.started) == ["api", "worker"]


def test_one_failing_start_does_not_stop_the_others(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(agents(10))
    rig.fake.fail_start["a3"] = "boom"
    report = rig.controller.tick()
    assert len(report.started) == 9
    assert set(report.failed) == {"a3"}


def test_starts_run_concurrently(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(agents(8))
    rig.fake.start_delay = 0.3
    rig.controller.tick()
    spans = [(b, e) for _, b, e in rig.fake.start_log]
    assert max(b for b, _ in spans) < min(e for _, e in spans)


def test_slow_start_times_out_without_aborting_the_tick(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory('[session]\nstartup_timeout = "200ms"\n' + agents(3))
    rig.fake.hang_start["a1"] = 5.0
    report = rig.controller.tick()
    assert sorted(report.started) == ["a0", "a2"]
    assert "a1" in report.failed


def test_zombie_is_recorded_with_output_and_restarted(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(agents(2))
    rig.controller.tick()
    rig.fake.kill("a1", output="Traceback: out of tokens")
    report = rig.controller.tick()
    assert report.crashed == ["a1"]
    assert report.started == ["a1"]
    [crash] = rig.events.of_type("session.crashed")
    assert "out of tokens" in crash.payload["output"]
    assert rig.fake.sessions["a1"].alive


def test_crash_loop_quarantine_recorded_once_and_cleared_by_reload(rig_factory) -> None:  # type: ignore[no-untyped-def]
    toml = '[daemon]\nmax_restarts = 2\n' + agents(2)
    rig = rig_factory(toml)
    rig.controller.tick()
    crashes = 0
    while "a0" in rig.fake.names():
        rig.fake.kill("a0")
        rig.controller.tick()
        crashes += 1
    assert crashes == 3, "the third crash within the window exceeds max_restarts = 2"
    assert len(rig.events.of_type("session.quarantined")) == 1
    assert "a0" in rig.controller.state.quarantined
    for _ in range(3):
        report = rig.controller.tick()
        assert "a0" not in report.started
    assert len(rig.events.of_type("session.quarantined")) == 1
    rig.write(toml + "\n# touched\n")
    report = rig.controller.tick()
    assert rig.controller.state.quarantined == {}
    assert "a0" in report.started


def test_broken_config_on_reload_keeps_the_old_one(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(agents(3))
    rig.controller.tick()
    rig.write(agents(3) + "[[agent]]\nname = 'bad name'\n")
    report = rig.controller.tick()
    assert report.config_error is not None and "agent[3].name" in report.config_error
    assert [e.type for e in rig.events.of_type("config.rejected")] == ["config.rejected"]
    assert sorted(rig.fake.names()) == ["a0", "a1", "a2"]
    rig.controller.tick()  # reported once, not every tick
    assert len(rig.events.of_type("config.rejected")) == 1
    rig.write(agents(4))
    report = rig.controller.tick()
    assert report.started == ["a3"]


def test_drift_drains_then_restarts(rig_factory) -> None:  # type: ignore[no-untyped-def]
    toml = '[[agent]]\nname = "m"\ncommand = "v1"\ndrain_timeout = "1h"\n'
    rig = rig_factory(toml)
    rig.controller.tick()
    old_fp = rig.fake.sessions["m"].meta[META_FINGERPRINT]
    rig.write(toml.replace("v1", "v2"))
    report = rig.controller.tick()
    assert report.drained == ["m"]
    assert rig.fake.sessions["m"].meta[META_DRAIN] == "drift"
    rig.fake.sessions["m"].meta[META_DRAIN_ACK] = "1"  # what `gc runtime drain-ack` sets
    report = rig.controller.tick()
    assert report.started == ["m"]
    assert rig.fake.sessions["m"].command == "v2"
    assert rig.fake.sessions["m"].meta[META_FINGERPRINT] != old_fp
    # The restarted session starts fresh: nothing is left to un-drain on the next tick.
    assert rig.controller.state.drains == {}
    report = rig.controller.tick()
    assert report.undrained == [] and not report.changed
    assert rig.events.of_type("session.undrained") == []


def test_scale_down_drains_then_stops_on_timeout(rig_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "n").write_text("3")
    toml = ('[[agent]]\nname = "w"\ncommand = "x"\nmax_active_sessions = 5\n'
            'scale_check = "cat n"\ndrain_timeout = "300ms"\n')
    rig = rig_factory(toml)
    rig.controller.tick()
    assert rig.fake.names() == ["w-1", "w-2", "w-3"]
    (tmp_path / "n").write_text("1")
    report = rig.controller.tick()
    assert report.drained == ["w-3", "w-2"]
    assert rig.fake.names() == ["w-1", "w-2", "w-3"]
    time.sleep(0.35)
    report = rig.controller.tick()
    assert sorted(report.stopped) == ["w-2", "w-3"]
    assert rig.fake.names() == ["w-1"]
    scaled = [(e.payload["previous"], e.payload["desired"])
              for e in rig.events.of_type("pool.scaled")]
    assert scaled == [(0, 3), (3, 1)]


def test_shutdown_interrupts_then_stops_in_reverse_dependency_order(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory('[daemon]\nshutdown_timeout = "100ms"\n' + DEPS)
    rig.controller.tick()
    rig.fake.calls.clear()
    stopped = rig.controller.shutdown_sessions()
    assert stopped[0] == "worker"
    assert stopped.index("db") > stopped.index("api")
    assert set(rig.fake.calls_to("interrupt")) == {"db", "api", "audit", "worker", "solo"}
    assert rig.fake.names() == []


def test_restarted_controller_adopts_without_duplicates(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(agents(5))
    rig.controller.tick()
    fresh = Controller(rig.city)  # as after a crash: new process, same sessions
    rig.fake.calls.clear()
    report = fresh.tick()
    assert report.started == []
    assert rig.fake.calls_to("start") == []


def test_idle_timeout_restarts_only_quiet_sessions_of_opted_in_agents(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory('[[agent]]\nname = "quiet"\ncommand = "x"\nidle_timeout = "1h"\n'
                      '[[agent]]\nname = "other"\ncommand = "y"\n')
    rig.controller.tick()
    rig.counter.reset()
    assert rig.controller.tick().started == []
    # The activity time comes with the listing: no call per session.
    assert rig.counter.snapshot() == {"list_running": 1}
    rig.fake.sessions["quiet"].started_at -= 7200  # fake's last activity = its start
    report = rig.controller.tick()
    assert report.started == ["quiet"]
    assert [e.subject for e in rig.events.of_type("session.idle_killed")] == ["quiet"]


def test_idle_probes_are_bounded_where_the_listing_has_no_activity(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory('[[agent]]\nname = "w"\ncommand = "x"\nmax_active_sessions = 20\n'
                      'scale_check = "echo 20"\nidle_timeout = "1h"\n')
    now = [10_000.0]
    rig.controller.clock = lambda: now[0]
    rig.fake.lists_activity = False
    rig.controller.tick()
    rig.counter.reset()
    rig.controller.tick()
    assert rig.counter.snapshot() == {"list_running": 1, "last_activity": 20}
    for _ in range(5):  # ticks within a quarter of the timeout ask nobody
        now[0] += 60
        rig.counter.reset()
        rig.controller.tick()
        assert rig.counter.snapshot() == {"list_running": 1}
    now[0] += 15 * 60
    rig.counter.reset()
    rig.controller.tick()
    assert rig.counter.snapshot() == {"list_running": 1, "last_activity": 20}


def test_five_slow_scale_checks_overlap_within_one_tick(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory("".join(
        f'[[agent]]\nname = "p{i}"\ncommand = "x"\nmax_active_sessions = 3\n'
        f'scale_check = "sleep 2; echo 2"\n' for i in range(5)))
    report = rig.controller.tick()
    spans = [(r.started, r.finished) for r in report.scale.values()]
    assert len(spans) == 5
    # Every check began before the first one ended: the five ran side by side.
    assert max(start for start, _ in spans) < min(end for _, end in spans)
    assert sorted(report.started) == sorted(f"p{i}-{n}" for i in range(5) for n in (1, 2))


def test_a_start_held_for_its_dependency_is_no_crash_on_later_ticks(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(DEPS)
    rig.fake.fail_start["db"] = "disk full"
    for _ in range(4):  # more ticks than max_restarts would allow crashes
        report = rig.controller.tick()
        assert set(report.blocked) == {"api", "audit", "worker"}
    # Only db failed; the sessions that waited for it never ran, so never crashed.
    crashed = {e.subject for e in rig.events.of_type("session.crashed")}
    assert crashed == set()
    assert not rig.controller.state.crashes.keys() - {"db"}
    assert not {"api", "audit", "worker"} & set(rig.controller.state.last_running)
    del rig.fake.fail_start["db"]
    rig.controller.tick()
    woke = {e.subject: e.payload["reason"] for e in rig.events.of_type("session.woke")}
    assert woke["worker"] == "missing" and woke["api"] == "missing"


def test_a_start_the_plan_holds_is_never_attempted(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(DEPS.replace('name = "db"\ncommand = "db"\n',
                                   'name = "db"\ncommand = "db"\nsuspended = true\n'))
    for _ in range(2):
        report = rig.controller.tick()
        assert report.blocked == {"api": "db", "audit": "db", "worker": "api"}
    assert sorted(name for name, _, _ in rig.fake.start_log) == ["solo"]
    # Recorded once, when each became blocked.
    assert sorted(e.subject for e in rig.events.of_type("session.blocked")) == [
        "api", "audit", "worker"]
    assert rig.controller.state.blocked == report.blocked


def test_stopping_cuts_a_running_scale_check_short(rig_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import threading

    marker = tmp_path / "check-began"
    rig = rig_factory(
        '[daemon]\nprobe_timeout = "300s"\n'
        '[[agent]]\nname = "pool"\ncommand = "x"\nmax_active_sessions = 3\n'
        f'scale_check = "touch {marker}; sleep 300; echo 3"\n')
    loop = threading.Thread(target=rig.controller.run, daemon=True)
    loop.start()
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), "the scale check never ran"
    rig.controller.stop_requested()
    # Without the cancel the controller waits out the check's 300 s timeout.
    loop.join(timeout=60)
    assert not loop.is_alive(), "stopping waited for the scale check"
    assert rig.fake.names() == []  # the cancelled check scaled nothing up
