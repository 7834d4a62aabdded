"""gascity.osutil: the process table (both backends), tree kills, the runner, locks, backoff."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.osutil import killtree, proctree
from gascity.osutil.backoff import Backoff, poll
from gascity.osutil.flock import Busy, locked, open_lock
from gascity.osutil.runner import run, run_shell


@pytest.fixture(params=["proc", "psutil"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every process test runs twice: on /proc and with the psutil fallback forced."""
    monkeypatch.setenv("GC_PROC_BACKEND", request.param)
    return str(request.param)


@pytest.fixture
def tree() -> Iterator[subprocess.Popen[bytes]]:
    """A session leader with a child and a grandchild that moved to its own group."""
    proc = subprocess.Popen(
        ["sh", "-c", "sleep 300 & setsid sleep 301 & exec sleep 302"],
        start_new_session=True,
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        # Settled once all three run sleep: sh and setsid are only on their way to exec.
        members = proctree.Snapshot().members(proc.pid, _ticks(proc.pid))
        if len(members) >= 3 and {m.comm for m in members} == {"sleep"}:
            break
        time.sleep(0.02)
    yield proc
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _ticks(pid: int) -> int:
    stat = proctree.read_stat(pid)
    assert stat is not None
    return stat.start_time


def test_backend_is_forced(backend: str) -> None:
    assert proctree.backend() == backend


def test_both_backends_agree_on_identity(tree: subprocess.Popen[bytes],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GC_PROC_BACKEND", "proc")
    from_proc = proctree.read_stat(tree.pid)
    monkeypatch.setenv("GC_PROC_BACKEND", "psutil")
    from_psutil = proctree.read_stat(tree.pid)
    assert from_proc is not None and from_psutil is not None
    assert (from_psutil.pid, from_psutil.ppid, from_psutil.pgrp, from_psutil.session) == (
        from_proc.pid, from_proc.ppid, from_proc.pgrp, from_proc.session)
    # A pid recorded by one backend must still match under the other.
    assert from_psutil.start_time == from_proc.start_time
    assert from_psutil.comm in ("sh", "sleep")  # sh until it execs sleep


def test_members_find_the_whole_tree(backend: str, tree: subprocess.Popen[bytes]) -> None:
    members = proctree.Snapshot().members(tree.pid, _ticks(tree.pid))
    assert len(members) >= 3
    assert {m.comm for m in members} == {"sleep"}
    # A wrong start time means the pid was reused: strangers, not members.
    assert proctree.Snapshot().members(tree.pid, _ticks(tree.pid) + 1) == []


def test_environ_and_marker(backend: str) -> None:
    env = dict(os.environ, GC_TEST_MARK="m-" + backend)
    proc = subprocess.Popen(["sleep", "30"], env=env)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and proc.pid not in proctree.live_table():
            time.sleep(0.02)
        table = proctree.live_table()
        assert proc.pid in proctree.with_marker(f"GC_TEST_MARK=m-{backend}", table)
        assert proc.pid not in proctree.with_marker("GC_TEST_MARK=m", table)
        assert proc.pid in proctree.with_marker("GC_TEST_MARK=m", table, prefix=True)
        assert proctree.argv0(proc.pid) == "sleep"
        assert proctree.descendants([os.getpid()], table) >= {proc.pid}
    finally:
        proc.kill()
        proc.wait()


def test_terminate_ends_the_tree(backend: str, tree: subprocess.Popen[bytes]) -> None:
    leader, ticks = tree.pid, _ticks(tree.pid)
    pids = {m.pid for m in proctree.Snapshot().members(leader, ticks)}
    t0 = time.monotonic()
    found = killtree.terminate(lambda: proctree.Snapshot().members(leader, ticks), grace=60.0)
    assert found >= 3
    # sleep dies on TERM: no waiting out the grace (bounds leave room for a loaded machine)
    assert time.monotonic() - t0 < 20.0
    tree.wait(timeout=5)
    live = proctree.live_table()
    assert not (pids & set(live)), "a process of the tree survived terminate()"


def test_terminate_kills_what_ignores_term(backend: str) -> None:
    proc = subprocess.Popen(["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"],
                            start_new_session=True)
    try:
        time.sleep(0.2)
        ticks = _ticks(proc.pid)
        t0 = time.monotonic()
        killtree.terminate(lambda: proctree.Snapshot().members(proc.pid, ticks), grace=0.5)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        assert time.monotonic() - t0 < 10.0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# ------------------------------------------------------------------ runner


def test_runner_decodes_with_replacement() -> None:
    res = run_shell("printf 'a\\377b'; printf '\\376' >&2; exit 4", timeout=5)
    assert res.returncode == 4 and not res.ok
    assert res.stdout == "a\ufffdb" and res.stderr == "\ufffd"
    assert res.describe() == "exit status 4: \ufffd"


def test_runner_takes_the_answer_when_the_shell_exits() -> None:
    t0 = time.monotonic()
    res = run_shell("sleep 300 & echo 3", timeout=60, wait_delay=0.2, reap_group=True)
    assert res.ok and res.stdout == "3\n"
    assert time.monotonic() - t0 < 20.0  # not the 60 s timeout


def test_runner_stops_waiting_on_escaped_pipes() -> None:
    t0 = time.monotonic()
    res = run_shell("setsid sleep 30 & echo done", timeout=60, wait_delay=0.3)
    assert res.ok and res.stdout == "done\n"
    assert time.monotonic() - t0 < 20.0  # not the 60 s timeout


def test_runner_cancel_ends_the_command_before_its_timeout() -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    t0 = time.monotonic()
    res = run_shell("sleep 300 & sleep 300", timeout=300, cancel=cancel, reap_group=True)
    assert res.cancelled and not res.ok and res.status() == "cancelled"
    assert time.monotonic() - t0 < 30  # not the 300 s timeout


def test_runner_kills_the_group_at_the_deadline(tmp_path: Path) -> None:
    marker = tmp_path / "late"
    t0 = time.monotonic()
    res = run_shell(f"trap '' TERM; (sleep 1.5; touch {marker}) & sleep 300",
                    timeout=0.5, kill_grace=0.3)
    elapsed = time.monotonic() - t0
    assert res.timed_out and res.status() == "timed out after 0.5s"
    assert elapsed < 20.0  # not the 300 s sleep
    time.sleep(1.5)
    assert not marker.exists(), "a child of the timed-out command outlived it"


def test_runner_bounds_output_and_excerpt() -> None:
    res = run_shell("head -c 300000 /dev/zero | tr '\\0' x; echo; echo tail-line >&2",
                    timeout=10, max_output=1000)
    assert res.ok and res.truncated
    assert len(res.stdout) == 1000
    assert res.excerpt(5) == "...-line"


def test_runner_reports_what_cannot_start(tmp_path: Path) -> None:
    res = run(["/nonexistent/binary"], timeout=1)
    assert res.returncode is None and not res.ok and "No such file" in res.error
    res = run_shell("true", timeout=1, cwd=tmp_path / "missing")
    assert res.error and res.status().startswith("could not run")


def test_runner_feeds_stdin() -> None:
    data = b"x" * 300_000
    res = run(["wc", "-c"], stdin=data, timeout=10)
    assert res.ok and res.stdout.strip() == str(len(data))


# ------------------------------------------------------------ flock, backoff


def test_flock_nonblocking_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    with locked(path):
        assert (path.stat().st_mode & 0o777) == 0o600
        with pytest.raises(Busy):
            open_lock(path, blocking=False)
        with pytest.raises(Busy):
            open_lock(path, shared=True, blocking=False, create=False)
    fd = open_lock(path, shared=True, blocking=False, create=False)
    fd2 = open_lock(path, shared=True, blocking=False, create=False)
    os.close(fd)
    os.close(fd2)
    with pytest.raises(FileNotFoundError):
        open_lock(tmp_path / "absent", create=False)


def test_flock_excludes_threads_of_one_process(tmp_path: Path) -> None:
    path = tmp_path / "t.lock"
    inside = []
    overlap = []

    def work() -> None:
        for _ in range(20):
            with locked(path):
                inside.append(1)
                if len(inside) > 1:
                    overlap.append(1)
                time.sleep(0.001)
                inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not overlap


def test_backoff_grows_to_cap_and_resets() -> None:
    pace = Backoff(0.1, 0.5, 2.0)
    assert [pace.next() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    pace.reset()
    assert pace.next() == 0.1
    stop = threading.Event()
    stop.set()
    assert pace.sleep(stop=stop) is False


def test_poll_returns_value_or_none_at_timeout() -> None:
    calls = []

    def probe() -> int | None:
        calls.append(1)
        return 7 if len(calls) == 3 else None

    assert poll(probe, 5, first=0.01) == 7
    t0 = time.monotonic()
    assert poll(lambda: None, 0.2, first=0.01) is None
    assert 0.15 < time.monotonic() - t0 < 10.0


def test_wait_exit_reaps_reports_a_timeout_and_takes_a_reaped_child() -> None:
    import subprocess

    from gascity.osutil.runner import wait_exit

    quick = subprocess.Popen(["sh", "-c", "exit 4"])
    assert wait_exit(quick, 10) is True
    assert quick.returncode == 4
    assert wait_exit(quick, 10) is True  # already reaped
    slow = subprocess.Popen(["sleep", "30"])
    try:
        assert wait_exit(slow, 0.2) is False
        assert slow.returncode is None
    finally:
        slow.kill()
    assert wait_exit(slow, 10) is True
    assert slow.returncode == -9
