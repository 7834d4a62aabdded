"""The /v0 JSON API and the SSE stream of a real foreground controller."""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path
from typing import Any

from gascity.city import City
from gascity.testing import wait_for, write_tree
from gascity.types import EventDraft, MailDraft
from gascity_dashboard.testing import RunningCity, gc_env, start_city, stop_city


def test_status(city: RunningCity) -> None:
    status = city.get("/v0/status").json()
    assert status["name"] == "dash"
    assert status["path"] == str(city.dir)
    assert status["agent_count"] == 2
    assert status["running"] == 3
    assert status["agents"] == {"total": 2, "running": 2, "suspended": 0, "quarantined": 0}
    assert status["ready"] is True
    assert status["suspended"] is False
    # The reference's status fields for what this city has: no rigs, no mail yet.
    assert (status["rig_count"], status["rigs"]) == (0, {"total": 0, "suspended": 0})
    assert status["mail"] == {"total": 0, "unread": 0}


def test_agents_pools_and_sessions(city: RunningCity) -> None:
    agents = {a["name"]: a for a in city.get("/v0/agents").json()["items"]}
    assert agents["mayor"]["state"] == "running"
    assert agents["mayor"]["pool"] == ""
    assert agents["mayor"]["rig"] == ""
    assert agents["mayor"]["session"] == {"name": "mayor"}  # the reference's session object
    assert "session" not in agents["polecat"]  # a pool has its sessions in "sessions"
    assert [s["name"] for s in agents["mayor"]["sessions"]] == ["mayor"]
    polecat = agents["polecat"]
    assert (polecat["pool"], polecat["desired"], polecat["running_sessions"]) == ("polecat", 2, 2)
    assert city.get("/v0/agent/polecat").json() == polecat
    assert city.get("/v0/agent/nobody").status == 404

    pools = city.get("/v0/pools").json()["items"]
    assert [(p["name"], p["desired"], p["running"], p["max"]) for p in pools] == [
        ("polecat", 2, 2, 5)]
    assert pools[0]["scale_check"]["raw"] == "2" and pools[0]["scale_check"]["error"] == ""

    sessions = city.get("/v0/sessions").json()
    assert sessions["total"] == 3
    assert {(s["name"], s["agent"], s["state"]) for s in sessions["items"]} == {
        ("mayor", "mayor", "running"), ("polecat-1", "polecat", "running"),
        ("polecat-2", "polecat", "running")}
    # The same, under the reference's names for them.
    assert {(s["session_name"], s["template"], s["running"], s["pool"], s["rig"])
            for s in sessions["items"]} == {
        ("mayor", "mayor", True, "", ""), ("polecat-1", "polecat", True, "polecat", ""),
        ("polecat-2", "polecat", True, "polecat", "")}
    assert all(s["created_at"] == s["started_at"] for s in sessions["items"])


def test_reasons_show_why_a_pool_is_short(city: RunningCity) -> None:
    (city.dir / "want").write_text("many")
    city.poke()
    polecat = city.get("/v0/agent/polecat").json()
    assert polecat["desired"] == 0
    assert any(r.startswith("scale_check: ") for r in polecat["reasons"]), polecat


def test_peek_shows_recent_output(city: RunningCity) -> None:
    wait_for(lambda: "hello-from-mayor" in city.get("/v0/session/mayor/peek?lines=5")
             .json()["output"], 10, what="the mayor's output")
    assert city.get("/v0/session/ghost/peek").status == 404
    bad = city.get("/v0/session/mayor/peek?lines=x")
    assert bad.status == 400 and "lines" in bad.json()["message"]


def test_events_after_a_cursor(city: RunningCity) -> None:
    for i in range(3):
        city.gc("event", "emit", "test.page", "--actor", "t", "--message", str(i))
    first = city.get("/v0/events?type=test.page&limit=2").json()
    assert [e["message"] for e in first["items"]] == ["0", "1"]
    cursor = first["next_cursor"]
    rest = city.get(f"/v0/events?type=test.page&limit=2&after_seq={cursor}").json()
    assert [e["message"] for e in rest["items"]] == ["2"]
    assert "next_cursor" not in rest
    # A reference client passes next_cursor back as `cursor`; limit=0 is a whole page.
    assert city.get(f"/v0/events?type=test.page&cursor={cursor}").json()["items"] == rest["items"]
    assert len(city.get("/v0/events?type=test.page&limit=0").json()["items"]) == 3
    assert len(city.get("/v0/events?type=test.page&since=10m").json()["items"]) == 3
    assert city.get("/v0/events?type=test.page&since=1ms").json()["items"] == []
    bad = city.get("/v0/events?since=soon")
    assert bad.status == 400 and bad.json()["message"].startswith("since: ")
    started = city.get("/v0/events?type=session.woke").json()["items"]
    assert {e["subject"] for e in started} == {"mayor", "polecat-1", "polecat-2"}


def test_mail_counts(city: RunningCity) -> None:
    # Another process sends mail, through the city's own mail store.
    with City.open(city.dir, roles=("mail",), env=gc_env(), observers=False) as other:
        other.hooks.send_mail(MailDraft("mayor", "polecat", "hello", "do the thing"))
    counts = city.get("/v0/mail/count").json()
    assert counts["total"] == 1 and counts["unread"] == 1
    assert counts["agents"]["polecat"] == {"total": 1, "unread": 1}
    assert city.get("/v0/mail/count?agent=mayor").json()["total"] == 0
    assert city.get("/v0/status").json()["mail"] == {"total": 1, "unread": 1}


def test_unknown_route_is_a_json_404(city: RunningCity) -> None:
    resp = city.get("/v0/nothing")
    assert resp.status == 404 and resp.json()["code"] == "not_found"


class SseReader:
    """Reads one SSE stream in a thread, keeping every parsed event."""

    def __init__(self, city: RunningCity, path: str,
                 headers: dict[str, str] | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", city.port, timeout=30)
        self.conn.request("GET", path, headers=headers or {})
        self.resp = self.conn.getresponse()
        self.events: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            for raw in self.resp:
                line = raw.decode().rstrip("\n")
                if not line:
                    if "data" in fields:
                        self.events.append({"event": fields.get("event"),
                                            "id": fields.get("id"),
                                            "data": json.loads(fields["data"])})
                    fields = {}
                elif not line.startswith(":"):
                    key, _, value = line.partition(": ")
                    fields[key] = value
        except OSError:
            pass

    def close(self) -> None:
        self.conn.close()


def test_sse_stream_receives_an_emitted_event(city: RunningCity) -> None:
    reader = SseReader(city, "/v0/events/stream")
    try:
        assert reader.resp.status == 200
        assert reader.resp.headers["Content-Type"] == "text/event-stream"
        city.gc("event", "emit", "test.ping", "--actor", "tester", "--message", "over SSE")
        wait_for(lambda: any(e["event"] == "test.ping" for e in reader.events), 15,
                 what="test.ping on the stream")
        ping = next(e for e in reader.events if e["event"] == "test.ping")
        assert ping["data"]["message"] == "over SSE" and ping["data"]["actor"] == "tester"
        assert ping["id"] == str(ping["data"]["seq"])
    finally:
        reader.close()


def test_sse_replays_after_a_cursor(city: RunningCity) -> None:
    city.gc("event", "emit", "test.old", "--actor", "t", "--message", "before")
    items = city.get("/v0/events?type=test.old").json()["items"]
    seq = items[0]["seq"]
    reader = SseReader(city, f"/v0/events/stream?after_seq={seq - 1}&type=test.old,test.new")
    try:
        wait_for(lambda: len(reader.events) >= 1, 10, what="the replay")
        city.gc("event", "emit", "test.new", "--actor", "t", "--message", "after")
        wait_for(lambda: len(reader.events) >= 2, 10, what="the live event")
        assert [e["data"]["message"] for e in reader.events] == ["before", "after"]
    finally:
        reader.close()


def test_a_foreign_host_name_is_refused_on_loopback(city: RunningCity) -> None:
    # DNS rebinding: a page on evil.example re-pointed at 127.0.0.1 sends its own name.
    resp = city.request("GET", "/v0/status", headers={"Host": f"evil.example:{city.port}"})
    assert resp.status == 403 and resp.json()["code"] == "host"
    assert city.request("GET", "/v0/status",
                        headers={"Host": f"localhost:{city.port}"}).status == 200


def test_a_blocked_agent_says_what_it_waits_for(tmp_path: Path) -> None:
    extra = ('[[agent]]\nname = "base"\ncommand = "exec sleep 3600"\n'
             'work_dir = "/nonexistent/gascity-test-dir"\n'
             '[[agent]]\nname = "dependent"\ncommand = "exec sleep 3600"\n'
             'depends_on = ["base"]\n')
    city = start_city(tmp_path, api_extra=extra)
    try:
        dependent = city.get("/v0/agent/dependent").json()
        assert dependent["reasons"] == ["waiting for base"], dependent
        assert dependent["running_sessions"] == 0
        assert city.metric("gascity_session_start_failures_total", agent="base") == 1
    finally:
        stop_city(city)


def test_rigs_in_status_agents_and_sessions(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "packs/kit/pack.toml": '[pack]\nname = "kit"\nschema = 2\n',
        "packs/kit/agents/witness/agent.toml": 'start_command = "exec sleep 3600"\n',
        "front/.keep": "", "back/.keep": "",
    })
    rigs = ('[[rigs]]\nname = "front"\npath = "front"\nincludes = ["packs/kit"]\n'
            '[[rigs]]\nname = "back"\npath = "back"\nsuspended = true\n')
    city = start_city(tmp_path, api_extra=rigs)
    try:
        status = city.get("/v0/status").json()
        assert (status["rig_count"], status["rigs"]) == (2, {"total": 2, "suspended": 1})
        witness = city.get("/v0/agent/front--witness").json()
        assert (witness["rig"], witness["state"]) == ("front", "running")
        # The reference's qualified name finds it too, for reads and mutations.
        assert city.get("/v0/agent/front/witness").json() == witness
        assert city.get("/v0/agent/front/nobody").status == 404
        sessions = {s["name"]: s for s in city.get("/v0/sessions").json()["items"]}
        assert sessions["front--witness"]["rig"] == "front"
        assert sessions["mayor"]["rig"] == ""
        resp = city.post("/v0/agent/front/witness/suspend", token=city.token())
        assert resp.status == 200 and resp.json()["agent"] == "front--witness"
        assert city.get("/v0/agent/front--witness").json()["state"] == "suspended"
    finally:
        stop_city(city)


def test_sse_replays_every_event_after_an_old_cursor(city: RunningCity) -> None:
    # A client reconnecting far behind (Last-Event-ID of long ago) gets every event
    # since, more than one page of them, and then the live ones, with no gap.
    with City.open(city.dir, roles=("events",), env=gc_env(), observers=False) as other:
        for i in range(1234):
            other.hooks.emit_event(EventDraft("test.bulk", "t", message=str(i)))
        other.hooks.emit_event(EventDraft("mail.sent", "t"))
    # Once the server's feed has passed them all (it counts mail.sent as it reads), they
    # reach a new client only through its replay.
    wait_for(lambda: city.metric("gascity_mail_sent_total") == 1, 30, what="the feed")
    reader = SseReader(city, "/v0/events/stream?type=test.bulk,test.live",
                       headers={"Last-Event-ID": "0"})
    try:
        wait_for(lambda: len(reader.events) >= 1234, 60, what="the whole replay")
        city.gc("event", "emit", "test.live", "--actor", "t")
        wait_for(lambda: len(reader.events) == 1235, 15, what="the live event after it")
        assert [e["data"]["message"] for e in reader.events[:1234]] == [
            str(i) for i in range(1234)]
        seqs = [int(e["id"]) for e in reader.events]
        assert seqs == sorted(set(seqs))
    finally:
        reader.close()
