"""Cold start of many tmux sessions: the provider's starts against bare ``new-session``.

Every side starts N sessions running ``sleep 3600`` on a fresh tmux server of its own,
booted the same way (``-f /dev/null``, one ``boot`` session), 8 at a time (the
controller's default ``start_concurrency``) from this one Python process; the sides
alternate, ROUNDS times each. The bare side is the least a start can be: one ``tmux
new-session -d`` process per session with the same size and working directory. The
provider's side is ``TmuxProvider.start`` with the environment and metadata a
controller passes. The tmux server's own CPU time is read from ``/proc`` for both.

A third row, for reference only, sends the bare side's ``new-session`` commands over
one control-mode client (``tmux -C``) held open, which the provider does not do: it
shows how much of a start's cost is the client process and its connection.

    python -m benchmarks.cold_start [--quick] [--json]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import BenchTable, run_main

__all__ = ["run"]

CONCURRENCY = 8
ROUNDS = 3


def _server_cpu(socket: str) -> float:
    pid = subprocess.run(["tmux", "-L", socket, "display-message", "-p", "#{pid}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _boot(socket: str) -> None:
    subprocess.run(["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s",
                    "boot"], check=True)


def _timed(socket: str, n: int, start_one: Callable[[int], object]) -> tuple[float, float]:
    _boot(socket)
    c0 = _server_cpu(socket)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(start_one, range(n)))
    wall = time.perf_counter() - t0
    return wall, _server_cpu(socket) - c0


def _bare(socket: str, n: int, work: str) -> tuple[float, float]:
    def one(i: int) -> None:
        subprocess.run(["tmux", "-L", socket, "new-session", "-d", "-s", f"agent-{i}", "-c",
                        work, "-x", "200", "-y", "50", "--", "sh", "-c", "sleep 3600"],
                       check=True, capture_output=True)
    return _timed(socket, n, one)


def _ours(socket: str, n: int, work: str) -> tuple[float, float]:
    from gascity.plugins import PluginContext
    from gascity.types import META_AGENT, META_FINGERPRINT, StartConfig
    from gascity_tmux import TmuxProvider

    provider = TmuxProvider(PluginContext(
        role="session", name="tmux", settings={"socket": socket, "config_file": "/dev/null"},
        city_name="bench", city_dir=Path(work), env=dict(os.environ)))

    def one(i: int) -> None:
        name = f"agent-{i}"
        provider.start(name, StartConfig(
            command="sleep 3600", work_dir=work, agent=name, startup_timeout=120,
            env={"GC_CITY": "bench", "GC_AGENT": name, "GC_SESSION_NAME": name},
            meta={META_FINGERPRINT: "0" * 32, META_AGENT: name}))
    return _timed(socket, n, one)


def _control(socket: str, n: int, work: str) -> tuple[float, float]:
    """The bare commands over one ``tmux -C`` client (attached to the boot session: a
    control client without a session exits after its first command)."""
    _boot(socket)
    client = subprocess.Popen(["tmux", "-L", socket, "-C", "attach-session", "-t", "=boot"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert client.stdin is not None and client.stdout is not None
    try:
        # The attach itself answers first (flags 0); wait for it before timing.
        for line in client.stdout:
            if line.startswith("%end"):
                break
        c0 = _server_cpu(socket)
        t0 = time.perf_counter()
        for i in range(n):
            client.stdin.write(f"new-session -d -s agent-{i} -c '{work}' -x 200 -y 50 "
                               "-- sh -c 'sleep 3600'\n")
        client.stdin.flush()
        answered = failed = 0
        for line in client.stdout:
            if line.startswith(("%end ", "%error ")) and line.split()[-1] == "1":
                answered += 1
                failed += line.startswith("%error")
                if answered == n:
                    break
        wall = time.perf_counter() - t0
        if answered != n or failed:
            raise RuntimeError(f"control client: {answered} answers, {failed} errors")
        return wall, _server_cpu(socket) - c0
    finally:
        client.stdin.close()
        client.wait(timeout=30)


def run(quick: bool = False) -> list[BenchTable]:
    if shutil.which("tmux") is None:
        raise RuntimeError("tmux is not installed")
    n = 100 if quick else 1000
    work = tempfile.mkdtemp(prefix="gcbench-cold-")
    sides: dict[str, Callable[[str, int, str], tuple[float, float]]] = {
        "bare": _bare, "ours": _ours, "control": _control}
    samples: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
    try:
        for _ in range(ROUNDS):
            for side, fn in sides.items():
                socket = f"gcbench-cold-{uuid.uuid4().hex[:8]}"
                try:
                    samples[side].append(fn(socket, n, work))
                finally:
                    subprocess.run(["tmux", "-L", socket, "kill-server"],
                                   capture_output=True, check=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(side: str, i: int) -> float:
        return statistics.median(s[i] for s in samples[side])

    def spread(side: str, i: int) -> str:
        values = [s[i] for s in samples[side]]
        return f"±{(max(values) - min(values)) / 2:.2f}"

    rows: list[list[Any]] = []
    for side, label in (("bare", "bare `tmux new-session -d`"),
                        ("ours", "`TmuxProvider.start` (env + metadata)"),
                        ("control", "reference: bare commands over one `tmux -C` client")):
        rows.append([label, n, f"{med(side, 0):.2f} s {spread(side, 0)}",
                     f"{med(side, 1):.2f} s {spread(side, 1)}",
                     f"{med(side, 0) / med('bare', 0):.2f}x",
                     f"{med(side, 1) / med('bare', 1):.2f}x"])
    return [BenchTable(
        f"Cold start of {n} tmux sessions, {CONCURRENCY} at a time",
        ["Starts by", "Sessions", "Wall", "tmux server CPU", "Wall / bare", "Server CPU / bare"],
        rows,
        notes=f"Each run on a fresh server of its own, booted alike; median ± half the "
              f"spread of {ROUNDS} runs per side, the sides alternating (bare, ours, "
              "control, bare, ...). Goal: ours <= 1.2x bare. The control-mode row is a "
              "reference, not what the provider does.",
        data={"n": n, **{f"{side}_wall": [s[0] for s in v] for side, v in samples.items()},
              **{f"{side}_cpu": [s[1] for s in v] for side, v in samples.items()}},
    )]


if __name__ == "__main__":
    run_main(run, __doc__)
