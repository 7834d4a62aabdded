"""``gc events --follow``: how soon an event is printed, and what following costs idle.

A real ``gc events --follow --json`` process follows a city's ``file`` event store
while this process records events at irregular moments, each carrying the time it
was recorded; the follower's output is read as it comes, so latency is
record-to-print. Idle cost is the follower's CPU time (user + system, from
``/proc``) over a quiet stretch, as a share of one core. Measured with inotify (the
default on Linux) and with ``inotify = false`` (the stat poll at the default
``poll_interval``, 500 ms).

    python -m benchmarks.follow [--quick] [--json]
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.common import BenchTable, run_main
from gascity.builtin.file_events import FileEvents
from gascity.plugins import PluginContext
from gascity.types import EventDraft

__all__ = ["run"]


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _one(city: Path, inotify: bool, events: int, idle: float) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GC_")}
    env["GC_FILE_EVENTS_INOTIFY"] = "true" if inotify else "false"
    argv = [sys.executable, "-c", "from gascity.cli.main import main; main()",
            "--city", str(city), "events", "--follow", "--json", "-n", "0"]
    follower = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    got: dict[int, float] = {}

    def read() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            now = time.time()
            data = json.loads(line)
            got[int(data["payload"]["n"])] = now - float(data["payload"]["at"])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    store = FileEvents(PluginContext(role="events", name="file", city_dir=city, env={}))
    try:
        time.sleep(1.5)  # the follower starts and reaches its first wait
        c0 = _cpu(follower.pid)
        time.sleep(idle)
        idle_share = (_cpu(follower.pid) - c0) / idle
        rng = random.Random(7)
        for n in range(events):
            time.sleep(rng.uniform(0.05, 0.3))
            store.emit_event(EventDraft(type="bench.follow", actor="bench",
                                        payload={"n": n, "at": time.time()}))
        deadline = time.monotonic() + 10
        while len(got) < events and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        follower.kill()
        follower.wait()
    lat = sorted(got.values())
    if len(lat) < events:
        raise RuntimeError(f"the follower printed {len(lat)} of {events} events")
    return {"p50": statistics.median(lat), "p90": lat[int(len(lat) * 0.9) - 1],
            "max": lat[-1], "idle": idle_share}


def run(quick: bool = False) -> list[BenchTable]:
    events, idle = (20, 3.0) if quick else (60, 10.0)
    rows: list[list[Any]] = []
    root = Path(tempfile.mkdtemp(prefix="gcbench-follow-"))
    try:
        for inotify in (True, False):
            city = root / ("inotify" if inotify else "poll")
            city.mkdir()
            (city / "city.toml").write_text('[workspace]\nname = "follow"\n')
            r = _one(city, inotify, events, idle)
            rows.append(["inotify" if inotify else "stat poll (500 ms)", events,
                         f"{r['p50'] * 1000:.1f} ms", f"{r['p90'] * 1000:.1f} ms",
                         f"{r['max'] * 1000:.1f} ms", f"{r['idle'] * 100:.2f} %"])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return [BenchTable(
        "gc events --follow: record-to-print latency and idle cost",
        ["Wakes by", "Events", "p50", "p90", "max", "Idle CPU (share of a core)"],
        rows,
        notes=f"One `gc events --follow --json` process; events recorded 50-300 ms apart "
              f"by another process; idle measured over {idle:g} s with nothing recorded. "
              "Goals: p50 <= 50 ms, idle < 1 % of a core.",
    )]


if __name__ == "__main__":
    run_main(run, __doc__)
