"""The shared event store conformance kit, against a real MySQL-protocol server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gascity.plugins import Hooks
from gascity.testing import hooks_for
from gascity.testing.kits import EventStoreKit

from .conftest import StoreFactory


class TestDoltConformance(EventStoreKit):
    supports_keys = True

    @pytest.fixture
    def events_hooks(self, make_store: StoreFactory) -> Iterator[Hooks]:
        yield hooks_for(make_store(), role="events")
