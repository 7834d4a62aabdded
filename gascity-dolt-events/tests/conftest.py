"""Fixtures: one real MariaDB server per test session, a fresh database per test."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gascity.plugins import PluginContext
from gascity_dolt_events.store import DoltEvents
from gascity_dolt_events.testing import MariaDBServer

_databases = itertools.count(1)

StoreFactory = Callable[..., DoltEvents]


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    # No skip when mariadbd is missing: MariaDBUnavailable fails the run and says
    # which Debian package to install.
    with MariaDBServer(tmp_path_factory.mktemp("mariadb")) as server:
        yield server


def make_context(
    city_dir: Path, settings: dict[str, Any], env: dict[str, str] | None = None
) -> PluginContext:
    return PluginContext(
        role="events",
        name="dolt",
        settings=settings,
        city_name="testcity",
        city_dir=city_dir,
        env=env or {},
    )


@pytest.fixture
def database() -> str:
    return f"gc_test_{next(_databases)}"


@pytest.fixture
def city_dir(tmp_path: Path) -> Path:
    path = tmp_path / "city"
    (path / ".gc").mkdir(parents=True)
    return path


@pytest.fixture
def make_store(
    mariadb: MariaDBServer, database: str, city_dir: Path
) -> Iterator[StoreFactory]:
    """Build stores on this test's database; every one is shut down afterwards."""
    made: list[DoltEvents] = []

    def make(server: MariaDBServer | None = None, **overrides: Any) -> DoltEvents:
        server = server or mariadb
        settings = server.settings(database=database, retry_backoff="100ms")
        settings.update(overrides)
        store = DoltEvents(make_context(city_dir, settings))
        made.append(store)
        return store

    yield make
    for store in made:
        store.shutdown()
