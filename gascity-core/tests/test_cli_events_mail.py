"""`gc events`, `gc event emit` and `gc mail` with the reference's arguments and events."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gascity.cli.app import cli


@pytest.fixture
def city(tmp_path: Path) -> Path:
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "c"), "--name", "demo"])
    assert result.exit_code == 0, result.output
    return tmp_path / "c"


def gc(city: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    base = {"GC_SESSION": "fake", "GC_AGENT": "", "GC_ALIAS": "", "GC_SESSION_ID": ""}
    return CliRunner().invoke(cli, ["--city", str(city), *args], env={**base, **(env or {})},
                              catch_exceptions=False)


def events(city: Path, *args: str) -> list[dict[str, object]]:
    result = gc(city, "events", "--json", "-n", "0", *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


# ---------------------------------------------------------------- events


def test_the_controller_records_the_reference_names(city: Path) -> None:
    assert gc(city, "start", "--once").exit_code == 0
    woke = events(city, "--type", "session.woke")
    assert sorted(e["subject"] for e in woke) == ["deacon", "mayor", "polecat-1", "polecat-2"]
    assert events(city, "--type", "pool.scaled") != []
    # A filter written for the old name still finds them.
    assert len(events(city, "--type", "session.started")) == 4


def test_event_payloads_of_any_json_type(city: Path) -> None:
    for payload in ('[1, 2]', '"text"', "3", "null", '{"k": "v"}'):
        result = gc(city, "event", "emit", "custom.thing", "--payload", payload)
        assert result.exit_code == 0, result.output
    shown = events(city, "--type", "custom.thing")
    assert [e["payload"] for e in shown] == [[1, 2], "text", 3, None, {"k": "v"}]
    table = gc(city, "events")
    assert table.exit_code == 0 and "Traceback" not in table.output
    assert [e["payload"] for e in events(city, "--payload-match", "k=v")] == [{"k": "v"}]


def test_event_emit_refuses_an_empty_type(city: Path) -> None:
    for blank in ("", "  "):
        result = gc(city, "event", "emit", blank)
        assert result.exit_code == 2, result.output
        assert "must not be empty" in result.output
    assert events(city) == []


def test_event_emit_actor_defaults_from_the_session(city: Path) -> None:
    gc(city, "event", "emit", "a.b", env={"GC_AGENT": "polecat-1"})
    gc(city, "event", "emit", "a.b")
    assert [e["actor"] for e in events(city, "--type", "a.b")] == ["polecat-1", "human"]


def test_events_seq_prints_the_head(city: Path) -> None:
    assert gc(city, "events", "--seq").output.strip() == "0"
    gc(city, "event", "emit", "x.y")
    gc(city, "event", "emit", "x.y")
    assert gc(city, "events", "--seq").output.strip() == "2"


def test_events_payload_match_and_or(city: Path) -> None:
    for n, who in enumerate(["a", "b", "c"]):
        gc(city, "event", "emit", "job.done", "--payload", json.dumps({"who": who, "n": n}))
    got = events(city, "--payload-match", "who=a", "--payload-match", "who=c")
    assert [e["payload"]["who"] for e in got] == ["a", "c"]  # type: ignore[index]
    got = events(city, "--payload-match", "who=c", "--payload-match", "n=2")
    assert [e["payload"]["who"] for e in got] == ["c"]  # type: ignore[index]
    bad = gc(city, "events", "--payload-match", "novalue")
    assert bad.exit_code == 2 and "key=value" in bad.output


def test_events_watch_times_out_empty_and_returns_on_a_match(city: Path) -> None:
    gc(city, "event", "emit", "old.one")
    t0 = time.monotonic()
    quiet = gc(city, "events", "--watch", "--timeout", "300ms")
    assert quiet.exit_code == 0 and quiet.output == ""
    assert time.monotonic() - t0 >= 0.3
    # --after an explicit seq finds what is already there.
    found = gc(city, "events", "--watch", "--after", "0", "--type", "old.one",
               "--timeout", "1s")
    assert found.output == ""  # 0 means "the current head": old events are not matches
    found = gc(city, "events", "--watch", "--after", "1", "--timeout", "200ms")
    assert found.output == ""
    gc(city, "event", "emit", "new.one", "--payload", '{"k": 1}')
    found = gc(city, "events", "--watch", "--after", "1", "--timeout", "5s")
    assert [json.loads(x)["type"] for x in found.output.splitlines()] == ["new.one"]

    def later() -> None:
        time.sleep(0.5)
        gc(city, "event", "emit", "skip.me")
        gc(city, "event", "emit", "wanted.now", "--payload", '{"k": "yes"}')

    thread = threading.Thread(target=later)
    thread.start()
    waited = gc(city, "events", "--watch", "--type", "wanted.now", "--payload-match",
                "k=yes", "--timeout", "20s")
    thread.join()
    lines = [json.loads(x) for x in waited.output.splitlines()]
    assert [e["type"] for e in lines] == ["wanted.now"]


# ------------------------------------------------------------------ mail


def test_mail_send_positional_with_default_sender(city: Path) -> None:
    result = gc(city, "mail", "send", "mayor", "hey there")
    assert result.exit_code == 0, result.output
    inbox = json.loads(gc(city, "mail", "inbox", "mayor", "--json").output)
    assert [(m["from"], m["body"], m["subject"]) for m in inbox] == [
        ("human", "hey there", "hey there")]
    gc(city, "mail", "send", "mayor", "-s", "Build", "-m", "green", env={"GC_AGENT": "deacon"})
    gc(city, "mail", "send", "--to", "mayor", "via --to")
    inbox = json.loads(gc(city, "mail", "inbox", "mayor", "--json").output)
    assert [m["from"] for m in inbox] == ["human", "deacon", "human"]
    assert inbox[1]["subject"] == "Build" and inbox[1]["body"] == "green"
    missing = gc(city, "mail", "send")
    assert missing.exit_code == 2 and "recipient" in missing.output


def test_mail_inbox_defaults_to_the_caller_and_takes_to(city: Path) -> None:
    gc(city, "mail", "send", "human", "for the human")
    gc(city, "mail", "send", "polecat-1", "for the polecat")
    assert "for the human" in json.dumps(json.loads(gc(city, "mail", "inbox", "--json").output))
    mine = json.loads(gc(city, "mail", "inbox", "--json", env={"GC_AGENT": "polecat-1"}).output)
    assert [m["body"] for m in mine] == ["for the polecat"]
    by_to = gc(city, "mail", "inbox", "--to", "polecat-1", "--json")
    assert by_to.exit_code == 0, by_to.output
    assert [m["body"] for m in json.loads(by_to.output)] == ["for the polecat"]
    count = gc(city, "mail", "count", env={"GC_AGENT": "polecat-1"})
    assert "1 unread" in count.output


def test_mail_check_exit_codes_and_inject(city: Path) -> None:
    empty = gc(city, "mail", "check", "mayor")
    assert empty.exit_code == 1
    assert gc(city, "mail", "check", "mayor", "--inject").exit_code == 0
    gc(city, "mail", "send", "mayor", "-s", "Need review", "-m", "PR 42")
    full = gc(city, "mail", "check", "mayor")
    assert full.exit_code == 0 and "1 unread" in full.output
    inject = gc(city, "mail", "check", "--inject", env={"GC_AGENT": "mayor"})
    assert inject.exit_code == 0
    assert inject.output.startswith("<system-reminder>") and "Need review" in inject.output


def test_mail_peek_mark_read_mark_unread_delete(city: Path) -> None:
    sent = json.loads(gc(city, "mail", "send", "mayor", "hello", "--json").output)
    mid = str(sent["id"])
    peek = gc(city, "mail", "peek", mid)
    assert peek.exit_code == 0 and "hello" in peek.output
    assert gc(city, "mail", "check", "mayor").exit_code == 0  # peek left it unread
    assert gc(city, "mail", "mark-read", mid).exit_code == 0
    assert gc(city, "mail", "check", "mayor").exit_code == 1
    assert gc(city, "mail", "mark-unread", mid).exit_code == 0
    assert gc(city, "mail", "check", "mayor").exit_code == 0
    assert gc(city, "mail", "delete", mid).exit_code == 0
    assert gc(city, "mail", "check", "mayor").exit_code == 1
    again = gc(city, "mail", "delete", mid)
    assert again.exit_code == 1 and "already archived" in again.output
    assert gc(city, "mail", "peek", "999").exit_code == 1


def test_mail_events_are_recorded(city: Path) -> None:
    sent = json.loads(gc(city, "mail", "send", "mayor", "-s", "Hi", "-m", "secret body",
                         "--json", env={"GC_AGENT": "deacon"}).output)
    gc(city, "mail", "read", str(sent["id"]), env={"GC_AGENT": "mayor"})
    gc(city, "mail", "reply", str(sent["id"]), "-m", "thanks", env={"GC_AGENT": "mayor"})
    types = [(e["type"], e["actor"], e["subject"]) for e in events(city)]
    assert types[:2] == [("mail.sent", "deacon", str(sent["id"])),
                         ("mail.read", "mayor", str(sent["id"]))]
    assert types[2][0] == "mail.replied" and types[2][1] == "mayor"
    first = events(city, "--type", "mail.sent")[0]
    assert first["message"] == "mayor"
    assert "secret body" not in json.dumps(first)


def test_mail_send_all_broadcasts_to_live_sessions(city: Path) -> None:
    gc(city, "start", "--once")
    result = gc(city, "mail", "send", "--all", "Status update", env={"GC_AGENT": "mayor"})
    assert result.exit_code == 0, result.output
    for name in ("deacon", "polecat-1", "polecat-2"):
        inbox = json.loads(gc(city, "mail", "inbox", name, "--json").output)
        assert [m["body"] for m in inbox] == ["Status update"], name
    assert json.loads(gc(city, "mail", "inbox", "mayor", "--json").output) == []
    assert json.loads(gc(city, "mail", "inbox", "human", "--json").output) == []
    both = gc(city, "mail", "send", "--all", "--to", "x", "hi")
    assert both.exit_code == 2
