"""The session conformance kit against a real tmux server on a throwaway socket."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from gascity.plugins import Hooks
from gascity.testing import hooks_for
from gascity.testing.kits import OPTIONAL_SESSION_HOOKS, ListingOutageKit, SessionProviderKit
from gascity_tmux import TmuxProvider


class TestTmuxConformance(SessionProviderKit):
    optional_hooks = OPTIONAL_SESSION_HOOKS
    timeout = 15.0

    @pytest.fixture
    def session_hooks(self, make_provider: Callable[..., TmuxProvider]) -> Iterator[Hooks]:
        yield hooks_for(make_provider())


class TestTmuxListingOutage(ListingOutageKit):
    @pytest.fixture
    def outage_provider(self, make_provider: Callable[..., TmuxProvider]) -> Iterator[TmuxProvider]:
        provider = make_provider()
        yield provider
        for record in provider.list_running(""):
            provider.stop(record.name)
