"""The minimal provider that opens docs/plugin-authors.md passes the session kit, so the
first code a plugin author copies is known to work."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from gascity.plugins import Hooks, PluginContext
from gascity.testing import hooks_for
from gascity.testing.kits import SessionProviderKit

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugin-authors.md"


def doc_source() -> str:
    section = DOC.read_text().split("<!-- minimal-provider", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def load_doc_module(tmp_path: Path) -> ModuleType:
    path = tmp_path / "gascity_doc_minimal.py"
    path.write_text(doc_source())
    spec = importlib.util.spec_from_file_location("gascity_doc_minimal", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_minimal_provider_is_under_60_lines() -> None:
    assert len(doc_source().splitlines()) < 60


class TestMinimalProviderConformance(SessionProviderKit):
    supports_meta = False
    supports_peek = False
    supports_nudge = False
    supports_interrupt = False
    supports_pre_start = False
    reports_dead = False  # an exited agent is reaped by init and simply vanishes

    @pytest.fixture
    def session_hooks(self, tmp_path: Path) -> Iterator[Hooks]:
        module = load_doc_module(tmp_path)
        ctx = PluginContext(
            role="session", name="pidfile", city_dir=tmp_path / "city",
            config_path=tmp_path / "city" / "city.toml", env=dict(os.environ),
        )
        yield hooks_for(module.PidfileProvider(ctx))
