"""Shared pieces of the benchmarks: repeated timing, summaries and result tables."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["BenchTable", "Timing", "print_tables", "run_main", "timed", "timings"]


@dataclass
class Timing:
    """Samples of one measurement, in seconds; reported as median and spread."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """Max minus min: how noisy the machine was for this figure."""
        return max(self.samples) - min(self.samples)

    def ms(self) -> str:
        return f"{self.median * 1000:.2f} ms ±{self.spread * 1000 / 2:.2f}"


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def timings(fn: Callable[[], Any], repeat: int = 5, warmup: int = 1) -> Timing:
    for _ in range(warmup):
        fn()
    return Timing([timed(fn) for _ in range(repeat)])


@dataclass
class BenchTable:
    """One table of the report: a title, columns, rows of cells, and a note."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    """Raw figures for plots (e.g. ``{"n": [...], "ours_ms": [...]}``)."""

    def markdown(self) -> str:
        head = "| " + " | ".join(self.columns) + " |"
        rule = "|" + "|".join("---" for _ in self.columns) + "|"
        body = ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
        text = f"### {self.title}\n\n" + "\n".join([head, rule, *body]) + "\n"
        if self.notes:
            text += f"\n{self.notes}\n"
        return text

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def print_tables(tables: Sequence[BenchTable], as_json: bool = False) -> None:
    if as_json:
        print(json.dumps([t.to_json() for t in tables], indent=2, default=str))
        return
    for table in tables:
        print(table.markdown())


def run_main(run: Callable[[bool], Sequence[BenchTable]], doc: str | None) -> None:
    """``python -m benchmarks.<name> [--quick] [--json]`` for a figure module."""
    import argparse

    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    print_tables(run(args.quick), args.json)
