"""The built-in subprocess session provider against real processes."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.builtin.subprocess_provider import SubprocessProvider
from gascity.errors import SessionError, SessionExists
from gascity.osutil import proctree as proc
from gascity.plugins import Hooks, PluginContext
from gascity.testing import hooks_for, wait_for
from gascity.testing.kits import ListingOutageKit, SessionProviderKit
from gascity.types import META_AGENT, Liveness, RunningSession, StartConfig


def make(city: Path, **settings: object) -> SubprocessProvider:
    ctx = PluginContext(
        role="session", name="subprocess", city_dir=city, settings={"stop_grace": 2, **settings}
    )
    return SubprocessProvider(ctx)


def stop_all(provider: SubprocessProvider) -> None:
    for record in provider.list_running(""):
        provider.stop(record.name)


class TestSubprocessConformance(SessionProviderKit):
    optional_hooks = ("is_running",)
    timeout = 10.0

    @pytest.fixture
    def session_hooks(self, tmp_path: Path) -> Iterator[Hooks]:
        provider = make(tmp_path / "city")
        yield hooks_for(provider)
        stop_all(provider)


class TestSubprocessListingOutage(ListingOutageKit):
    @pytest.fixture
    def outage_provider(self, outage_city: Path) -> Iterator[SubprocessProvider]:
        provider = make(outage_city)
        yield provider
        stop_all(provider)


@pytest.fixture
def city(tmp_path: Path) -> Path:
    return tmp_path / "city"


@pytest.fixture
def provider(city: Path) -> Iterator[SubprocessProvider]:
    p = make(city)
    yield p
    stop_all(p)


def cfg(command: str, work_dir: Path, **kw: object) -> StartConfig:
    return StartConfig(command=command, work_dir=str(work_dir), startup_timeout=10, **kw)  # type: ignore[arg-type]


def record(p: SubprocessProvider, name: str) -> RunningSession | None:
    return next((r for r in p.list_running("") if r.name == name), None)


def alive(pid: int, start_ticks: int) -> bool:
    stat = proc.read_stat(pid)
    return stat is not None and stat.live and stat.start_time == start_ticks


def ident(city: Path, name: str) -> tuple[int, int]:
    pid, ticks, _ = (city / ".gc" / "sessions" / name / "pid").read_text().split()
    return int(pid), int(ticks)


def test_reused_pid_is_not_mistaken_for_the_session(
    provider: SubprocessProvider, city: Path, tmp_path: Path
) -> None:
    provider.start("real", cfg("sleep 300", tmp_path))
    # A session whose recorded pid now belongs to another live process (this test).
    fake = city / ".gc" / "sessions" / "reused"
    fake.mkdir()
    me = proc.read_stat(os.getpid())
    assert me is not None
    (fake / "pid").write_text(f"{os.getpid()} {me.start_time + 1} 0\n")
    listed = {r.name: r for r in provider.list_running("")}
    assert listed["real"].liveness is Liveness.ALIVE
    assert listed["reused"].liveness is Liveness.DEAD
    assert listed["reused"].processes == frozenset()
    with pytest.raises(SessionError):
        provider.interrupt("reused")
    assert provider.stop("reused") is True  # removes the state, signals nobody
    assert proc.read_stat(os.getpid()) is not None
    assert record(provider, "reused") is None


def test_fresh_instance_rediscovers_sessions(city: Path, tmp_path: Path) -> None:
    first = make(city)
    try:
        first.start("keeper", cfg("echo hi; sleep 300", tmp_path, agent="mayor"))
        first.set_meta("keeper", "gc.fingerprint", "f1")
        pid, ticks = ident(city, "keeper")
        del first  # the controller restarts

        second = make(city)
        found = wait_for(
            lambda: (r if (r := record(second, "keeper")) and r.processes and "sleep" in r.processes
                     else None),
            10,
            what="keeper found with its sleep",
        )
        assert found.liveness is Liveness.ALIVE
        assert found.meta == {META_AGENT: "mayor", "gc.fingerprint": "f1"}
        with pytest.raises(SessionExists):
            second.start("keeper", cfg("sleep 300", tmp_path))
        wait_for(lambda: "hi" in second.peek("keeper", 5), 10, what="output via new instance")
        assert second.stop("keeper") is True
        assert not alive(pid, ticks)
        assert record(second, "keeper") is None
    finally:
        stop_all(make(city))


def test_crashed_session_keeps_its_log_until_stop(
    provider: SubprocessProvider, city: Path, tmp_path: Path
) -> None:
    provider.start("crash", cfg("echo about to fail; exit 7", tmp_path))
    dead = wait_for(
        lambda: (r if (r := record(provider, "crash")) and r.liveness is Liveness.DEAD else None),
        10,
        what="crash reported dead",
    )
    assert dead.detail == "exited with status 7"
    assert dead.processes == frozenset()
    assert "about to fail" in provider.peek("crash", 10)
    # A crashed session can be started again under its name (the controller's restart).
    provider.start("crash", cfg("sleep 300", tmp_path))
    assert (r := record(provider, "crash")) and r.liveness is Liveness.ALIVE
    assert "about to fail" not in provider.peek("crash", 10)


def test_stop_kills_setsid_child_that_ignores_term_and_hup(
    provider: SubprocessProvider, tmp_path: Path
) -> None:
    pidfile = tmp_path / "child.pid"
    child = (
        f"trap '' TERM HUP; echo $$ > {shlex.quote(str(pidfile))}.tmp; "
        f"mv {shlex.quote(str(pidfile))}.tmp {shlex.quote(str(pidfile))}; exec sleep 300"
    )
    # The child leaves the session (and so the process group) and ignores TERM and HUP;
    # the leader ignores them too, so only KILL after the grace ends them.
    command = f"trap '' TERM HUP; setsid sh -c {shlex.quote(child)} & sleep 300"
    provider.start("stubborn", cfg(command, tmp_path))
    wait_for(pidfile.exists, 10, what="child pid file")
    child_pid = int(pidfile.read_text())
    child_stat = proc.read_stat(child_pid)
    assert child_stat is not None
    leader, ticks = ident(provider.root.parent.parent, "stubborn")
    assert child_stat.session == child_pid != leader  # really left the session
    assert provider.stop("stubborn") is True
    assert not alive(child_pid, child_stat.start_time)
    assert not alive(leader, ticks)
    assert provider.stop("stubborn") is False


def test_stop_reaches_a_child_that_left_the_process_group(
    provider: SubprocessProvider, tmp_path: Path
) -> None:
    pidfile = tmp_path / "grp.pid"
    # A new process group in the same session: killpg of the leader's group misses it.
    script = (
        "import os, signal, time\n"
        "os.setpgid(0, 0)\n"
        "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        f"open({str(pidfile)!r} + '.t', 'w').write(str(os.getpid()))\n"
        f"os.rename({str(pidfile)!r} + '.t', {str(pidfile)!r})\n"
        "time.sleep(300)\n"
    )
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(script)} & wait"
    provider.start("grp", cfg(command, tmp_path))
    wait_for(pidfile.exists, 10, what="grandchild pid file")
    pid = int(pidfile.read_text())
    stat = proc.read_stat(pid)
    assert stat is not None and stat.pgrp == pid
    found = record(provider, "grp")
    assert found is not None and found.processes is not None
    assert stat.comm in found.processes  # listed although outside the leader's group
    provider.stop("grp")
    assert not alive(pid, stat.start_time)


def test_interrupt_reaches_the_whole_process_group(
    provider: SubprocessProvider, tmp_path: Path
) -> None:
    provider.start("int", cfg("trap 'echo leader-int' INT; sleep 300 & wait; sleep 300", tmp_path))
    pid, ticks = ident(provider.root.parent.parent, "int")
    wait_for(
        lambda: len(proc.Snapshot().members(pid, ticks)) >= 2,
        10,
        what="child sleep",
    )
    provider.interrupt("int")
    wait_for(lambda: "leader-int" in provider.peek("int", 5), 10, what="trap output")


def test_nudges_are_serialized_and_literal(provider: SubprocessProvider, tmp_path: Path) -> None:
    provider.start("cat", cfg("cat", tmp_path))
    big = "x" * 70000  # more than a pipe holds: needs the reader, in several writes
    provider.nudge("cat", big)
    provider.nudge("cat", "after $(echo no) `echo no`")
    out = wait_for(
        lambda: (o if "after" in (o := provider.peek("cat", 3)) else None), 10, what="nudge"
    )
    assert out.splitlines()[-1] == "after $(echo no) `echo no`"
    assert provider.peek("cat", 2).splitlines()[0] == big


def test_nudge_to_exited_session_fails(provider: SubprocessProvider, tmp_path: Path) -> None:
    provider.start("gone", cfg("exec true", tmp_path))
    wait_for(
        lambda: (r := record(provider, "gone")) is not None and r.liveness is Liveness.DEAD,
        10,
        what="dead",
    )
    with pytest.raises(SessionError):
        provider.nudge("gone", "anyone?")


def test_env_empty_value_unsets_and_setup_hooks(
    provider: SubprocessProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GC_TEST_INHERITED", "from-parent")
    monkeypatch.setenv("GC_TEST_DROPPED", "should-vanish")
    marker = tmp_path / "setup-ran"
    provider.start(
        "envs",
        cfg(
            'echo "I=$GC_TEST_INHERITED D=${GC_TEST_DROPPED-unset}"; cat',
            tmp_path,
            env={"GC_TEST_DROPPED": ""},
            session_setup=("exit 5", f"touch {shlex.quote(str(marker))}"),
            session_live=(f"touch {shlex.quote(str(marker))}-live",),
            nudge="first prompt",
        ),
    )
    assert marker.exists()  # a failing setup command is reported, not fatal
    assert Path(f"{marker}-live").exists()  # session_live runs at start too
    out = wait_for(
        lambda: (o if "first prompt" in (o := provider.peek("envs", 10)) else None),
        10,
        what="initial nudge",
    )
    assert "I=from-parent D=unset" in out


def test_failing_pre_start_warns_and_the_start_goes_on(
    provider: SubprocessProvider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Gas City's exec-session-provider spec: pre_start failures warn, never abort.
    marker = tmp_path / "second-ran"
    pre = ("echo nope >&2; exit 2", f"touch {shlex.quote(str(marker))}")
    with caplog.at_level("WARNING"):
        assert provider.start("pre", cfg("sleep 300", tmp_path, pre_start=pre))
    assert marker.exists()
    assert [r.name for r in provider.list_running("")] == ["pre"]
    assert "pre_start command failed (exit status 2" in caplog.text
    provider.stop("pre")


def test_start_failures_leave_nothing(provider: SubprocessProvider, tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="did not start within"):
        provider.start(
            "slow",
            StartConfig(
                command="sleep 300",
                work_dir=str(tmp_path),
                pre_start=("sleep 30",),
                startup_timeout=0.5,
            ),
        )
    with pytest.raises(SessionError):
        provider.start("nowhere", cfg("sleep 300", tmp_path / "missing"))
    with pytest.raises(SessionError):
        provider.start("nowhere", cfg("sleep 300", tmp_path / "missing", pre_start=("true",)))
    assert provider.list_running("") == []
    assert [p.name for p in provider.root.iterdir()] == []


def test_processes_and_process_alive(provider: SubprocessProvider, tmp_path: Path) -> None:
    provider.start("procs", cfg("sleep 300 & sleep 301; wait", tmp_path))
    found = wait_for(
        lambda: (r if (r := record(provider, "procs")) and r.processes and "sleep" in r.processes
                 else None),
        10,
        what="sleep listed",
    )
    assert found.processes == frozenset({"sh", "sleep"})
    assert provider.process_alive("procs", ["sleep"]) is True
    assert provider.process_alive("procs", ["claude"]) is False
    assert found.started_at is not None
    assert provider.last_activity("procs") is not None


def test_invalid_names_are_refused(provider: SubprocessProvider, tmp_path: Path) -> None:
    with pytest.raises(SessionError):
        provider.start("../escape", cfg("sleep 1", tmp_path))
    assert provider.stop("../escape") is False
    assert not (tmp_path / "escape").exists()


ATTACH = """
import sys
from pathlib import Path
from gascity.builtin.subprocess_provider import SubprocessProvider
from gascity.plugins import PluginContext

ctx = PluginContext(role="session", name="subprocess", city_dir=Path(sys.argv[1]))
sys.exit(SubprocessProvider(ctx).attach(sys.argv[2]))
"""


def test_attach_follows_output_and_types_input(
    provider: SubprocessProvider, city: Path, tmp_path: Path
) -> None:
    provider.start("talk", cfg("echo before-attach; cat", tmp_path))
    wait_for(lambda: "before-attach" in provider.peek("talk", 5), 10, what="first output")
    client = subprocess.Popen(
        [sys.executable, "-c", ATTACH, str(city), "talk"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert client.stdin is not None
    client.stdin.write(b"typed through attach\n")
    client.stdin.flush()
    wait_for(lambda: "typed through attach" in provider.peek("talk", 5), 10, what="echo")
    out, err = client.communicate(timeout=20)  # closes its input: end of input detaches
    assert client.returncode == 0, err.decode()
    assert b"before-attach" in out
    assert provider.list_running("talk")[0].liveness is Liveness.ALIVE  # detach keeps it


def test_idle_timeout_on_every_agent_keeps_the_one_call_steady_tick(tmp_path: Path) -> None:
    from gascity.controller import Controller
    from gascity.testing import HookCallCounter, MemoryEvents, open_test_city

    city = tmp_path / "idlecity"
    city.mkdir()
    (city / "city.toml").write_text("".join(
        f'[[agent]]\nname = "a{i}"\ncommand = "sleep 300"\nidle_timeout = "1h"\n'
        for i in range(5)))
    provider = make(city)
    counter = HookCallCounter()
    try:
        with open_test_city(city, session=provider, events=MemoryEvents(),
                            observers=[counter]) as opened:
            ctl = Controller(opened)
            assert len(ctl.tick().started) == 5
            wait_for(lambda: all(r.liveness is Liveness.ALIVE
                                 for r in provider.list_running("")), 10)
            for _ in range(2):
                counter.reset()
                report = ctl.tick()
                assert report.started == [] and report.stopped == []
                assert counter.snapshot() == {"list_running": 1}
            records = provider.list_running("")
            assert all(r.last_activity is not None for r in records)
    finally:
        stop_all(provider)


def test_listing_live_sessions_reads_only_their_own_processes(
        provider: SubprocessProvider, city: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = city / "w"
    work.mkdir(parents=True)
    provider.start("tree", cfg("sleep 300 & sleep 301; wait", work))
    wait_for(lambda: len(provider.list_running("")[0].processes or ()) >= 2, 10)

    def no_scan() -> object:
        raise AssertionError("the listing scanned every process on the host")

    monkeypatch.setattr(proc, "_scan", no_scan)
    [record] = provider.list_running("")
    assert record.liveness is Liveness.ALIVE
    assert {"sh", "sleep"} <= set(record.processes or ())


def test_tree_of_a_leader(city: Path) -> None:
    import subprocess as sp

    child = sp.Popen(["sh", "-c", "sleep 300 & sleep 300 & wait"], start_new_session=True)
    try:
        stat = proc.read_stat(child.pid)
        assert stat is not None
        wait_for(lambda: len(proc.tree(child.pid, stat.start_time) or []) == 3, 10)
        assert proc.tree(child.pid, stat.start_time + 1) == []  # pid reused: a stranger
    finally:
        child.kill()
        child.wait()
    # A leader that exited cannot be answered from its own entries: ask the table.
    assert proc.tree(child.pid, stat.start_time) in (None, [])


def test_starting_polls_no_child(provider: SubprocessProvider, city: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess as sp

    work = city / "w"
    work.mkdir(parents=True)
    polls: list[int] = []
    real = sp.Popen.poll

    def poll(self: sp.Popen[bytes]) -> int | None:
        polls.append(self.pid)
        return real(self)

    monkeypatch.setattr(sp.Popen, "poll", poll)
    for i in range(6):
        provider.start(f"s{i}", cfg("sleep 300", work))
    assert polls == []
    provider.list_running("")
    assert polls == []  # nobody died: nothing to collect


def test_a_steady_listing_reads_no_tree_and_no_unchanged_file(
        provider: SubprocessProvider, city: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gascity.builtin import subprocess_provider as mod

    work = city / "w"
    work.mkdir(parents=True)
    for name in ("a", "b"):
        provider.start(name, cfg("sleep 300", work))
    wait_for(lambda: all("sleep" in (r.processes or ()) for r in provider.list_running("")),
             10, what="sh has started sleep")
    reads = {"tree": 0, "meta": 0, "pid": 0}
    real_tree, real_meta, real_ident = proc.tree, mod.SubprocessProvider._read_meta, mod._Ident.read

    def tree(pid: int, ticks: int) -> list[proc.ProcStat] | None:
        reads["tree"] += 1
        return real_tree(pid, ticks)

    def read_meta(session_dir: Path | str) -> dict[str, str]:
        reads["meta"] += 1
        return real_meta(session_dir)

    def read_ident(session_dir: Path | str) -> object:
        reads["pid"] += 1
        return real_ident(session_dir)

    monkeypatch.setattr(proc, "tree", tree)
    monkeypatch.setattr(mod.SubprocessProvider, "_read_meta", staticmethod(read_meta))
    monkeypatch.setattr(mod._Ident, "read", staticmethod(read_ident))
    listed = {r.name: r for r in provider.list_running("")}
    assert {n: r.liveness for n, r in listed.items()} == {"a": Liveness.ALIVE, "b": Liveness.ALIVE}
    assert reads == {"tree": 0, "meta": 0, "pid": 0}
    # The process names are read when asked for (an agent with process_names).
    assert "sleep" in (listed["a"].processes or ())
    assert reads["tree"] == 1
    # Another process's metadata write (gc runtime drain-ack) is seen at once.
    make(city).set_meta("a", "gc.drain_ack", "1")
    reads.update(meta=0, pid=0)
    listed = {r.name: r for r in provider.list_running("")}
    assert (listed["a"].meta or {}).get("gc.drain_ack") == "1"
    assert reads["meta"] == 1 and reads["pid"] == 1  # a's files only
    # A session started again under the same name is a new leader, read afresh.
    before = ident(city, "b")
    provider.stop("b")
    provider.start("b", cfg("sleep 300", work))
    assert ident(city, "b") != before
    listed = {r.name: r for r in provider.list_running("")}
    assert listed["b"].liveness is Liveness.ALIVE
    os.kill(ident(city, "b")[0], 9)
    wait_for(lambda: (r := record(provider, "b")) and r.liveness is Liveness.DEAD, 10,
             what="b dead")


def test_process_names_still_find_zombies_with_the_lazy_tree(tmp_path: Path) -> None:
    from gascity.controller import Controller
    from gascity.testing import MemoryEvents, open_test_city

    city = tmp_path / "zcity"
    city.mkdir()
    (city / "city.toml").write_text(
        '[daemon]\nmax_restarts = 0\n'
        '[[agent]]\nname = "z"\ncommand = "sleep 300"\nprocess_names = ["claude"]\n'
        '[[agent]]\nname = "ok"\ncommand = "sleep 300"\nprocess_names = ["sleep"]\n')
    provider = make(city)
    events = MemoryEvents()
    try:
        with open_test_city(city, session=provider, events=events) as opened:
            ctl = Controller(opened)
            assert sorted(ctl.tick().started) == ["ok", "z"]
            wait_for(lambda: all("sleep" in (r.processes or ())
                                 for r in provider.list_running("")), 10, what="sleep running")
            report = ctl.tick()
            assert report.crashed == ["z"]
            [crash] = events.of_type("session.crashed")
            assert "none of ['claude'] running (found: sh, sleep)" in crash.message
    finally:
        stop_all(provider)


def test_tree_reads_each_threads_children(city: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess as sp

    # The leader forks its child from a second thread: that child is in the second
    # thread's children file only.
    script = ("import subprocess, threading, time\n"
              "threading.Thread(target=lambda: subprocess.Popen(['sleep', '300'])).start()\n"
              "threading.Thread(target=time.sleep, args=(300,), daemon=True).start()\n"
              "time.sleep(300)\n")
    leader = sp.Popen([sys.executable, "-c", script], start_new_session=True)
    plain = sp.Popen(["sh", "-c", "sleep 300 & wait"], start_new_session=True)
    try:
        stat = proc.read_stat(leader.pid)
        assert stat is not None
        found = wait_for(lambda: t if len(t := proc.tree(leader.pid, stat.start_time) or []) == 2
                         else None, 10, what="the thread's child")
        assert {s.comm for s in found} >= {"sleep"}
        assert proc.read_stat(leader.pid).threads >= 2  # type: ignore[union-attr]
        # Single-threaded processes: their one children file, no task/ listing.
        head = proc.read_stat(plain.pid)
        assert head is not None and head.threads == 1
        wait_for(lambda: len(proc.tree(plain.pid, head.start_time) or []) == 2, 10)
        listed: list[str] = []
        real = os.listdir

        def listdir(path: str) -> list[str]:
            listed.append(path)
            return real(path)

        monkeypatch.setattr(os, "listdir", listdir)
        assert len(proc.tree(plain.pid, head.start_time) or []) == 2
        assert listed == []
    finally:
        for child in (leader, plain):
            os.killpg(child.pid, 9)
            child.wait()


def test_session_setup_script_runs_by_its_path_never_as_shell_text(
    provider: SubprocessProvider, tmp_path: Path
) -> None:
    # Core hands the script over as an absolute path under the city, whose directory
    # name is the user's: a space or a "$(...)" in it must neither break the step nor
    # run anything. Like the tmux provider it runs as `sh <script>` (no exec bit needed).
    where = tmp_path / "my city $(touch injected)"
    where.mkdir()
    ran = tmp_path / "script-ran"
    script = where / "setup.sh"
    script.write_text(f"touch {shlex.quote(str(ran))}\n")
    provider.start("script", cfg("sleep 300", tmp_path, session_setup_script=str(script)))
    try:
        assert ran.exists()
        assert not list(tmp_path.rglob("injected"))
    finally:
        provider.stop("script")
