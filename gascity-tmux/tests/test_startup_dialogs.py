"""The controller answers an agent's startup dialogs on a real tmux session, off the tick."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.controller import Controller
from gascity.testing import MemoryEvents, open_test_city, wait_for
from gascity.testing.dialog_agent import log_lines, write_dialog_city

from .conftest import MakeProvider


@pytest.fixture
def controller(make_provider: MakeProvider, tmp_path: Path,
               request: pytest.FixtureRequest) -> Iterator[Controller]:
    mode, gate = request.param
    request.node.keys_log = write_dialog_city(tmp_path, mode, gate)
    with open_test_city(tmp_path, session=make_provider(), events=MemoryEvents()) as c:
        ctl = Controller(c)
        yield ctl
        ctl.dialogs.close()
        ctl.shutdown_sessions()


def screen(ctl: Controller) -> str:
    return ctl.hooks.peek("claude", 40)


@pytest.mark.parametrize("controller", [("dialogs", "emits_permission_warning = true"),
                                        ("dialogs", 'process_names = ["python3"]')],
                         indirect=True, ids=["emits_permission_warning", "process_names"])
def test_trust_and_bypass_dialogs_are_answered_after_the_tick(
        controller: Controller, request: pytest.FixtureRequest) -> None:
    log: Path = request.node.keys_log
    report = controller.tick()
    assert report.started == ["claude"]
    # The tick is back while the agent still holds its dialogs back: it did not wait.
    assert controller.dialogs.active() == ["claude"]
    assert log_lines(log) == []
    Path(f"{log}.go").touch()
    wait_for(lambda: "ready" in log_lines(log), 20, what="the agent's prompt")
    assert log_lines(log) == ["Enter", "Down", "Enter", "ready"]
    wait_for(lambda: not controller.dialogs.active(), 10, what="the dismissal to end")
    assert screen(controller).rstrip().endswith("\u276f")
    assert log_lines(log) == ["Enter", "Down", "Enter", "ready"]  # nothing typed after


@pytest.mark.parametrize("controller", [("prompt", "emits_permission_warning = true")],
                         indirect=True)
def test_a_prompt_at_once_gets_no_key(controller: Controller,
                                      request: pytest.FixtureRequest) -> None:
    log: Path = request.node.keys_log
    assert controller.tick().started == ["claude"]
    # Four looks at a prompt end it: far below one phase's 8 s.
    wait_for(lambda: not controller.dialogs.active(), 6, what="the dismissal to end")
    assert log_lines(log) == ["ready"]


@pytest.mark.parametrize("controller", [("dialogs", "")], indirect=True)
def test_an_agent_without_the_gate_is_left_alone(controller: Controller,
                                                 request: pytest.FixtureRequest) -> None:
    log: Path = request.node.keys_log
    assert controller.tick().started == ["claude"]
    assert controller.dialogs.active() == []
    Path(f"{log}.go").touch()
    wait_for(lambda: "trust the files" in screen(controller), 10, what="the trust dialog")
    assert log_lines(log) == []


@pytest.mark.parametrize("controller", [("banner", "emits_permission_warning = true")],
                         indirect=True)
def test_stopping_the_session_cancels_its_dismissal(controller: Controller,
                                                    request: pytest.FixtureRequest) -> None:
    assert controller.tick().started == ["claude"]
    assert controller.dialogs.active() == ["claude"]
    # A banner and no prompt: the phases would poll for 32 s; the stop ends them.
    controller.shutdown_sessions()
    wait_for(lambda: not controller.dialogs.active(), 5, what="the dismissal to end")
    # The shutdown's interrupt (C-c) may reach the agent before the kill; no other key.
    assert [k for k in log_lines(request.node.keys_log) if k != "wrong:b'\\x03'"] == []


def test_gc_start_once_leaves_no_session_at_a_dialog(tmp_path: Path, socket_name: str) -> None:
    log = write_dialog_city(tmp_path, "dialogs", "emits_permission_warning = true")
    Path(f"{log}.go").touch()  # the dialogs show at once
    with (tmp_path / "city.toml").open("a") as f:
        f.write(f'\n[session.tmux]\nsocket = "{socket_name}"\nconfig_file = "/dev/null"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("GC_") or k == "GC_HOME"}
    gc = [str(Path(sys.executable).parent / "gc"), "--city", str(tmp_path)]
    try:
        done = subprocess.run([*gc, "start", "--once"], capture_output=True, text=True,
                              env=env, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        # No controller stays behind: the pass itself saw the agent to its prompt.
        assert log_lines(log) == ["Enter", "Down", "Enter", "ready"]
    finally:
        subprocess.run([*gc, "stop"], capture_output=True, env=env, timeout=60, check=False)


def test_the_nudge_waits_for_the_dialogs_to_be_answered(make_provider: MakeProvider,
                                                       tmp_path: Path) -> None:
    # As Gas City's tmux start: dialogs, then the ready prompt, then the nudge. The
    # claude-like prompt prefix also starts the trust menu's "\u276f 1. Yes" line, so a
    # ready wait before the dialogs types the nudge into the dialog.
    log = write_dialog_city(tmp_path, "dialogs",
                            'emits_permission_warning = true\nnudge = "hi"\n'
                            'ready_prompt_prefix = "\u276f "')
    Path(f"{log}.go").touch()
    with open_test_city(tmp_path, session=make_provider(), events=MemoryEvents()) as c:
        ctl = Controller(c)
        try:
            assert ctl.tick().started == ["claude"]
            wait_for(lambda: "after:Enter" in log_lines(log), 20, what="the nudge's Enter")
            assert log_lines(log) == ["Enter", "Down", "Enter", "ready",
                                      "after:b'h'", "after:b'i'", "after:Enter"]
        finally:
            ctl.dialogs.close()
            ctl.shutdown_sessions()


def test_the_start_answers_dialogs_within_its_startup_timeout(make_provider: MakeProvider,
                                                              tmp_path: Path) -> None:
    # An agent with a nudge whose screen shows neither a dialog nor a prompt: the
    # start's dialog pass ends at the start's deadline (3 s), as Gas City's start
    # context ends it, not after its four 8 s phases (32 s, past the controller's
    # 3 * 1.5 + 5 s wait for the start, which then counts a running session as failed).
    from gascity.testing.dialog_agent import write_dialog_agent
    from gascity.types import StartConfig

    script = write_dialog_agent(tmp_path)
    log = tmp_path / "keys.log"
    provider = make_provider()
    config = StartConfig(command=f"{sys.executable} {script} {log} banner",
                         work_dir=str(tmp_path), nudge="hi", process_names=("python3",),
                         startup_timeout=3.0)
    began = time.monotonic()
    provider.start("banner-agent", config)
    took = time.monotonic() - began
    try:
        assert took < 16, f"start took {took:.1f} s with a 3 s startup_timeout"
    finally:
        provider.stop("banner-agent")
