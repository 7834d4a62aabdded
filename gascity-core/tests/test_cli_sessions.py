"""`gc session` and `gc runtime` with the reference's subcommands, over the fake provider
and reconciled by real one-pass controllers (`gc start --once`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gascity.cli.app import cli
from gascity.testing import wait_for

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


def test_submit_types_a_message_interrupting_first_when_asked(city: Path) -> None:
    plain = gc(city, "session", "submit", "mayor", "status", "update")
    assert plain.exit_code == 0 and "mayor: submitted (default)" in plain.output
    now = gc(city, "session", "submit", "--intent", "interrupt_now", "mayor", "stop", "--help")
    assert now.exit_code == 0, now.output
    assert "Usage" not in now.output
    lines = gc(city, "session", "peek", "mayor").output.splitlines()
    assert lines[-3:] == ["status update", "^C", "stop --help"]
    gone = gc(city, "session", "submit", "polecat-9", "hello")
    assert gone.exit_code == 1 and "no running session 'polecat-9'" in gone.output
    bad = gc(city, "session", "submit", "--intent", "later", "mayor", "x")
    assert bad.exit_code == 2


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


def test_new_with_an_alias_runs_a_session_of_that_name(city: Path) -> None:
    """As the reference: gc session new TEMPLATE --alias NAME makes a session that
    commands and mail address as NAME, with GC_ALIAS=NAME; gc session close NAME ends it."""
    made = gc(city, "session", "new", "polecat", "--alias", "sky")
    assert made.exit_code == 0, made.output
    assert "session sky of polecat asked for" in made.output
    tick(city)
    assert names(city) == ["mayor", "polecat-1", "sky"]
    stored = json.loads((city / ".gc" / "fake-sessions.json").read_text())["sky"]
    assert stored["env"]["GC_ALIAS"] == "sky" and stored["env"]["GC_SESSION_NAME"] == "sky"
    assert stored["env"]["GC_TEMPLATE"] == "polecat" and stored["agent"] == "polecat"
    listed = {s["name"]: s["agent"] for s in
              json.loads(gc(city, "session", "list", "--json").output)}
    assert listed["sky"] == "polecat"
    status = json.loads(gc(city, "status", "--json").output)
    assert "sky" not in json.dumps(status.get("orphans", []))
    assert gc(city, "session", "nudge", "sky", "hello sky").exit_code == 0
    assert "hello sky" in gc(city, "session", "peek", "sky").output
    tick(city)
    assert names(city) == ["mayor", "polecat-1", "sky"], "a steady tick keeps it"
    # Suspended and woken by its name, like any session.
    assert gc(city, "session", "suspend", "sky").exit_code == 0
    tick(city)
    assert names(city) == ["mayor", "polecat-1"]
    assert gc(city, "session", "wake", "sky").exit_code == 0
    tick(city)
    assert names(city) == ["mayor", "polecat-1", "sky"]
    for bad, why in (("mayor", "already a session name of agent 'mayor'"),
                     ("polecat-2", "already a session name of agent 'polecat'"),
                     ("human", "operator's mailbox"), ("sky", "names a session of 'polecat'"),
                     ("no/slash", "expected letters, digits"), ("", "expected letters")):
        refused = gc(city, "session", "new", "polecat", "--alias", bad)
        assert refused.exit_code == 2 and why in refused.output, (bad, refused.output)
    assert gc(city, "session", "close", "sky").exit_code == 0
    tick(city)
    assert names(city) == ["mayor", "polecat-1"]
    assert "sky" not in (city / ".gc" / "overrides.json").read_text()


def test_aliased_sessions_share_the_pool_cap(city: Path) -> None:
    for alias in ("a", "b"):
        assert gc(city, "session", "new", "polecat", "--alias", alias).exit_code == 0
    tick(city)
    assert names(city) == ["a", "b", "mayor", "polecat-1"]
    assert gc(city, "session", "new", "polecat", "--alias", "c").exit_code == 0
    tick(city)
    # max_active_sessions = 3: the named sessions are kept, the numbered one yields
    # (drained, as a pool shrinks).
    listed = {s["name"]: s for s in json.loads(gc(city, "session", "list", "--json").output)}
    assert sorted(listed) == ["a", "b", "c", "mayor", "polecat-1"]
    assert listed["polecat-1"]["draining"] and not listed["c"]["draining"]
    full = gc(city, "session", "new", "polecat", "--alias", "d")
    assert full.exit_code == 1 and "max_active_sessions = 3, all named already" in full.output


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


def _entry(uuid: str, parent: str | None, kind: str, text: str = "", **extra: object) -> str:
    body: dict[str, object] = {"uuid": uuid, "parentUuid": parent, "type": kind,
                               "timestamp": "2026-01-02T03:04:05Z", **extra}
    if text:
        body["message"] = {"role": kind, "content": text}
    return json.dumps(body)


TRANSCRIPT = [
    _entry("u1", None, "user", "first question"),
    _entry("a1", "u1", "assistant", "first answer"),
    _entry("c1", None, "system", subtype="compact_boundary", logicalParentUuid="a1"),
    _entry("u2", "c1", "user", "second question"),
    _entry("x2", "u2", "assistant", "an abandoned reply"),  # a fork: retried below
    _entry("a2", "u2", "assistant", "",
           message={"role": "assistant", "content": [
               {"type": "text", "text": "second answer"},
               {"type": "tool_use", "name": "Bash", "input": {}}]}),
    "{not json: a line being written",
    _entry("c2", None, "system", subtype="compact_boundary", logicalParentUuid="a2"),
    _entry("u3", "c2", "user", "third question"),
]


def test_logs_show_the_agent_transcript_by_compaction_segment(
        city: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """As the reference: the Claude JSONL of the session's working directory, its active
    branch, --tail N compaction segments (default 1, 0 = all); [daemon] observe_paths
    is searched too. A session without one shows its provider's output (above)."""
    home = tmp_path_factory.mktemp("home")
    slug = str(city.resolve()).replace("/", "-").replace(".", "-")
    project = home / ".claude" / "projects" / slug
    project.mkdir(parents=True)
    (project / "s1.jsonl").write_text("\n".join(TRANSCRIPT) + "\n")
    env = {"HOME": str(home)}
    last = gc(city, "session", "logs", "mayor", env=env)
    assert last.exit_code == 0, last.output
    assert last.output.splitlines() == ["── context compacted ──",
                                        "03:04:05 [USER] third question"]
    every = gc(city, "session", "logs", "mayor", "--tail", "0", env=env).output.splitlines()
    assert every == ["03:04:05 [USER] first question", "03:04:05 [ASSISTANT] first answer",
                     "── context compacted ──", "03:04:05 [USER] second question",
                     "03:04:05 [ASSISTANT] second answer",
                     "03:04:05 [ASSISTANT] tool_use: Bash",
                     "── context compacted ──", "03:04:05 [USER] third question"]
    # As many boundaries as asked for (or fewer): everything, as in the reference.
    assert gc(city, "session", "logs", "mayor", "--tail", "2", env=env).output.splitlines() == (
        every)
    assert gc(city, "session", "logs", "mayor", "--tail", "-1", env=env).exit_code == 2
    # Elsewhere, through [daemon] observe_paths.
    other = tmp_path_factory.mktemp("observed")
    (project / "s1.jsonl").rename(other / "s1.jsonl")
    (other / slug).mkdir()
    (other / "s1.jsonl").rename(other / slug / "s1.jsonl")
    assert "third question" not in gc(city, "session", "logs", "mayor", env=env).output
    (city / "city.toml").write_text(CITY.replace(
        '[daemon]\n', f'[daemon]\nobserve_paths = ["{other}"]\n'))
    assert "third question" in gc(city, "session", "logs", "mayor", env=env).output


def test_logs_follow_prints_new_messages(city: Path, tmp_path_factory: pytest.TempPathFactory
                                         ) -> None:
    home = tmp_path_factory.mktemp("home")
    project = home / ".claude" / "projects" / str(city.resolve()).replace("/", "-").replace(
        ".", "-")
    project.mkdir(parents=True)
    log = project / "s1.jsonl"
    log.write_text("\n".join(TRANSCRIPT) + "\n")
    out = tmp_path_factory.mktemp("out") / "stdout"
    env = {**os.environ, "HOME": str(home), "GC_SESSION": "fake"}
    with out.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "gascity.cli", "--city", str(city),
                                 "session", "logs", "mayor", "-f"], stdout=sink, env=env)
    try:
        wait_for(lambda: "third question" in out.read_text(), 30, what="the first read")
        with log.open("a") as fh:
            fh.write(_entry("a3", "u3", "assistant", "a late answer") + "\n")
        wait_for(lambda: "[ASSISTANT] a late answer" in out.read_text(), 30,
                 what="the followed message")
        assert out.read_text().count("third question") == 1
    finally:
        proc.terminate()
        proc.wait(10)


def test_start_dry_run_previews_and_starts_nothing(tmp_path: Path) -> None:
    (tmp_path / "city.toml").write_text(CITY)
    fresh = gc(tmp_path, "start", "--dry-run")
    assert fresh.exit_code == 0, fresh.output
    lines = fresh.output.splitlines()
    assert lines[0] == "dry run: 2 session(s) wanted in city 'sess', 2 would start"
    assert any(ln.split() == ["mayor", "session=mayor"] for ln in lines)
    assert any(ln.split() == ["polecat", "session=polecat-1"] for ln in lines)
    assert lines[-1] == "nothing was started (--dry-run)"
    assert names(tmp_path) == []
    status = json.loads(gc(tmp_path, "status", "--json").output)
    assert status["controller"]["last_tick"] is None and status["holder"]["kind"] == "nobody"
    tick(tmp_path)
    gc(tmp_path, "session", "new", "polecat", "--alias", "sky")
    gc(tmp_path, "session", "suspend", "mayor")
    after = gc(tmp_path, "start", "-n").output.splitlines()
    assert after[0] == "dry run: 2 session(s) wanted in city 'sess', 1 would start"
    assert any(ln.split() == ["polecat", "session=polecat-1", "(running)"] for ln in after)
    assert any(ln.split() == ["polecat", "session=sky"] for ln in after)
    assert not any("session=mayor" in ln for ln in after)
    assert names(tmp_path) == ["polecat-1"], "the dry run started nothing"


def test_agent_add_scaffolds_an_agent_of_the_root_pack(tmp_path: Path) -> None:
    """As the reference: agents/NAME/prompt.template.md (and agent.toml for --dir or
    --suspended) in a city that is a pack; city.toml untouched; the agent is the city's."""
    (tmp_path / "city.toml").write_text(CITY)
    before = (tmp_path / "city.toml").read_text()
    no_pack = gc(tmp_path, "agent", "add", "--name", "helper")
    assert no_pack.exit_code == 1 and "create" in no_pack.output and "pack.toml" in no_pack.output
    (tmp_path / "pack.toml").write_text('[pack]\nname = "sess"\nschema = 2\n')
    added = gc(tmp_path, "agent", "add", "--name", "helper")
    assert added.exit_code == 0, added.output
    assert f"agent helper scaffolded in {tmp_path / 'agents' / 'helper'}" in added.output
    assert not (tmp_path / "agents" / "helper" / "agent.toml").exists()
    (tmp_path / "worker.md").write_text("Work on {{ .AgentName }} things.\n")
    assert gc(tmp_path, "agent", "add", "--name", "proj/worker", "--suspended",
              "--prompt-template", "worker.md").exit_code == 0
    assert (tmp_path / "agents" / "worker" / "agent.toml").read_text() == (
        'dir = "proj"\nsuspended = true\n')
    assert (tmp_path / "city.toml").read_text() == before
    listed = {a["name"]: a for a in json.loads(gc(tmp_path, "agent", "list", "--json").output)}
    assert {"mayor", "polecat", "helper", "worker"} <= set(listed)
    assert listed["worker"]["suspended"] and not listed["helper"]["suspended"]
    assert gc(tmp_path, "prime", "helper").output.startswith(
        "You are helper, an agent of this city.")
    assert gc(tmp_path, "prime", "worker").output == "Work on worker things.\n"
    for name, code, why in (("helper", 1, "agent 'helper' already exists"),
                            ("mayor", 1, "agent 'mayor' already exists"),
                            ("-bad", 2, "expected letters, digits")):
        refused = gc(tmp_path, "agent", "add", "--name", name)
        assert refused.exit_code == code and why in refused.output, (name, refused.output)
    missing = gc(tmp_path, "agent", "add", "--name", "x", "--prompt-template", "nope.md")
    assert missing.exit_code == 1 and "cannot read the prompt template" in missing.output
    assert not (tmp_path / "agents" / "x").exists()


def test_logs_of_an_aliased_session_read_its_pool_agent_transcript(
        city: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("home")
    project = home / ".claude" / "projects" / str(city.resolve()).replace("/", "-").replace(
        ".", "-")
    project.mkdir(parents=True)
    (project / "s1.jsonl").write_text("\n".join(TRANSCRIPT) + "\n")
    assert gc(city, "session", "new", "polecat", "--alias", "sky").exit_code == 0
    logs = gc(city, "session", "logs", "sky", env={"HOME": str(home)})
    assert logs.exit_code == 0 and "[USER] third question" in logs.output, logs.output
