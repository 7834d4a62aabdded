"""The tmux provider under the real controller at 10/100/1000 sessions.

For each fleet size, on a fresh tmux server (its own ``-L`` socket): the wall time of
the cold start (first tick starts every session), the steady tick through
``gascity.controller.Controller(city).tick()``, the provider's ``list_running`` alone,
and one bare ``tmux list-panes -a`` on the same server for scale. tmux processes per
steady tick are counted with a logging wrapper placed first on PATH (timings use the
real binary, so the wrapper's own cost is not in them).

``python -m benchmarks.tmux_tick [--quick] [--json]``
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.common import BenchTable, Timing, print_tables, timings
from gascity.city import City
from gascity.controller import Controller
from gascity.testing import HookCallCounter, wait_for
from gascity.types import Liveness
from gascity_tmux.listing import list_format

__all__ = ["run"]

START_CONCURRENCY = 16


def _city(root: Path, socket: str, n: int) -> Path:
    city = root / "city"
    city.mkdir()
    (city / "city.toml").write_text(
        '[workspace]\nname = "tmuxbench"\n\n'
        f'[session]\nprovider = "tmux"\n\n[session.tmux]\nsocket = "{socket}"\n'
        'config_file = "/dev/null"\n\n'
        f"[daemon]\nstart_concurrency = {START_CONCURRENCY}\n\n"
        '[[agent]]\nname = "w"\ncommand = "sleep 3600"\n'
        f"min_active_sessions = {n}\nmax_active_sessions = {n}\n"
    )
    return city


def _wrapper(root: Path, real: str) -> tuple[Path, Path]:
    bindir, log = root / "bin", root / "tmux.log"
    bindir.mkdir()
    wrapper = bindir / "tmux"
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    return bindir, log


def _open(city_dir: Path, path: str) -> City:
    return City.open(city_dir, env={**os.environ, "PATH": path, "GC_SESSION": "tmux"})


def _measure(n: int, real: str, repeat: int) -> dict[str, object]:
    socket = f"gc-bench-{uuid.uuid4().hex[:8]}"
    root = Path(tempfile.mkdtemp(prefix="gc-tmux-bench-"))
    city_dir = _city(root, socket, n)
    bindir, log = _wrapper(root, real)
    real_path = f"{Path(real).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    try:
        with _open(city_dir, real_path) as city:
            counter = HookCallCounter()
            city.pm.register("observers", counter)
            controller = Controller(city)
            t0 = time.perf_counter()
            first = controller.tick()
            cold = time.perf_counter() - t0
            assert len(first.started) == n, first.summary()
            hooks = city.hooks
            wait_for(
                lambda: sum(r.liveness is Liveness.ALIVE for r in hooks.list_running("")) == n,
                60,
                what=f"{n} sessions alive",
            )
            counter.reset()
            tick = timings(controller.tick, repeat=repeat)
            hook_calls = counter.session_calls / (repeat + 1)
            listing = timings(lambda: hooks.list_running(""), repeat=repeat)
        bare_argv = [real, "-f", "/dev/null", "-L", socket, "list-panes", "-a"]
        bare = timings(lambda: subprocess.run(bare_argv, capture_output=True, check=True), repeat)
        same_argv = [*bare_argv, "-F", list_format()]
        same = timings(lambda: subprocess.run(same_argv, capture_output=True, check=True), repeat)
        with _open(city_dir, f"{bindir}{os.pathsep}{real_path}") as counting:
            controller = Controller(counting)
            controller.tick()
            log.write_text("")
            for _ in range(repeat):
                report = controller.tick()
                assert not report.started and not report.stopped, report.summary()
            invocations = log.read_text().count("\n") / repeat
        return {
            "n": n,
            "cold": cold,
            "tick": tick,
            "listing": listing,
            "bare": bare,
            "same": same,
            "invocations": invocations,
            "hook_calls": hook_calls,
        }
    finally:
        subprocess.run([real, "-L", socket, "kill-server"], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def run(quick: bool = False) -> list[BenchTable]:
    real = shutil.which("tmux")
    if real is None:
        raise SystemExit("tmux is not installed")
    sizes = (10, 100) if quick else (10, 100, 1000)
    repeat = 3 if quick else 7
    results = [_measure(n, real, repeat) for n in sizes]

    def ms(t: object) -> str:
        assert isinstance(t, Timing)
        return t.ms()

    steady = BenchTable(
        title="tmux provider: steady reconcile tick (Controller.tick) vs one bare tmux call",
        columns=[
            "sessions",
            "steady tick",
            "list_running alone",
            "bare `tmux list-panes -a`",
            "bare, provider's -F format",
            "tick / bare",
            "tmux processes per tick",
            "provider hook calls per tick",
        ],
        notes=(
            "Medians of repeated runs (± half the spread). A steady tick runs tmux once "
            "whatever the fleet size. 'bare, provider's -F format' is the same single tmux "
            "call from a plain subprocess: the gap to 'list_running alone' is libtmux plus "
            "parsing; the gap to 'steady tick' is the controller's planning and state save."
        ),
    )
    cold = BenchTable(
        title="tmux provider: cold start (first tick starts every session)",
        columns=["sessions", "wall time", "per session", "start_concurrency"],
    )
    for r in results:
        tick, bare = r["tick"], r["bare"]
        assert isinstance(tick, Timing) and isinstance(bare, Timing)
        n = r["n"]
        assert isinstance(n, int)
        cold_s = r["cold"]
        assert isinstance(cold_s, float)
        steady.rows.append(
            [
                n,
                ms(tick),
                ms(r["listing"]),
                ms(bare),
                ms(r["same"]),
                f"{tick.median / bare.median:.1f}x",
                f"{r['invocations']:g}",
                f"{r['hook_calls']:g}",
            ]
        )
        cold.rows.append([n, f"{cold_s:.2f} s", f"{cold_s / n * 1000:.1f} ms", START_CONCURRENCY])
    steady.data = {
        "n": [r["n"] for r in results],
        "tick_ms": [r["tick"].median * 1000 for r in results],  # type: ignore[attr-defined]
        "bare_ms": [r["bare"].median * 1000 for r in results],  # type: ignore[attr-defined]
    }
    return [steady, cold]


if __name__ == "__main__":
    print_tables(run(quick="--quick" in sys.argv), as_json="--json" in sys.argv)
