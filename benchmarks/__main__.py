"""``python -m benchmarks [--quick] [--only NAME,...] [--out DIR]``: the scaling report.

Runs every figure in this one process (reconcile ticks per provider against the
baseline, scale checks, the events and mail stores), then writes ``RESULTS.md`` and
PNG plots into ``--out`` (default: this folder). A figure whose module or backend
is missing is reported as missing rather than failing the run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import BenchTable
from benchmarks.report import Section, machine_info, write_report

HERE = Path(__file__).resolve().parent

# name -> (section title, module, intro)
FIGURES: dict[str, tuple[str, str, str]] = {
    "ticks": ("Reconcile ticks per provider", "benchmarks.reconcile_ticks",
              "Each provider started for real on this machine; the same city and provider "
              "objects reconciled by our controller (one `list_running` per tick) and by the "
              "pre-Phase-1 baseline (`benchmarks/baseline.py`: per-agent is-running, "
              "process-alive and get-meta, one is-running per pool instance)."),
    "scale": ("Pool scale checks", "benchmarks.scale_checks", ""),
    "events": ("Event stores: file vs Dolt/MariaDB", "benchmarks.events_store",
               "Collected from `benchmarks/events_store.py` (gascity-dolt-events)."),
    "mail": ("Mail stores: SQLite vs PostgreSQL", "benchmarks.mail_store",
             "Collected from `benchmarks/mail_store.py` (gascity-pgmail)."),
    "tmux": ("tmux provider figures", "benchmarks.tmux_tick",
             "Collected from `benchmarks/tmux_tick.py` (gascity-tmux)."),
    "k8s": ("k8s provider figures", "benchmarks.k8s_tick",
            "Collected from `benchmarks/k8s_tick.py` (gascity-k8s)."),
    "exec": ("exec provider figures", "benchmarks.exec_tick",
             "Collected from `benchmarks/exec_tick.py` (gascity-exec)."),
    "large": ("Large cities", "benchmarks.large_city",
              "Collected from `benchmarks/large_city.py`: config load and steady tick up to "
              "30,000 agents."),
    "coldstart": ("Cold start of tmux sessions", "benchmarks.cold_start",
                  "Collected from `benchmarks/cold_start.py`."),
    "follow": ("Following the event log", "benchmarks.follow",
               "Collected from `benchmarks/follow.py`."),
    "api": ("The HTTP API and the steady tick", "benchmarks.api",
            "Collected from `benchmarks/api.py` (gascity-dashboard): tick CPU at 1000 "
            "agents with and without `[api]`, interleaved."),
    "status": ("GET /v0/status and the mail store", "benchmarks.api_status",
               "Collected from `benchmarks/api_status.py` (gascity-dashboard): /v0/status "
               "at 1000 agents with mail counted in one store call or one per agent."),
    "cli": ("The commands agents run", "benchmarks.cli",
            "Collected from `benchmarks/cli.py`: one `gc` process per call, as an agent "
            "makes it, against a minimal script doing the same file work."),
}
PROVIDERS = {"fake", "subprocess", "tmux", "exec-tmux", "k8s", "exec-k8s"}


def _split(only: Sequence[str]) -> tuple[set[str], list[str]]:
    """``--only`` takes figure names and/or tick provider names (``k8s`` is both)."""
    figures = {o for o in only if o in FIGURES}
    providers = [o for o in only if o in PROVIDERS]
    if providers:
        figures.add("ticks")
    return figures, providers


def _runner(module: Any, name: str, providers: list[str]) -> Callable[[bool], list[BenchTable]]:
    if name == "ticks":
        return lambda quick: list(module.run(quick, providers))
    return lambda quick: list(module.run(quick))


def _write(saved: dict[str, Any], out: Path) -> Path:
    sections = [Section(s["title"], [BenchTable(**t) for t in s["tables"]], intro=s["intro"],
                        missing=s["missing"]) for s in saved["sections"]]
    return write_report(sections, out, quick=saved["quick"], machine=saved["machine"],
                        elapsed=saved["elapsed"], figures=saved["figures"],
                        labels=saved["labels"], scale_rows=saved["scale_rows"],
                        command=saved["command"])


def _rewrite(source: Path, out: Path) -> int:
    path = _write(json.loads(source.read_text()), out)
    print(f"[bench] rewrote {path} from {source}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the CI smoke run (< 3 min)")
    parser.add_argument("--only", default="",
                        help=f"comma-separated: figures {sorted(FIGURES)} and/or tick "
                             f"providers {sorted(PROVIDERS)}")
    parser.add_argument("--out", type=Path, default=HERE,
                        help="where RESULTS.md and plots/ go (default: benchmarks/)")
    parser.add_argument("--save-json", type=Path, default=None,
                        help="also keep every table and figure as JSON in this file")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="measure nothing: rewrite the report from a --save-json file")
    args = parser.parse_args(argv)
    if args.from_json is not None:
        return _rewrite(args.from_json, args.out)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [o for o in only if o not in FIGURES and o not in PROVIDERS]
    if unknown:
        parser.error(f"unknown --only names: {unknown}")
    wanted, providers = _split(only)
    t0 = time.perf_counter()
    sections: list[Section] = []
    figures: list[dict[str, Any]] = []
    labels: dict[str, str] = {}
    scale_rows: list[dict[str, Any]] = []
    for name, (title, module_name, intro) in FIGURES.items():
        if wanted and name not in wanted:
            continue
        section = Section(title, intro=intro)
        sections.append(section)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            section.missing = f"`{module_name}` is not there yet ({exc.name} not found)."
            print(f"[bench] {name}: missing ({exc})", file=sys.stderr)
            continue
        started = time.perf_counter()
        print(f"[bench] {name}: running", file=sys.stderr, flush=True)
        try:
            section.tables = _runner(module, name, providers)(args.quick)
        except Exception as exc:  # one broken figure must not lose the others
            traceback.print_exc()
            section.missing = f"`{module_name}` failed: {type(exc).__name__}: {exc}"
            continue
        print(f"[bench] {name}: {time.perf_counter() - started:.1f}s", file=sys.stderr,
              flush=True)
        for table in section.tables:
            figures += table.data.get("figures", [])
            labels.update(table.data.get("labels", {}))
            if name == "scale":
                scale_rows += table.data.get("rows", [])
    command = "python -m benchmarks" + (" --quick" if args.quick else "") + (
        f" --only {','.join(only)}" if only else "")
    saved = {"quick": args.quick, "machine": machine_info(),
             "elapsed": time.perf_counter() - t0, "figures": figures, "labels": labels,
             "scale_rows": scale_rows, "command": command,
             "sections": [{"title": s.title, "intro": s.intro, "missing": s.missing,
                           "tables": [t.to_json() for t in s.tables]} for s in sections]}
    if args.save_json is not None:
        args.save_json.write_text(json.dumps(saved, indent=1, default=str))
    path = _write(saved, args.out)
    print(f"[bench] wrote {path} in {(time.perf_counter() - t0) / 60:.1f} min", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
