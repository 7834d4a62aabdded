"""``GET /v0/status`` at 1000 agents: mail counted in one store call, or one per agent.

Two cities, identical (1000 agents over the in-memory fake provider, mail in SQLite with
a message for every tenth agent) but for their mail store: one is the built-in SQLite
store, which answers ``mail_counts`` with one grouped query; the other is the same store
without that hook, so the facade asks ``mail_count`` once per agent, as every
``/v0/status`` did before the hook existed (and as a third-party store without it still
does). Both serve ``[api]`` on a loopback port; their requests are interleaved (who goes
first alternates) so both see the same machine. The floor is one ``mail_count`` call.

    python -m benchmarks.api_status [--quick] [--json]
"""

from __future__ import annotations

import http.client
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import BenchTable, run_main
from gascity.builtin.sqlite_mail import SqliteMail
from gascity.controller import Controller
from gascity.plugins import PluginContext
from gascity.testing import FakeProvider, HookCallCounter, MemoryEvents, open_test_city
from gascity.testing.support import free_port
from gascity.types import MailDraft

__all__ = ["run"]

N = 1000


class PerAgentSqliteMail(SqliteMail):
    """The SQLite store without ``mail_counts`` (pluggy registers no hook for an
    attribute that is not a function): the facade falls back to one call per agent."""

    mail_counts = None  # type: ignore[assignment]


def _city(root: Path, name: str, port: int) -> Path:
    city = root / name
    city.mkdir()
    parts = [f'[workspace]\nname = "{name}"\n[api]\nport = {port}\n']
    parts += [f'[[agent]]\nname = "a{i}"\ncommand = "run {i}"\n' for i in range(N)]
    (city / "city.toml").write_text("".join(parts))
    return city


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    conn.request("GET", path)
    body = conn.getresponse().read()
    return time.perf_counter() - t0, body


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.2f} ms"


def run(quick: bool = False) -> list[BenchTable]:
    from gascity_dashboard.plugin import DashboardPlugin

    repeat = 15 if quick else 51
    root = Path(tempfile.mkdtemp(prefix="gcbench-status-"))
    labels = {"batched": "one mail_counts call (SQLite's grouped query)",
              "per_agent": "one mail_count call per agent (the facade's fallback)"}
    kinds = {"batched": SqliteMail, "per_agent": PerAgentSqliteMail}
    ports = {k: free_port() for k in labels}
    plugins = {k: DashboardPlugin() for k in labels}
    counters = {k: HookCallCounter() for k in labels}
    stores = {}
    cities = {}
    for k in labels:
        city_dir = _city(root, k, ports[k])
        stores[k] = kinds[k](PluginContext(role="mail", name="sqlite", city_dir=city_dir))
        for i in range(0, N, 10):
            stores[k].send_mail(MailDraft("mayor", f"a{i}", "task", "do it"))
        cities[k] = open_test_city(city_dir, session=FakeProvider(), events=MemoryEvents(),
                                   mail=stores[k], observers=[plugins[k], counters[k]])
    wall: dict[str, list[float]] = {k: [] for k in labels}
    calls: dict[str, int] = {}
    floors: list[float] = []
    bodies: dict[str, dict[str, object]] = {}
    try:
        ctls = {k: Controller(c) for k, c in cities.items()}
        for k, ctl in ctls.items():
            cities[k].hooks.controller_started(ctl)
            if plugins[k].server is None:
                raise RuntimeError("the API server did not start")
            ctl.tick()
        conns = {k: http.client.HTTPConnection("127.0.0.1", ports[k], timeout=30)
                 for k in labels}
        for k in labels:  # warm: connections, SQLite's per-thread connection, caches
            _get(conns[k], "/v0/status")
        order = list(labels)
        for i in range(repeat):
            t0 = time.perf_counter()
            stores["batched"].mail_count("a10")
            floors.append(time.perf_counter() - t0)
            for k in order[i % 2:] + order[:i % 2]:
                counters[k].reset()
                seconds, body = _get(conns[k], "/v0/status")
                wall[k].append(seconds)
                calls[k] = sum(n for hook, n in counters[k].snapshot().items()
                               if hook.startswith("mail_count"))
                bodies[k] = json.loads(body)
        for conn in conns.values():
            conn.close()
    finally:
        for city in cities.values():
            city.close()
        shutil.rmtree(root, ignore_errors=True)
    mails = {k: bodies[k]["mail"] for k in labels}
    if mails["batched"] != mails["per_agent"]:
        raise RuntimeError(f"the two answers' mail differ: {mails}")
    floor = statistics.median(floors)
    base = statistics.median(wall["per_agent"])
    rows = []
    for k, title in labels.items():
        med = statistics.median(wall[k])
        rows.append([title, N, _ms(wall[k]), f"{med / base:.2f}x", f"{med / floor:.0f}x",
                     calls[k]])
    return [BenchTable(
        "GET /v0/status at 1000 agents: mail counts in one call or one per agent",
        ["Mail store", "Agents", "/v0/status (wall, median)", "vs per agent",
         "vs floor", "Mail hook calls per request"],
        rows,
        notes=f"Medians of {repeat} requests each, interleaved (who goes first alternates), "
              "over HTTP on a loopback port, SQLite mail with a message for every tenth "
              f"agent (both answer mail {mails['batched']}). Floor: one mail_count call, "
              f"{_ms(floors)}.",
        data={"status_ms": {k: statistics.median(v) * 1000 for k, v in wall.items()},
              "floor_ms": floor * 1000, "mail_calls": calls},
    )]


def main() -> None:
    run_main(run, __doc__)


if __name__ == "__main__":
    main()
