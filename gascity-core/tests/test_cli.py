"""The gc CLI in-process (click's runner) over the persistent fake provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gascity.cli.main import cli
from gascity.config import load_city


@pytest.fixture
def city(tmp_path: Path) -> Path:
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "c"), "--name", "demo"])
    assert result.exit_code == 0, result.output
    return tmp_path / "c"


def gc(city: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    runner = CliRunner()
    return runner.invoke(cli, ["--city", str(city), *args],
                         env={"GC_SESSION": "fake", **(env or {})}, catch_exceptions=False)


def test_init_writes_a_valid_demo_city(city: Path) -> None:
    loaded = load_city(city)
    assert loaded.city_name == "demo"
    names = [a.name for a in loaded.config.agent]
    assert names == ["mayor", "deacon", "polecat"]
    pool = loaded.config.agent_named("polecat")
    assert pool is not None and pool.scale_check
    assert (city / "work-queue").read_text().count("\n") == 2
    again = CliRunner().invoke(cli, ["init", str(city)])
    assert again.exit_code != 0 and "--force" in again.output


def test_init_with_provider(tmp_path: Path) -> None:
    CliRunner().invoke(cli, ["init", str(tmp_path), "--provider", "subprocess"])
    assert load_city(tmp_path).config.session.provider == "subprocess"


def test_start_status_and_session_list(city: Path) -> None:
    result = gc(city, "start", "--once")
    assert result.exit_code == 0, result.output
    assert "started" in result.output
    status = json.loads(gc(city, "status", "--json").output)
    by_name = {a["name"]: a for a in status["agents"]}
    assert by_name["mayor"]["running"] == 1
    assert by_name["polecat"]["desired"] == 2  # two lines in work-queue
    assert by_name["polecat"]["running"] == 2
    assert status["providers"]["session"] == "fake"
    assert status["controller"]["running"] is False
    listing = json.loads(gc(city, "session", "list", "--json").output)
    assert sorted(s["name"] for s in listing) == ["deacon", "mayor", "polecat-1", "polecat-2"]
    table = gc(city, "status").output
    assert "polecat" in table and "DESIRED" in table


def test_scale_by_editing_the_work_queue(city: Path) -> None:
    gc(city, "start", "--once")
    (city / "work-queue").write_text("a\nb\nc\nd\ne\nf\n")
    result = gc(city, "start", "--once")
    assert "polecat-3" in result.output and "polecat-4" in result.output
    assert "polecat-5" not in result.output  # max_active_sessions = 4


def test_agent_suspend_and_resume(city: Path) -> None:
    gc(city, "start", "--once")
    assert gc(city, "agent", "suspend", "deacon").exit_code == 0
    result = gc(city, "start", "--once")
    assert "stopped deacon" in result.output
    names = [s["name"] for s in json.loads(gc(city, "session", "list", "--json").output)]
    assert "deacon" not in names
    gc(city, "agent", "resume", "deacon")
    assert "deacon" in gc(city, "start", "--once").output
    bad = gc(city, "agent", "suspend", "nobody")
    assert bad.exit_code != 0 and "unknown agent 'nobody'" in bad.output


def test_city_suspend(city: Path) -> None:
    gc(city, "start", "--once")
    gc(city, "suspend")
    gc(city, "start", "--once")
    assert json.loads(gc(city, "session", "list", "--json").output) == []
    assert json.loads(gc(city, "status", "--json").output)["suspended"] is True
    gc(city, "resume")
    gc(city, "start", "--once")
    assert len(json.loads(gc(city, "session", "list", "--json").output)) == 4


def test_session_peek_nudge_kill(city: Path) -> None:
    gc(city, "start", "--once")
    assert gc(city, "session", "nudge", "mayor", "hello there").exit_code == 0
    assert "hello there" in gc(city, "session", "peek", "mayor").output
    assert "stopped" in gc(city, "session", "kill", "mayor").output
    again = gc(city, "session", "kill", "mayor")
    assert again.exit_code == 1 and "no running session 'mayor'" in again.output


def test_drain_ack_and_check_from_inside_a_session(city: Path) -> None:
    gc(city, "start", "--once")
    env = {"GC_SESSION_NAME": "polecat-2"}
    assert gc(city, "runtime", "drain-check", env=env).exit_code == 1
    (city / "work-queue").write_text("only one\n")
    gc(city, "start", "--once")
    check = gc(city, "runtime", "drain-check", env=env)
    assert check.exit_code == 0 and "scale" in check.output
    assert gc(city, "runtime", "drain-ack", env=env).exit_code == 0
    result = gc(city, "start", "--once")
    assert "stopped polecat-2" in result.output


def test_events_emit_list_and_prune(city: Path) -> None:
    seq = gc(city, "event", "emit", "deploy.done", "--subject", "api", "--payload",
             '{"v": 2}').output.strip()
    assert int(seq) >= 1
    lines = gc(city, "events", "--json", "--type", "deploy.done").output.splitlines()
    event = json.loads(lines[-1])
    assert event["payload"] == {"v": 2} and event["subject"] == "api"
    bad = gc(city, "event", "emit", "x", "--payload", "{not json")
    assert bad.exit_code == 2 and "not valid JSON" in bad.output
    assert "pruned 0" in gc(city, "events", "prune", "--older-than", "1h").output


def test_mail_round_trip(city: Path) -> None:
    sent = json.loads(gc(city, "mail", "send", "--from", "mayor", "--to", "polecat-1",
                         "--subject", "Task", "--body", "fix it", "--json").output)
    inbox = json.loads(gc(city, "mail", "inbox", "polecat-1", "--json").output)
    assert [m["id"] for m in inbox] == [sent["id"]]
    assert "fix it" in gc(city, "mail", "read", str(sent["id"])).output
    assert gc(city, "mail", "inbox", "polecat-1", "--json").output.strip() == "[]"
    reply = json.loads(gc(city, "mail", "reply", str(sent["id"]), "--from", "polecat-1",
                          "--body", "done", "--json").output)
    assert reply["to"] == "mayor" and reply["thread_id"] == sent["id"]
    thread = json.loads(gc(city, "mail", "thread", str(reply["id"]), "--json").output)
    assert [m["id"] for m in thread] == [sent["id"], reply["id"]]
    assert gc(city, "mail", "archive", str(sent["id"])).exit_code == 0
    again = gc(city, "mail", "archive", str(sent["id"]))
    assert again.exit_code != 0 and "already archived" in again.output
    assert json.loads(gc(city, "mail", "count", "mayor", "--json").output) == {
        "open": 1, "unread": 1}


def test_config_commands(city: Path) -> None:
    assert "ok" in gc(city, "config", "validate").output
    shown = json.loads(gc(city, "config", "show", "--json").output)
    assert shown["daemon"]["patrol_interval"] == "30s"
    schema = json.loads(CliRunner().invoke(cli, ["config", "schema"]).output)
    assert "agent" in schema["properties"]
    (city / "city.toml").write_text("[[agent]]\nname = 'x'\nstart_comand = 'y'\n")
    bad = gc(city, "config", "validate")
    assert bad.exit_code == 2
    assert "agent[0].start_comand (agent 'x'): unknown key" in bad.output
    assert "did you mean 'start_command'?" in bad.output
    # A key Gas City has and this project does not: valid, with one warning naming it.
    (city / "city.toml").write_text(
        "[[agent]]\nname = 'x'\nstart_command = 'y'\nwork_query = 'bd ready'\n"
        "[beads]\nprovider = 'bd'\n")
    warned = gc(city, "config", "validate")
    assert warned.exit_code == 0, warned.output
    assert "agent[0].work_query (agent 'x'): recognised, not implemented here" in warned.output
    assert "beads: recognised, not implemented here (in Gas City: the bead store" in warned.output


def test_plugins_json_marks_selection(city: Path) -> None:
    rows = json.loads(gc(city, "plugins", "--json").output)
    selected = {(r["role"], r["name"]) for r in rows if r["selected"]}
    assert ("session", "fake") in selected
    assert ("events", "file") in selected and ("mail", "sqlite") in selected
    for row in rows:
        assert row["distribution"] and row["version"] and row["status"]


def test_no_city_found_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["status"], env={"GC_CITY_DIR": None})
    assert result.exit_code != 0
    assert "no city.toml" in result.output and "gc init" in result.output
