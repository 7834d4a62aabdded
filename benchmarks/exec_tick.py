"""Exec provider: script invocations and wall time per steady tick, by city size.

Three measurements, each counted by the scripts themselves (they log every run):

1. A real controller tick (``gascity.controller.Controller``) over ``exec:<script>``
   with every agent's session running: invocations and wall time of the steady tick.
2. The reference's per-agent pattern on the same script: one ``is-running`` per agent
   plus one ``list-running`` (N + 1 invocations), for the ratio.
3. ``list-running`` of ``gc-session-tmux`` against a real tmux server holding N
   sessions (a throwaway ``-L`` socket).

Run: ``python -m benchmarks.exec_tick [--quick] [--json]`` from the repository root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path

from benchmarks.common import BenchTable, print_tables, timed, timings

SIZES = [10, 30, 100, 300, 1000]
QUICK_SIZES = [10, 30, 100]


def _registry_script(root: Path) -> Path:
    """A protocol script that keeps sessions as lines of a file and logs each run."""
    script = root / "registry-script"
    script.write_text(
        "#!/bin/sh\n"
        f'state="{root}"\n'
        'echo "$1" >> "$state/invocations"\n'
        'case "$1" in\n'
        '  start) cat >/dev/null; echo "$2" >> "$state/names" ;;\n'
        '  list-running) [ -f "$state/names" ] && cat "$state/names"; exit 0 ;;\n'
        '  is-running) grep -qxF -- "$2" "$state/names" && echo true || echo false ;;\n'
        "  *) cat >/dev/null; exit 2 ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return script


def _invocations(root: Path) -> int:
    path = root / "invocations"
    return len(path.read_text().split()) if path.exists() else 0


def _reset(root: Path) -> None:
    (root / "invocations").unlink(missing_ok=True)


Rows = tuple[list[list[object]], dict[str, list[float]]]


def _controller_rows(sizes: list[int], repeat: int) -> Rows:
    from gascity.city import City
    from gascity.controller import Controller

    rows: list[list[object]] = []
    data: dict[str, list[float]] = {"n": [], "steady_ms": [], "per_agent_ms": []}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="gc-exec-bench-") as tmp:
            root = Path(tmp)
            script = _registry_script(root)
            city_dir = root / "city"
            city_dir.mkdir()
            (city_dir / "city.toml").write_text(
                '[workspace]\nname = "exec-bench"\n\n'
                + "".join(f'[[agent]]\nname = "a{i}"\ncommand = "sleep 1000"\n' for i in range(n))
            )
            with City.open(city_dir, env={"GC_SESSION": f"exec:{script}"}) as city:
                controller = Controller(city)
                first_s = timed(controller.tick)
                _reset(root)
                steady = timings(controller.tick, repeat=repeat, warmup=0)
                per_tick = _invocations(root) / repeat
                provider = city.pm.instances["session"]
                names = [s.name for s in provider.list_running("")]  # type: ignore[attr-defined]
                _reset(root)

                def per_agent(provider: object = provider, names: list[str] = names) -> None:
                    provider.list_running("")  # type: ignore[attr-defined]
                    for name in names:
                        provider.is_running(name)  # type: ignore[attr-defined]

                ref = timings(per_agent, repeat=1 if n >= 300 else 3, warmup=0)
                ref_calls = _invocations(root) / len(ref.samples)
        rows.append([
            n,
            f"{per_tick:g}",
            steady.ms(),
            f"{ref_calls:g}",
            ref.ms(),
            f"{ref.median / steady.median:.0f}x",
            f"{first_s:.1f} s",
        ])
        data["n"].append(n)
        data["steady_ms"].append(steady.median * 1000)
        data["per_agent_ms"].append(ref.median * 1000)
    return rows, data


def _tmux_rows(sizes: list[int], repeat: int) -> Rows:
    from gascity.plugins import PluginContext
    from gascity_exec.provider import ExecProvider

    rows: list[list[object]] = []
    data: dict[str, list[float]] = {"n": [], "list_ms": []}
    bin_dir = str(Path(sys.executable).parent)
    for n in sizes:
        socket = f"gc-exec-bench-{uuid.uuid4().hex[:6]}"
        tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
        try:
            # Sessions are created straight through tmux, 100 per tmux call, so the
            # setup does not dominate the run; only the listing is measured.
            for lo in range(0, n, 100):
                argv = list(tmux)
                for i in range(lo, min(n, lo + 100)):
                    argv += ["new-session", "-d", "-s", f"a{i}", "sleep", "1000", ";"]
                subprocess.run(argv[:-1], check=True)
            with tempfile.TemporaryDirectory(prefix="gc-exec-bench-") as tmp:
                env = dict(os.environ, GC_TMUX_SOCKET=socket)
                env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
                provider = ExecProvider(PluginContext(
                    role="session", name="exec", argument="gc-session-tmux",
                    city_name="exec-bench", city_dir=Path(tmp), env=env,
                ))
                listed = len(provider.list_running(""))
                provider.calls = 0
                t = timings(partial(provider.list_running, ""), repeat=repeat, warmup=0)
                calls = provider.calls / repeat
        finally:
            subprocess.run([*tmux, "kill-server"], capture_output=True, check=False)
        rows.append([n, listed, f"{calls:g}", t.ms()])
        data["n"].append(n)
        data["list_ms"].append(t.median * 1000)
    return rows, data


def run(quick: bool = False) -> list[BenchTable]:
    sizes = QUICK_SIZES if quick else SIZES
    repeat = 3 if quick else 5
    tables: list[BenchTable] = []
    rows, data = _controller_rows(sizes, repeat)
    tables.append(BenchTable(
        title="exec provider: steady controller tick vs the reference's per-agent calls",
        columns=["agents", "script runs / steady tick", "steady tick",
                 "script runs, per-agent pattern", "per-agent pattern", "ratio",
                 "first tick (N starts)"],
        rows=rows,
        notes=(
            "Steady tick: Controller.tick() with every session running, script runs "
            "counted by the script's own log. Per-agent pattern: list-running plus one "
            "is-running per agent on the same provider, as the reference's reconciler "
            "does. Script: a /bin/sh registry (one line per session)."
        ),
        data=data,
    ))
    if shutil.which("tmux"):
        rows, data = _tmux_rows(sizes, repeat)
        tables.append(BenchTable(
            title="gc-session-tmux: list-running against a real tmux server",
            columns=["sessions", "listed", "script runs / listing", "list_running"],
            rows=rows,
            notes="One `tmux list-panes -a` inside one script run, whatever the size.",
            data=data,
        ))
    return tables


if __name__ == "__main__":
    started = time.perf_counter()
    print_tables(run(quick="--quick" in sys.argv), as_json="--json" in sys.argv)
    print(f"(took {time.perf_counter() - started:.0f} s)", file=sys.stderr)
