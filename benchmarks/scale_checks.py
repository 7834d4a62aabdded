"""Pool scale checks: the reference ran them one after another; we run them concurrently.

* 5 pools whose checks take 2 s each: a serial run (the baseline, one check after
  another, as the reference's ``buildAgents`` did) against a real controller tick
  (``TickReport.scale_seconds``), on the same city.
* 50 pools with 2 s checks at ``probe_concurrency = 8``: ceil(50 / 8) = 7 rounds.

``python -m benchmarks.scale_checks [--quick]``
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

from benchmarks.common import BenchTable, Timing, print_tables
from gascity.config import load_city
from gascity.controller import Controller
from gascity.reconcile import run_scale_checks
from gascity.testing import FakeProvider, MemoryEvents, open_test_city

__all__ = ["CHECK_SECONDS", "run"]

CHECK_SECONDS = 2.0


def write_pools(city_dir: Path, pools: int, concurrency: int) -> None:
    city_dir.mkdir(parents=True, exist_ok=True)
    lines = [f'[workspace]\nname = "{city_dir.name}"\n',
             f"[daemon]\nprobe_concurrency = {concurrency}\nprobe_timeout = \"30s\"\n"]
    for i in range(pools):
        lines.append(f'[[agent]]\nname = "pool{i}"\ncommand = "sleep 3600"\n'
                     f"max_active_sessions = 3\n"
                     f'scale_check = "sleep {CHECK_SECONDS:g}; echo 2"\n')
    (city_dir / "city.toml").write_text("\n".join(lines))


def _serial(city_dir: Path) -> float:
    """The baseline: each pool's check after the previous one (concurrency 1)."""
    config = load_city(city_dir).config
    results = run_scale_checks([a for a in config.agent if a.is_pool], city_dir,
                               concurrency=1, timeout=30.0)
    assert all(r.count == 2 and not r.error for r in results.values()), results
    return max(r.finished for r in results.values()) - min(r.started for r in results.values())


def _tick(ctrl: Controller, pools: int) -> float:
    report = ctrl.tick()
    if report.desired != pools * 2:
        raise RuntimeError(f"scale checks gave {report.desired} sessions, wanted {pools * 2}")
    return report.scale_seconds


def run(quick: bool = False) -> list[BenchTable]:
    repeat = 1 if quick else 3
    root = Path(tempfile.mkdtemp(prefix="gcbench-scale-"))
    table = BenchTable(
        f"Pool scale checks ({CHECK_SECONDS:g} s each)",
        ["Pools", "Concurrency", "Serial baseline", "Ours (controller tick)",
         "Serial / ours", "Ideal ours"],
        notes="Serial baseline: the checks one after another, as the reference ran them before "
              "Phase 1. Ours: `TickReport.scale_seconds` of a real controller tick "
              f"(`sh -c` per check, bounded thread pool). {repeat} repeat(s); median ± half "
              "the spread. The 50-pool serial figure is computed (50 x 2 s), not run, to keep "
              "the run short.",
    )
    try:
        for pools, conc, run_serial in ((5, 8, True), (50, 8, False)):
            city_dir = root / f"pools{pools}"
            write_pools(city_dir, pools, conc)
            city = open_test_city(city_dir, session=FakeProvider(), events=MemoryEvents())
            ctrl = Controller(city)
            ours = Timing([_tick(ctrl, pools) for _ in range(repeat)])
            if run_serial:
                serial = Timing([_serial(city_dir) for _ in range(repeat)])
                serial_text = f"{serial.median:.2f} s ±{serial.spread / 2:.2f}"
                serial_s = serial.median
            else:
                serial_s = pools * CHECK_SECONDS
                serial_text = f"{serial_s:.0f} s (computed)"
            ideal = math.ceil(pools / conc) * CHECK_SECONDS
            table.rows.append([pools, conc, serial_text,
                               f"{ours.median:.2f} s ±{ours.spread / 2:.2f}",
                               f"{serial_s / ours.median:.1f}x", f"{ideal:g} s"])
            table.data.setdefault("rows", []).append(
                {"pools": pools, "concurrency": conc, "serial": serial_s,
                 "computed": not run_serial,
                 "ours": ours.median, "ours_spread": ours.spread, "ideal": ideal})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return [table]


if __name__ == "__main__":
    import sys

    print_tables(run("--quick" in sys.argv))
