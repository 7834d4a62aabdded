from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gascity.plugins import Hooks
from gascity.testing import hooks_for
from gascity.testing.kits import OPTIONAL_SESSION_HOOKS, ListingOutageKit, SessionProviderKit


class TestK8sConformance(SessionProviderKit):
    checks_work_dir = False  # the agent runs in the pod's /workspace, not the caller's dir
    timeout = 30.0
    optional_hooks = OPTIONAL_SESSION_HOOKS

    @pytest.fixture
    def session_hooks(self, make_provider: Callable[..., Any]) -> Iterator[Hooks]:
        # A city per test: the kit's listings see only that test's pods.
        yield hooks_for(make_provider(city=f"kit-{uuid.uuid4().hex[:6]}"))


class TestK8sListingOutage(ListingOutageKit):
    timeout = 30.0

    @pytest.fixture
    def outage_provider(self, make_provider: Callable[..., Any], outage_city: Path) -> Any:
        return make_provider(city="outage", where=outage_city)
