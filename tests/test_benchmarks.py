"""The benchmark harness: the report writer, the seed table, the baseline's call pattern."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

# The benchmarks package lives at the repo root, which importlib mode leaves off the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baseline import BaselineReconciler
from benchmarks.common import BenchTable
from benchmarks.reconcile_ticks import write_city
from benchmarks.report import Section, seed_table, write_report
from gascity.controller import Controller
from gascity.testing import FakeProvider, HookCallCounter, MemoryEvents, open_test_city

LABELS = {"fake": "fake (2 ms/call)", "k8s": "k8s (emulator)"}


def fig(target: str, n: int, ours: float, base: float | None) -> dict[str, Any]:
    return {"target": target, "n": n, "ours_calls": 1, "base_calls": None if base is None
            else 3.5 * n, "ours_tick": ours, "base_tick": base, "converge": ours * 2,
            "base_converge": base, "cold": ours * 10}


FIGURES = [
    fig("fake", 10, 0.005, 0.08), fig("fake", 100, 0.02, 0.9), fig("fake", 1000, 0.2, 9.0),
    fig("k8s", 10, 0.02, 0.3), fig("k8s", 100, 0.2, 12.0), fig("k8s", 1000, 1.5, None),
]


def test_report_is_well_formed_markdown_with_plots(tmp_path: Path) -> None:
    table = BenchTable("Calls", ["Provider", "Agents", "Ours"], rows=[["fake", 10, 1]],
                       notes="a note")
    sections = [Section("Ticks", [table], intro="intro text"),
                Section("Mail", missing="`benchmarks.mail_store` is not there yet.")]
    path = write_report(sections, tmp_path, quick=True,
                        machine={"date": "2026-01-01 00:00 UTC", "cores": "2"}, elapsed=12.0,
                        figures=FIGURES, labels=LABELS,
                        scale_rows=[{"pools": 5, "serial": 10.0, "ours": 2.0}])
    text = path.read_text()
    assert path == tmp_path / "RESULTS.md"
    assert text.startswith("# Gas City for Python: scaling results")
    assert "| cores | 2 |" in text and "2026-01-01" in text
    assert "## Ticks" in text and "intro text" in text and "| fake | 10 | 1 |" in text
    assert "_Not measured: `benchmarks.mail_store` is not there yet._" in text
    # Every table row has as many cells as its header.
    for block in re.findall(r"((?:^\|.*\|\n)+)", text, flags=re.M):
        rows = block.strip().splitlines()
        widths = {row.count("|") for row in rows}
        assert len(widths) == 1, rows
        assert re.fullmatch(r"\|(---\|)+", rows[1]), rows[1]
    for image in re.findall(r"!\[[^]]*\]\((plots/[^)]+\.png)\)", text):
        png = tmp_path / image
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "plots" / "steady_tick.png").exists()
    assert (tmp_path / "plots" / "scale_checks.png").exists()
    assert text.index("## The seed's scaling table, measured") > text.index("## Mail")
    assert "### The seed's table, rewritten" in text
    assert "- Phase 3: native k8s provider: holds at every measured count, up to 1000" in text


def test_seed_table_says_where_each_configuration_stops() -> None:
    text = seed_table(FIGURES, LABELS)
    ten = next(line for line in text.splitlines()[:4] if "10 s" in line)
    assert "patrol_interval = 10 s" in ten
    first, second = text.split("**patrol_interval = 30 s**")
    rows = {line.split(" | ")[0].strip("| "): line for line in first.splitlines()
            if line.startswith("| ") and "Configuration" not in line}
    # Against 10 s, 12 s stops; against 30 s the same tick is only marginal.
    base_k8s = rows["k8s (emulator), per-agent calls (pre-Phase 1)"]
    assert "stops (12.0 s)" in base_k8s and base_k8s.rstrip(" |").endswith("100 (stops)")
    assert "n/m" in base_k8s  # 1000 was not measured for the baseline
    ours = rows["fake (2 ms/call), batched (ours)"]
    assert "holds to 1000, the largest measured" in ours
    assert "marginal (9.0 s)" in rows["fake (2 ms/call), per-agent calls (pre-Phase 1)"]
    assert "marginal (12.0 s)" in second


@pytest.mark.parametrize("n", [10, 25])
def test_baseline_calls_grow_with_agents_while_ours_is_one(tmp_path: Path, n: int) -> None:
    city_dir = tmp_path / "city"
    names = write_city(city_dir, n, "sleep 3600")
    assert len(names) == n == len(set(names))
    counter = HookCallCounter()
    provider = FakeProvider()
    city = open_test_city(city_dir, session=provider, events=MemoryEvents(),
                          observers=[counter])
    ctrl = Controller(city)
    assert sorted(ctrl.tick().started) == sorted(names)
    counter.reset()
    report = ctrl.tick()
    assert not report.started and counter.session_calls == 1
    base = BaselineReconciler(city)
    counter.reset()
    steady = base.tick()
    assert not steady.started and steady.running == n
    pools = sum(1 for a in city.loaded.config.agent if a.is_pool)
    pool_instances = sum(a.max_active_sessions or 0 for a in city.loaded.config.agent
                         if a.is_pool)
    # is-running + get-meta per agent and per pool instance, and one listing for
    # orphans (no process_alive: these agents name no process, which the facade
    # answers without asking the provider).
    assert counter.snapshot() == {"get_meta": 2 * n + pool_instances, "list_running": 1}
    assert pools >= 1
    provider.vanish(names[0])
    recovered = base.tick()
    assert recovered.started == [names[0]]


def test_api_benchmark_ticks_every_city_with_one_call() -> None:
    # The figure behind docs/dashboard.md's "costs the steady tick nothing": it runs, the
    # API city's server answered the scrape and the page's poll, and every steady tick
    # (with the API's wrappers on every provider hook) was one provider call.
    from benchmarks import api

    [table] = api.run(quick=True)
    assert [row[0] for row in table.rows][2].startswith("with [api]")
    assert [row[-1] for row in table.rows] == [1, 1, 1]
    assert table.data["scrape_ms"] > 0 and table.data["page_poll_ms"] > 0


def test_status_benchmark_counts_mail_in_one_call() -> None:
    # The figure behind docs/dashboard.md's /v0/status at 1000 agents: both cities
    # answered the same mail totals (run() raises otherwise), one in one store call.
    from benchmarks import api_status

    [table] = api_status.run(quick=True)
    assert table.data["mail_calls"] == {"batched": 1, "per_agent": 1000}
    assert all(ms > 0 for ms in table.data["status_ms"].values())
