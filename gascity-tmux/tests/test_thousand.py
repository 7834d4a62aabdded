"""With a thousand sessions on one socket, a steady tick runs tmux exactly once.

tmux invocations are counted by a wrapper script placed first on PATH (it logs, then
execs the real tmux); the provider resolves tmux through PATH when it is built.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gascity.city import City
from gascity.controller import Controller
from gascity.testing import hooks_for
from gascity.types import META_FINGERPRINT, Liveness
from gascity_tmux import TmuxProvider
from gascity_tmux.names import option_for

N = 1000


def tmux_wrapper(bindir: Path, log: Path) -> str:
    real = shutil.which("tmux")
    assert real, "tmux must be installed"
    bindir.mkdir()
    wrapper = bindir / "tmux"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return real


def seed(real_tmux: str, socket: str, tmp_path: Path, names: list[str]) -> None:
    """Start every session in one tmux invocation (a sourced file), not N starts."""
    script = tmp_path / "seed.conf"
    lines = ["set-option -g remain-on-exit on"]
    for i, name in enumerate(names):
        lines.append(f"new-session -d -s {name} sleep 3600")
        if i % 100 == 7:
            lines.append(f"set-option -t ={name}: {option_for(META_FINGERPRINT)} fp-{name}")
    script.write_text("\n".join(lines) + "\n")
    subprocess.run(
        [real_tmux, "-f", "/dev/null", "-L", socket, "new-session", "-d", "-s", "seed",
         "sleep", "3600", ";", "source-file", str(script)],
        check=True,
        timeout=120,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_steady_tick_runs_tmux_once_with_1000_sessions(
    make_provider: Callable[..., TmuxProvider], socket_name: str, tmp_path: Path
) -> None:
    log = tmp_path / "tmux.log"
    real = tmux_wrapper(tmp_path / "bin", log)
    names = [f"w-{i}" for i in range(1, N + 1)]
    seed(real, socket_name, tmp_path, names)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}

    # The provider on its own.
    provider = make_provider(env=env)
    assert provider.tmux.tmux_bin == str(tmp_path / "bin" / "tmux")
    log.write_text("")
    running = hooks_for(provider).list_running("w-")
    assert log.read_text().count("\n") == 1
    assert {r.name for r in running} == set(names)
    assert all(r.liveness is Liveness.ALIVE for r in running)
    by_name = {r.name: r for r in running}
    assert by_name["w-108"].meta == {META_FINGERPRINT: "fp-w-108"}
    assert by_name["w-1"].meta == {}
    assert by_name["w-1"].processes == frozenset({"sleep"})

    # A steady tick of the real controller over the same fleet.
    city_dir = tmp_path / "city"
    city_dir.mkdir()
    (city_dir / "city.toml").write_text(
        '[workspace]\nname = "thousand"\n\n'
        f'[session]\nprovider = "tmux"\n\n[session.tmux]\nsocket = "{socket_name}"\n'
        'config_file = "/dev/null"\n\n'
        f'[[agent]]\nname = "w"\ncommand = "sleep 3600"\n'
        f"min_active_sessions = {N}\nmax_active_sessions = {N}\n"
    )
    city = City.open(city_dir, env={**env, "GC_SESSION": "tmux"})
    try:
        controller = Controller(city)
        first = controller.tick()  # may adopt/stop the stray "seed" session
        assert first.started == [] and first.failed == {}
        log.write_text("")
        report = controller.tick()
        assert report.started == [] and report.stopped == [] and report.crashed == []
        assert report.running == N
        assert log.read_text().count("\n") == 1, log.read_text()[:500]
    finally:
        city.pm.close()
