"""The session conformance kit through ``exec:gc-session-tmux`` and a real tmux."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.plugins import Hooks
from gascity.testing import hooks_for
from gascity.testing.kits import OPTIONAL_SESSION_HOOKS, ListingOutageKit, SessionProviderKit
from gascity_exec.provider import ExecProvider

from .conftest import MakeProvider


class TestExecTmuxConformance(SessionProviderKit):
    # A tmux session ends with its agent, so an exited agent vanishes from the
    # listing rather than being reported DEAD (the protocol cannot say DEAD).
    reports_dead = False
    optional_hooks = OPTIONAL_SESSION_HOOKS

    @pytest.fixture
    def session_hooks(
        self, make_provider: MakeProvider, tmux_socket: str, tmp_path: Path
    ) -> Iterator[Hooks]:
        provider = make_provider("gc-session-tmux", env={"GC_TMUX_SOCKET": tmux_socket})
        assert provider.script.endswith("/gc-session-tmux")
        yield hooks_for(provider)


class TestExecTmuxListingOutage(ListingOutageKit):
    @pytest.fixture
    def outage_provider(
        self, make_provider: MakeProvider, tmux_socket: str, outage_city: Path
    ) -> Iterator[ExecProvider]:
        provider = make_provider(
            "gc-session-tmux", env={"GC_TMUX_SOCKET": tmux_socket}, city_dir=outage_city
        )
        yield provider
        for record in provider.list_running(""):
            provider.stop(record.name)
