"""Startup dialogs answered through the exec protocol (peek, send-keys) with
gc-session-tmux on a real tmux server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.controller import Controller
from gascity.testing import MemoryEvents, open_test_city, wait_for
from gascity.testing.dialog_agent import log_lines, write_dialog_city

from .conftest import MakeProvider


@pytest.fixture
def controller(make_provider: MakeProvider, tmux_socket: str, tmp_path: Path,
               request: pytest.FixtureRequest) -> Iterator[Controller]:
    mode, gate = request.param
    request.node.keys_log = write_dialog_city(tmp_path, mode, gate)
    provider = make_provider("gc-session-tmux", env={"GC_TMUX_SOCKET": tmux_socket},
                             city_dir=tmp_path)
    with open_test_city(tmp_path, session=provider, events=MemoryEvents()) as city:
        ctl = Controller(city)
        yield ctl
        ctl.dialogs.close()
        ctl.shutdown_sessions()


@pytest.mark.parametrize("controller", [("dialogs", 'process_names = ["python3"]')],
                         indirect=True)
def test_trust_and_bypass_dialogs_are_answered_through_the_script(
        controller: Controller, request: pytest.FixtureRequest) -> None:
    log: Path = request.node.keys_log
    assert controller.tick().started == ["claude"]
    assert controller.dialogs.active() == ["claude"]  # the tick did not wait for them
    Path(f"{log}.go").touch()
    wait_for(lambda: "ready" in log_lines(log), 20, what="the agent's prompt")
    wait_for(lambda: not controller.dialogs.active(), 10, what="the dismissal to end")
    assert log_lines(log) == ["Enter", "Down", "Enter", "ready"]
    assert controller.hooks.peek("claude", 40).rstrip().endswith("\u276f")


@pytest.mark.parametrize("controller", [("prompt", "emits_permission_warning = true")],
                         indirect=True)
def test_a_prompt_at_once_gets_no_key_through_the_script(
        controller: Controller, request: pytest.FixtureRequest) -> None:
    assert controller.tick().started == ["claude"]
    wait_for(lambda: not controller.dialogs.active(), 6, what="the dismissal to end")
    assert log_lines(request.node.keys_log) == ["ready"]
