"""``/v0/status`` and ``/v0/mail/count`` count every agent's mail in one store call
where the store has ``mail_counts`` (the built-in SQLite store), one call per agent
where it has not (a third-party store), with the same JSON either way; and the server
answers a keep-alive client without the Nagle / delayed-ACK stall."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gascity.builtin.sqlite_mail import SqliteMail
from gascity.city import City
from gascity.controller import Controller
from gascity.plugins import PluginContext
from gascity.testing import FakeProvider, HookCallCounter, MemoryEvents, open_test_city
from gascity.types import MailDraft
from gascity_dashboard.plugin import DashboardPlugin
from gascity_dashboard.server import ApiServer

AGENTS = 60


class PerAgentSqliteMail(SqliteMail):
    """As a third-party store without ``mail_counts``: pluggy registers no hook for
    an attribute that is not a function."""

    mail_counts = None  # type: ignore[assignment]


class Served:
    def __init__(self, root: Path, store_class: type[SqliteMail]) -> None:
        root.mkdir()
        (root / "city.toml").write_text(
            '[workspace]\nname = "mailcity"\n[api]\nport = 0\n'
            + "".join(f'[[agent]]\nname = "a{i}"\ncommand = "run"\n' for i in range(AGENTS)))
        self.store = store_class(PluginContext(role="mail", name="sqlite", city_dir=root))
        for i in range(0, AGENTS, 3):
            msg = self.store.send_mail(MailDraft("mayor", f"a{i}", "task", "x"))
            if i % 2:
                self.store.read_mail(msg.id)
        self.store.archive_mail(self.store.send_mail(MailDraft("mayor", "a1", "t", "y")).id)
        self.counter = HookCallCounter()
        self.city: City = open_test_city(root, session=FakeProvider(), events=MemoryEvents(),
                                         mail=self.store, observers=[self.counter])
        self.controller = Controller(self.city)
        self.server = ApiServer(self.controller, DashboardPlugin())
        self.server.start()
        self.controller.tick()
        self.server.view.on_tick(self.controller.last_report)  # type: ignore[arg-type]
        self.conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)

    def get(self, path: str) -> Any:
        self.conn.request("GET", path)
        resp = self.conn.getresponse()
        body = resp.read()
        assert resp.status == 200, body
        return json.loads(body)

    def mail_calls(self) -> dict[str, int]:
        return {k: v for k, v in self.counter.snapshot().items() if k.startswith("mail_count")}

    def close(self) -> None:
        self.conn.close()
        self.server.close()
        self.city.close()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Served, Served]]:
    batched = Served(tmp_path / "batched", SqliteMail)
    per_agent = Served(tmp_path / "per-agent", PerAgentSqliteMail)
    yield batched, per_agent
    batched.close()
    per_agent.close()


def _stable(status: dict[str, Any]) -> dict[str, Any]:
    """The answer without what differs between two cities for other reasons."""
    tick = {k: v for k, v in status["tick"].items() if k != "seconds"}
    return {**{k: v for k, v in status.items() if k not in ("path", "uptime_sec")},
            "tick": tick}


def test_status_counts_mail_in_one_call_with_the_same_json(
        pair: tuple[Served, Served]) -> None:
    batched, per_agent = pair
    answers = {}
    for served in pair:
        served.counter.reset()
        answers[served] = (served.get("/v0/status"), served.mail_calls())
    assert answers[batched][1] == {"mail_counts": 1}
    assert answers[per_agent][1] == {"mail_count": AGENTS}  # the fallback: one each
    status = answers[batched][0]
    assert _stable(status) == _stable(answers[per_agent][0])
    # 20 sent to a0, a3, ...; the odd ones of them read; a1's only one archived.
    assert status["mail"] == {"total": 20, "unread": 10}
    for served in pair:
        served.counter.reset()
        answers[served] = (served.get("/v0/mail/count"), served.mail_calls())
    counts = answers[batched][0]
    assert counts == answers[per_agent][0]
    assert list(counts["agents"]) == [f"a{i}" for i in range(AGENTS)]
    assert counts["agents"]["a3"] == {"total": 1, "unread": 0}
    assert counts["agents"]["a6"] == {"total": 1, "unread": 1}
    assert counts["agents"]["a1"] == {"total": 0, "unread": 0}
    assert answers[batched][1] == {"mail_counts": 1}
    assert batched.get("/v0/mail/count?agent=a6") == {
        "total": 1, "unread": 1, "agents": {"a6": {"total": 1, "unread": 1}}}


def test_keep_alive_requests_do_not_wait_for_a_delayed_ack(
        pair: tuple[Served, Served]) -> None:
    """Headers and body leave in two writes; with Nagle on, the second waited for the
    client's delayed ACK (40 ms on Linux) on every request of a keep-alive connection
    after the first. 50 requests took over 2 s that way; without the stall they take a
    few ms each, so 1 s is far from both."""
    served = pair[0]
    served.get("/healthz")
    t0 = time.monotonic()
    for _ in range(50):
        served.get("/healthz")
    assert time.monotonic() - t0 < 1.0
