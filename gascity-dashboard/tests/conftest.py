"""The dashboard's fixtures; the helpers live in :mod:`gascity_dashboard.testing`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity_dashboard.testing import RunningCity, start_city, stop_city


@pytest.fixture
def city(tmp_path: Path) -> Iterator[RunningCity]:
    running = start_city(tmp_path)
    try:
        yield running
    finally:
        stop_city(running)
