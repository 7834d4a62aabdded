"""Fixtures shared by the exec provider's tests: real scripts, a real tmux server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from gascity.plugins import PluginContext
from gascity_exec.provider import ExecProvider

VENV_BIN = str(Path(sys.executable).parent)
MakeProvider = Callable[..., ExecProvider]
WriteScript = Callable[[str], Path]


@pytest.fixture
def write_script(tmp_path: Path) -> WriteScript:
    """Write an executable script (shebang included in ``body``) and return its path."""
    counter = iter(range(1000))

    def write(body: str) -> Path:
        path = tmp_path / f"script-{next(counter)}"
        path.write_text(body)
        path.chmod(0o755)
        return path

    return write


@pytest.fixture
def make_provider(tmp_path: Path) -> Iterator[MakeProvider]:
    made: list[ExecProvider] = []

    def make(
        argument: str | Path,
        settings: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        city_dir: Path | None = None,
    ) -> ExecProvider:
        full_env = dict(os.environ)
        full_env["PATH"] = VENV_BIN + os.pathsep + full_env.get("PATH", os.defpath)
        full_env.update(env or {})
        ctx = PluginContext(
            role="session",
            name="exec",
            argument=str(argument),
            settings=dict(settings or {}),
            city_name="test-city",
            city_dir=city_dir or tmp_path,
            env=full_env,
        )
        provider = ExecProvider(ctx)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.shutdown()


@pytest.fixture(scope="session")
def tmux_socket() -> Iterator[str]:
    """A throwaway tmux socket name; its server is killed at the end."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is required for these tests (apt-get install tmux)")
    name = f"gc-exec-test-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True, check=False)


def pid_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie nobody reaped counts as exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def read_pid(path: Path) -> int:
    from gascity.testing import wait_for

    text = wait_for(lambda: path.exists() and path.read_text().strip(), 10, what=str(path))
    return int(text)
