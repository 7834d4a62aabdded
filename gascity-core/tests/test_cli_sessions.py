"""`gc session` and `gc runtime` with the reference's subcommands, over the fake provider
and reconciled by real one-pass controllers (`gc start --once`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gascity.cli.app import cli

CITY = """
[workspace]
name = "sess"
[daemon]
shutdown_timeout = "100ms"
[[agent]]
name = "mayor"
command = "mayor"
[[agent]]
name = "polecat"
command = "polecat"
min_active_sessions = 1
max_active_sessions = 3
scale_check = "echo 1"
"""


def gc(city: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--city", str(city), *args],
                              env={"GC_SESSION": "fake", **(env or {})}, catch_exceptions=False)


def names(city: Path) -> list[str]:
    return sorted(s["name"] for s in json.loads(gc(city, "session", "list", "--json").output))


def tick(city: Path) -> str:
    result = gc(city, "start", "--once")
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def city(tmp_path: Path) -> Path:
    (tmp_path / "city.toml").write_text(CITY)
    tick(tmp_path)
    assert names(tmp_path) == ["mayor", "polecat-1"]
    return tmp_path


def test_kill_of_an_unknown_session_fails(city: Path) -> None:
    result = gc(city, "session", "kill", "nosuch")
    assert result.exit_code == 1 and "no running session 'nosuch'" in result.output
    assert gc(city, "session", "kill", "mayor").exit_code == 0


def test_nudge_sends_help_as_text_and_joins_words(city: Path) -> None:
    result = gc(city, "session", "nudge", "mayor", "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" not in result.output
    gc(city, "session", "nudge", "mayor", "two", "words")
    peek = gc(city, "session", "peek", "mayor").output
    assert "--help" in peek and "two words" in peek
    assert "Usage" in gc(city, "session", "nudge", "--help").output


def test_suspend_holds_a_session_until_wake(city: Path) -> None:
    assert gc(city, "session", "suspend", "mayor").exit_code == 0
    assert names(city) == ["polecat-1"]
    tick(city)
    assert names(city) == ["polecat-1"], "a suspended session is not restarted"
    assert gc(city, "session", "wake", "mayor").exit_code == 0
    tick(city)
    assert names(city) == ["mayor", "polecat-1"]
    bad = gc(city, "session", "suspend", "nobody")
    assert bad.exit_code == 1 and "no session of this city" in bad.output


def test_new_adds_a_pool_instance_and_close_removes_it(city: Path) -> None:
    assert gc(city, "session", "new", "polecat").exit_code == 0
    tick(city)
    assert names(city) == ["mayor", "polecat-1", "polecat-2"]
    assert gc(city, "session", "close", "polecat-2").exit_code == 0
    tick(city)
    assert names(city) == ["mayor", "polecat-1"]
    single = gc(city, "session", "new", "mayor")
    assert single.exit_code == 1 and "runs one session" in single.output
    assert gc(city, "session", "new", "polecat", "--alias", "sky").exit_code == 2


def test_reset_restarts_fresh(city: Path) -> None:
    gc(city, "session", "nudge", "mayor", "old context")
    assert gc(city, "session", "reset", "mayor").exit_code == 0
    out = tick(city)
    assert "started mayor" in out
    assert "old context" not in gc(city, "session", "peek", "mayor").output
    assert gc(city, "session", "reset", "polecat-9").exit_code == 1


def test_wait_and_logs(city: Path) -> None:
    assert gc(city, "session", "wait", "mayor", "--timeout", "1s").exit_code == 0
    late = gc(city, "session", "wait", "polecat-3", "--timeout", "300ms")
    assert late.exit_code == 1 and "not running after 300ms" in late.output
    gc(city, "session", "nudge", "mayor", "hello log")
    assert "hello log" in gc(city, "session", "logs", "mayor").output


def test_runtime_drain_undrain_and_request_restart(city: Path) -> None:
    assert gc(city, "runtime", "drain", "mayor").exit_code == 0
    assert gc(city, "runtime", "drain-check", "mayor").exit_code == 0
    tick(city)
    assert "mayor" in names(city), "a drained session keeps running until it acks"
    assert gc(city, "runtime", "drain-check", "mayor").exit_code == 0, "not called off"
    assert gc(city, "runtime", "undrain", "mayor").exit_code == 0
    assert gc(city, "runtime", "drain-check", "mayor").exit_code == 1
    # drain then ack: stopped and started again fresh.
    gc(city, "runtime", "drain", "mayor")
    gc(city, "runtime", "drain-ack", env={"GC_SESSION_NAME": "mayor"})
    assert "started mayor" in tick(city)
    assert gc(city, "runtime", "drain-check", "mayor").exit_code == 1
    result = gc(city, "runtime", "request-restart", "--no-block",
                env={"GC_SESSION_NAME": "polecat-1"})
    assert result.exit_code == 0, result.output
    assert "started polecat-1" in tick(city)
    types = [json.loads(x)["type"] for x in
             (city / ".gc" / "events.jsonl").read_text().splitlines()]
    assert "session.draining" in types and "session.undrained" in types


def test_mail_notify_nudges_the_recipient_and_nudge_status(city: Path) -> None:
    sent = gc(city, "mail", "send", "mayor", "-s", "Build is green", "--notify")
    assert sent.exit_code == 0, sent.output
    assert "You have mail from human" in gc(city, "session", "peek", "mayor").output
    status = gc(city, "nudge", "status", "mayor", "--json")
    assert json.loads(status.output) == {"session": "mayor", "queued": [], "dead_letter": []}
