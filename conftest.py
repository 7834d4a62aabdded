"""Every test run gets its own supervisor home.

``gc start`` registers the city with the machine-wide supervisor and starts one if
needed. Pointing ``GC_HOME`` at a throwaway directory keeps every test away from the
user's ``~/.gc`` (and from other runs on the machine); a supervisor some test left
running there is stopped at the end of the session.

A test run may select the test-only ``fake`` session provider, which a user install
refuses: ``GC_ALLOW_TEST_PROVIDERS=1`` is set here for the whole session, in the
environment, so every controller, supervisor and ``gc`` process a test spawns inherits it.
A test of the refusal removes it from the environment it passes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from gascity.plugins.manager import TEST_PROVIDERS_ENV


@pytest.fixture(scope="session", autouse=True)
def _isolated_gc_home() -> Iterator[None]:
    with tempfile.TemporaryDirectory(prefix="gc-home-") as root:
        old = os.environ.get("GC_HOME")
        old_allow = os.environ.get(TEST_PROVIDERS_ENV)
        os.environ["GC_HOME"] = root
        os.environ[TEST_PROVIDERS_ENV] = "1"
        try:
            yield
        finally:
            from gascity.supervisor.home import SupervisorHome
            from gascity.testing.supervisor import stop_supervisor

            stop_supervisor(SupervisorHome.default())
            for var, value in (("GC_HOME", old), (TEST_PROVIDERS_ENV, old_allow)):
                if value is None:
                    os.environ.pop(var, None)
                else:
                    os.environ[var] = value
