"""Every test run gets its own supervisor home.

``gc start`` registers the city with the machine-wide supervisor and starts one if
needed. Pointing ``GC_HOME`` at a throwaway directory keeps every test away from the
user's ``~/.gc`` (and from other runs on the machine); a supervisor some test left
running there is stopped at the end of the session.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_gc_home() -> Iterator[None]:
    with tempfile.TemporaryDirectory(prefix="gc-home-") as root:
        old = os.environ.get("GC_HOME")
        os.environ["GC_HOME"] = root
        try:
            yield
        finally:
            from gascity.supervisor.home import SupervisorHome
            from gascity.testing.supervisor import stop_supervisor

            stop_supervisor(SupervisorHome.default())
            if old is None:
                os.environ.pop("GC_HOME", None)
            else:
                os.environ["GC_HOME"] = old
