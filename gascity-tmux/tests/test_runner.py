"""The tmux runner: a deadline on every call, stdin for ``load-buffer -``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gascity.errors import SessionError
from gascity_tmux.runner import TmuxRunner


@pytest.mark.parametrize("script", [
    "exec sleep 30",
    "exec >&- 2>&-\nexec sleep 30",  # closes its output, then never exits
])
def test_a_hung_tmux_fails_the_call_at_its_deadline(tmp_path: Path, script: str) -> None:
    hung = tmp_path / "tmux"
    hung.write_text(f"#!/bin/sh\n{script}\n")
    hung.chmod(0o755)
    runner = TmuxRunner("gctest-hung", str(hung), timeout=0.5)
    started = time.monotonic()
    with pytest.raises(SessionError, match=r"did not answer within 0\.5s"):
        runner.run("list-panes", "-a")
    assert time.monotonic() - started < 5


def test_a_missing_tmux_binary_is_a_session_error(tmp_path: Path) -> None:
    runner = TmuxRunner("gctest-missing", str(tmp_path / "no-such-tmux"))
    with pytest.raises(SessionError, match="cannot run"):
        runner.run("list-sessions")


def test_stdin_reaches_load_buffer(socket_name: str) -> None:
    runner = TmuxRunner(socket_name, "tmux", config_file="/dev/null")
    assert runner.run("new-session", "-d", "-s", "holder", "sleep 30").ok
    text = "x" * 40_000 + "\nend"
    assert runner.run("load-buffer", "-b", "gc-test", "-", input=text.encode()).ok
    shown = runner.check("show-buffer", "-b", "gc-test")
    assert "\n".join(shown) == text


def test_the_clients_exit_is_awaited_without_sleep_steps(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A client that closes its output, then takes a while to exit (as any does for
    # a moment): its exit is waited for on a pidfd, not in Popen.wait's sleep steps.
    slow = tmp_path / "tmux"
    slow.write_text("#!/bin/sh\necho listed\nexec >&- 2>&-\nsleep 0.3\nexit 3\n")
    slow.chmod(0o755)
    sleeps: list[float] = []
    real_sleep = time.sleep
    monkeypatch.setattr(time, "sleep", lambda s: (sleeps.append(s), real_sleep(s)))
    result = TmuxRunner("gctest-slow", str(slow), timeout=10).run("list-panes", "-a")
    assert (result.returncode, result.stdout) == (3, ["listed"])
    assert sleeps == []

