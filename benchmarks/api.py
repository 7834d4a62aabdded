"""What the ``[api]`` server costs a steady tick: 1000 agents with and without it.

Two cities, identical but for ``[api] port``, over the in-memory fake provider (no
latency, so any cost of the observer shows instead of drowning in provider time).
Their steady ticks are interleaved (alternating which goes first) so both see the
same machine. The city with the API has its server running, its event feed following the
store and an SSE client connected, as a dashboard would be; the tick itself is the
controller's thread CPU, and the process CPU over the tick (every thread, the
server's included) is reported next to it. The floor is the fake's listing plus one
pass over its records.

    python -m benchmarks.api [--quick] [--json]
"""

from __future__ import annotations

import http.client
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import BenchTable, run_main
from gascity.controller import Controller
from gascity.testing import FakeProvider, HookCallCounter, MemoryEvents, open_test_city
from gascity.testing.support import free_port

__all__ = ["run"]

_SETTLE = 0.1
_PAGE_POLL = ("/v0/status", "/v0/agents")


def _city(root: Path, name: str, n: int, port: int | None) -> Path:
    city = root / name
    city.mkdir()
    parts = [f'[workspace]\nname = "{name}"\n']
    if port is not None:
        parts.append(f"[api]\nport = {port}\n")
    for i in range(n):
        pool = "max_active_sessions = 3\nmin_active_sessions = 3\n" if i % 10 == 0 else ""
        parts.append(f'[[agent]]\nname = "a{i}"\ncommand = "run {i}"\n{pool}')
    (city / "city.toml").write_text("".join(parts))
    return city


def _between_rounds(conn: http.client.HTTPConnection, scrape_s: list[float],
                    page_s: list[float]) -> None:
    """A Prometheus scrape and an open dashboard page's poll (every 3 s in the page).
    Their CPU is the server thread's; the pause after them keeps their tail (freeing the
    responses) out of the next tick, as a 15 s scrape interval does."""
    t0 = time.perf_counter()
    conn.request("GET", "/metrics")
    conn.getresponse().read()
    scrape_s.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for path in _PAGE_POLL:
        conn.request("GET", path)
        if conn.getresponse().read()[:1] != b"{":
            raise RuntimeError(f"{path} did not answer JSON")
    page_s.append(time.perf_counter() - t0)
    time.sleep(_SETTLE)


def _med_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.2f} ms"


def run(quick: bool = False) -> list[BenchTable]:
    from gascity_dashboard.plugin import DashboardPlugin

    n = 1000
    repeat = 15 if quick else 41
    root = Path(tempfile.mkdtemp(prefix="gcbench-api-"))
    port = free_port()
    plugin = DashboardPlugin()
    # "control" is a second city without the API: its difference to "plain" is the
    # noise of this machine, measured in the same run.
    labels = {"plain": "without [api]", "control": "without [api], a second copy",
              "api": "with [api]: server, event feed, SSE client, scraped, page polling"}
    fakes = {k: FakeProvider() for k in labels}
    counters = {k: HookCallCounter() for k in labels}
    cities = {
        k: open_test_city(_city(root, k, n, port if k == "api" else None), session=fakes[k],
                          events=MemoryEvents(),
                          observers=[counters[k], *([plugin] if k == "api" else [])])
        for k in labels
    }
    sse: http.client.HTTPConnection | None = None
    cpu: dict[str, list[float]] = {k: [] for k in labels}
    proc: dict[str, list[float]] = {k: [] for k in labels}
    calls: dict[str, list[int]] = {k: [] for k in labels}
    floors: list[float] = []
    scrape_s: list[float] = []
    page_s: list[float] = []
    try:
        ctls = {k: Controller(c) for k, c in cities.items()}
        cities["api"].hooks.controller_started(ctls["api"])
        if plugin.server is None:
            raise RuntimeError("the API server did not start")
        for ctl in ctls.values():
            ctl.tick()
            ctl.tick()
        sse = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        sse.request("GET", "/v0/events/stream")
        if sse.getresponse().status != 200:
            raise RuntimeError("the SSE stream did not open")
        scrape = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        order = list(labels)
        for i in range(repeat):
            c0 = time.thread_time()
            {r.name: r.liveness for r in fakes["plain"].list_running("")}
            floors.append(time.thread_time() - c0)
            for label in order[i % 3:] + order[:i % 3]:  # rotate who goes first
                counters[label].reset()
                p0, c0 = time.process_time(), time.thread_time()
                report = ctls[label].tick()
                cpu[label].append(time.thread_time() - c0)
                proc[label].append(time.process_time() - p0)
                calls[label].append(counters[label].session_calls)
                if report.started or report.stopped:
                    raise RuntimeError("a steady tick changed something")
            _between_rounds(scrape, scrape_s, page_s)
        scrape.close()
    finally:
        if sse is not None:
            sse.close()
        for city in cities.values():
            city.close()
        shutil.rmtree(root, ignore_errors=True)
    floor = statistics.median(floors)
    base = statistics.median(cpu["plain"])
    rows = []
    for label, title in labels.items():
        tick = statistics.median(cpu[label])
        diff = "" if label == "plain" else (
            f"{(tick - base) * 1000:+.2f} ms ({(tick / base - 1) * 100:+.1f}%)")
        rows.append([title, n, _med_ms(cpu[label]), diff, _med_ms(proc[label]),
                     f"{tick / floor:.1f}x", max(calls[label])])
    return [BenchTable(
        "The [api] server and a steady tick at 1000 agents",
        ["City", "Agents", "Tick CPU (controller thread)", "vs without", "Process CPU over "
         "the tick", "Tick / floor", "Provider calls per tick"],
        rows,
        notes=f"Medians of {repeat} rounds; each round ticks the three cities once (who goes "
              "first rotates), over the fake provider (every tenth agent a pool of 3; 1,180 "
              "sessions). The city with the API serves it on a loopback port, its event feed "
              "follows the store, one SSE client is connected, and between rounds /metrics "
              f"is scraped (median {_med_ms(scrape_s)} wall, in the server thread) and the "
              f"dashboard page's poll of /v0/status and /v0/agents answered (median "
              f"{_med_ms(page_s)}), then a {_SETTLE * 1000:.0f} ms pause. Floor: the fake's "
              "listing plus "
              f"one pass over its records, {_med_ms(floors)}. The second copy without the "
              "API shows how far two identical cities differ on this machine.",
        data={"tick_ms": {k: statistics.median(v) * 1000 for k, v in cpu.items()},
              "scrape_ms": statistics.median(scrape_s) * 1000,
              "page_poll_ms": statistics.median(page_s) * 1000},
    )]


def main() -> None:
    run_main(run, __doc__)


if __name__ == "__main__":
    main()
