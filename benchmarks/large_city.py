"""Very large cities: loading city.toml and a steady tick, up to 30,000 agents.

Over the in-memory fake provider (no latency), so what is measured is the core's own
work: validating the config (``load_city``) and one steady tick (one ``list_running``
plus the plan). The floor of a tick is the fake's listing plus one pass over its
records, measured interleaved with the ticks.

    python -m benchmarks.large_city [--quick] [--json]
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import BenchTable, run_main
from gascity.config import load_city
from gascity.controller import Controller
from gascity.testing import FakeProvider, MemoryEvents, open_test_city

__all__ = ["run"]


def _city(root: Path, n: int) -> Path:
    city = root / f"city-{n}"
    city.mkdir()
    # Every tenth agent is a pool of 3, so instance names and collisions are checked.
    parts = []
    for i in range(n):
        pool = "max_active_sessions = 3\nmin_active_sessions = 3\n" if i % 10 == 0 else ""
        parts.append(f'[[agent]]\nname = "a{i}"\ncommand = "run {i}"\n{pool}')
    (city / "city.toml").write_text("".join(parts))
    return city


def _one(root: Path, n: int, repeat: int) -> list[object]:
    city_dir = _city(root, n)
    t0 = time.perf_counter()
    load_city(city_dir)
    load_s = time.perf_counter() - t0
    fake = FakeProvider()
    with open_test_city(city_dir, session=fake, events=MemoryEvents()) as city:
        ctl = Controller(city)
        ctl.tick()
        ctl.tick()
        cpu: list[float] = []
        floors: list[float] = []
        for _ in range(repeat):
            c0 = time.process_time()
            {r.name: r.liveness for r in fake.list_running("")}
            floors.append(time.process_time() - c0)
            c0 = time.process_time()
            report = ctl.tick()
            cpu.append(time.process_time() - c0)
            if report.started or report.stopped:
                raise RuntimeError("a steady tick changed something")
        sessions = report.running
    tick, floor = statistics.median(cpu), statistics.median(floors)
    return [n, sessions, f"{load_s:.2f} s", f"{tick * 1000:.1f} ms", f"{floor * 1000:.1f} ms",
            f"{tick / floor:.1f}x", f"{tick * 1e6 / sessions:.1f} us"]


def run(quick: bool = False) -> list[BenchTable]:
    sizes = [1000, 10000] if quick else [1000, 10000, 30000]
    repeat = 3 if quick else 5
    root = Path(tempfile.mkdtemp(prefix="gcbench-large-"))
    try:
        rows = [_one(root, n, repeat) for n in sizes]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return [BenchTable(
        "Large cities over the fake provider (no latency)",
        ["Agents", "Sessions", "Load + validate city.toml", "Steady tick CPU", "Floor CPU",
         "Tick / floor", "Tick CPU per session"],
        rows,
        notes=f"Median CPU time of {repeat} steady ticks, each after one run of its floor "
              "(the fake's `list_running` plus one pass over the records). Every tenth "
              "agent is a pool of 3. Goal: 30k agents at <= 50 us per agent.",
    )]


if __name__ == "__main__":
    run_main(run, __doc__)
