"""The shared mail contract, against a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gascity.plugins import Hooks
from gascity.testing import hooks_for
from gascity.testing.kits import MailStoreKit

from .conftest import StoreFactory


class TestPostgresConformance(MailStoreKit):
    @pytest.fixture
    def mail_hooks(self, make_store: StoreFactory) -> Iterator[Hooks]:
        yield hooks_for(make_store(), role="mail")


class TestPostgresConformanceWithoutNotify(MailStoreKit):
    """The statements differ when NOTIFY is off; the contract must not."""

    @pytest.fixture
    def mail_hooks(self, make_store: StoreFactory) -> Iterator[Hooks]:
        yield hooks_for(make_store(notify=False), role="mail")
