"""A real PostgreSQL server for the whole session, and fresh stores on it.

Each store gets its own schema, so tests share one server (initdb costs a second)
without seeing each other's mail. A missing server fails loudly: CI installs
Debian's ``postgresql``, and a skipped suite would hide that it did not.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gascity.plugins import PluginContext
from gascity_pgmail.store import PostgresMail
from gascity_pgmail.testing import PostgresServer

StoreFactory = Callable[..., PostgresMail]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


def new_schema() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def make_context(
    dsn: str, tmp: Path, *, city: str = "city", env: dict[str, str] | None = None, **settings: Any
) -> PluginContext:
    return PluginContext(
        role="mail",
        name="postgres",
        settings={"dsn": dsn, **settings},
        city_name=city,
        city_dir=tmp,
        env=env or {},
    )


@pytest.fixture
def make_store(pg_server: PostgresServer, tmp_path: Path) -> Iterator[StoreFactory]:
    """Build stores on the session server; every one is closed after the test.

    Stores built by one call share a schema unless ``schema=`` says otherwise, so a
    test can open two views of one mailbox (two processes' worth of pools).
    """
    schema = new_schema()
    stores: list[PostgresMail] = []

    def make(**settings: Any) -> PostgresMail:
        settings.setdefault("schema", schema)
        city = settings.pop("city", "city")
        dsn = settings.pop("dsn", pg_server.dsn)
        store = PostgresMail(make_context(dsn, tmp_path, city=city, **settings))
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()
