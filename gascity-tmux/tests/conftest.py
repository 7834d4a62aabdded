"""Fixtures: a real tmux server on a throwaway ``-L`` socket, killed at teardown
(after libtmux's own pytest plugin idiom)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gascity.plugins import PluginContext
from gascity_tmux import TmuxProvider

TMUX = "tmux"
MakeProvider = Callable[..., TmuxProvider]


def reap_server(socket: str) -> None:
    subprocess.run(
        [TMUX, "-L", socket, "kill-server"], capture_output=True, check=False, timeout=10
    )
    path = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.geteuid()}" / socket
    path.unlink(missing_ok=True)


@pytest.fixture
def socket_name() -> Iterator[str]:
    name = f"gctest-{uuid.uuid4().hex[:10]}"
    yield name
    reap_server(name)


@pytest.fixture
def make_provider(socket_name: str, tmp_path: Path) -> MakeProvider:
    """Build a provider on the throwaway socket; ``env`` and settings may be given."""

    def make(env: dict[str, str] | None = None, **settings: Any) -> TmuxProvider:
        settings.setdefault("socket", socket_name)
        # Keep the user's ~/.tmux.conf out of the tests.
        settings.setdefault("config_file", "/dev/null")
        settings.setdefault("nudge_delay", "50ms")
        ctx = PluginContext(
            role="session",
            name="tmux",
            settings=settings,
            city_name="testcity",
            city_dir=tmp_path,
            env=dict(os.environ) if env is None else env,
        )
        return TmuxProvider(ctx)

    return make


@pytest.fixture
def provider(make_provider: MakeProvider) -> TmuxProvider:
    return make_provider()
