"""A hanging script is killed at its timeout, with its children, and cannot hang us."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from gascity.errors import SessionError
from gascity.testing import wait_for
from gascity.types import StartConfig

from .conftest import MakeProvider, WriteScript, pid_gone, read_pid

FAST = {"timeout": 0.5, "start_timeout": 0.5, "kill_grace": 0.3, "wait_delay": 0.3}


def test_hanging_script_and_its_children_are_killed(
    make_provider: MakeProvider, write_script: WriteScript, tmp_path: Path
) -> None:
    script = write_script(
        "#!/bin/sh\n"
        f'echo $$ > "{tmp_path}/script.pid"\n'
        f'sleep 300 & echo $! > "{tmp_path}/child.pid"\n'
        "sleep 300\n"
    )
    provider = make_provider(script, settings=FAST)
    started = time.monotonic()
    with pytest.raises(SessionError, match=r"peek w1 5: timed out after"):
        provider.peek("w1", 5)
    assert time.monotonic() - started < 10  # nowhere near the script's 300 s
    for name in ("script.pid", "child.pid"):
        pid = read_pid(tmp_path / name)
        wait_for(lambda pid=pid: pid_gone(pid), 5, what=f"{name} {pid} killed")


def test_children_that_ignore_sigterm_are_killed_after_the_grace(
    make_provider: MakeProvider, write_script: WriteScript, tmp_path: Path
) -> None:
    script = write_script(
        "#!/bin/sh\n"
        "trap '' TERM\n"  # ignored signals stay ignored in the children too
        f'sleep 300 & echo $! > "{tmp_path}/child.pid"\n'
        "sleep 300\n"
    )
    provider = make_provider(script, settings=FAST)
    with pytest.raises(SessionError, match="timed out"):
        provider.interrupt("w1")
    pid = read_pid(tmp_path / "child.pid")
    wait_for(lambda: pid_gone(pid), 5, what=f"TERM-proof child {pid} killed")


def test_grandchild_holding_stdout_cannot_hang_the_caller(
    make_provider: MakeProvider, write_script: WriteScript, tmp_path: Path
) -> None:
    # setsid leaves the script's process group, so only closing the pipes helps.
    script = write_script(
        "#!/bin/sh\n"
        f'setsid sleep 300 & echo $! > "{tmp_path}/stray.pid"\n'
        "echo done\n"
    )
    provider = make_provider(script, settings=dict(FAST, timeout=30))
    try:
        started = time.monotonic()
        assert provider.peek("w1", 5) == "done"
        assert time.monotonic() - started < 10
    finally:
        pid = read_pid(tmp_path / "stray.pid")
        os.kill(pid, signal.SIGKILL)


def test_hanging_start_is_killed_and_torn_down(
    make_provider: MakeProvider, write_script: WriteScript, tmp_path: Path
) -> None:
    log = tmp_path / "ops.log"
    script = write_script(
        "#!/bin/sh\n"
        f'echo "$1" >> "{log}"\n'
        'case "$1" in start) cat >/dev/null; sleep 300 ;; esac\n'
    )
    provider = make_provider(script, settings=FAST)
    with pytest.raises(SessionError, match="start w1: timed out"):
        provider.start("w1", StartConfig(command="x", work_dir=str(tmp_path)))
    assert log.read_text().split() == ["start", "stop"]


def test_shorter_startup_timeout_wins(
    make_provider: MakeProvider, write_script: WriteScript, tmp_path: Path
) -> None:
    script = write_script("#!/bin/sh\ncat >/dev/null\n[ \"$1\" = start ] && sleep 300\nexit 0\n")
    provider = make_provider(script, settings=dict(FAST, start_timeout=60))
    started = time.monotonic()
    with pytest.raises(SessionError, match="timed out"):
        provider.start(
            "w1", StartConfig(command="x", work_dir=str(tmp_path), startup_timeout=0.5)
        )
    assert time.monotonic() - started < 30


def test_large_stdin_to_a_script_that_never_reads_it(
    make_provider: MakeProvider, write_script: WriteScript
) -> None:
    provider = make_provider(write_script("#!/bin/sh\nexit 0\n"), settings=FAST)
    provider.nudge("w1", "x" * (4 << 20))  # far beyond a pipe buffer; no hang, no error
