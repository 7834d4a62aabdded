"""Files and terminals (issue 12, defects 9 and 11): secrets masked in `gc config show`,
.gc private, control characters escaped, `gc status` read-only, names checked early.
Each test failed on the code before the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gascity.cli.terminal import safe_line, safe_text
from gascity.config import parse_city
from gascity.errors import ConfigError


def gc(city: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "gc"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GC_")}
    return subprocess.run([str(exe), "--city", str(city), *args], capture_output=True,
                          text=True, env=env, timeout=60, check=False)


@pytest.fixture
def city(tmp_path: Path) -> Path:
    (tmp_path / "city.toml").write_text('[workspace]\nname = "files"\n')
    return tmp_path


def test_config_show_masks_secrets(city: Path) -> None:
    (city / "city.toml").write_text(
        '[workspace]\nname = "files"\n\n'
        '[mail]\nprovider = "postgres"\n\n[mail.postgres]\n'
        'dsn = "postgresql://gc:hunter2@db.example:5432/mail"\n\n'
        '[events]\nprovider = "dolt"\n\n[events.dolt]\nhost = "dolt"\npassword = "s3cret-pw"\n'
        'password_env = "DOLT_PASSWORD"\n'
    )
    for args in (("config", "show"), ("config", "show", "--json")):
        result = gc(city, *args)
        assert result.returncode == 0, result.stderr
        assert "hunter2" not in result.stdout and "s3cret-pw" not in result.stdout
        assert "gc:********@db.example" in result.stdout
        assert "DOLT_PASSWORD" in result.stdout  # the name of a variable is no secret


def test_mail_db_and_event_log_are_private(city: Path) -> None:
    assert gc(city, "mail", "send", "--from", "a", "--to", "b", "--body", "x").returncode == 0
    assert gc(city, "event", "emit", "t.x", "--message", "m").returncode == 0
    state = city / ".gc"
    assert (state.stat().st_mode & 0o777) == 0o700
    for path in state.iterdir():
        if path.is_file():
            assert (path.stat().st_mode & 0o777) == 0o600, path.name


def test_control_characters_never_reach_the_terminal(city: Path) -> None:
    evil = "\x1b]0;owned\x07 \x1b[2J\x9b31m"
    assert gc(city, "mail", "send", "--from", "a", "--to", "b", "--subject", evil,
              "--body", f"body {evil}\nline two").returncode == 0
    assert gc(city, "event", "emit", "t.x", "--message", evil).returncode == 0
    for args in (("mail", "inbox", "b"), ("mail", "read", "1"), ("events",)):
        out = gc(city, *args).stdout
        assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out, (args, out)
        assert "\\x1b]0;owned\\x07" in out, (args, out)
    assert safe_text("a\tb\nc\x1b") == "a\tb\nc\\x1b"
    assert safe_line("a\nb") == "a\\nb"


def test_status_never_creates_or_writes_the_lock(city: Path) -> None:
    result = gc(city, "status")
    assert result.returncode == 0, result.stderr
    assert not (city / ".gc" / "controller.lock").exists()


def test_over_long_agent_names_are_refused_at_validation() -> None:
    with pytest.raises(ConfigError, match="at most 56 characters"):
        parse_city(f'[[agent]]\nname = "{"a" * 300}"\ncommand = "x"\n')
    parse_city(f'[[agent]]\nname = "{"a" * 56}"\ncommand = "x"\n')


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", "x\x1b"])
def test_session_kill_of_a_path_is_a_clear_error(city: Path, bad: str) -> None:
    result = gc(city, "session", "kill", bad)
    assert result.returncode == 2
    assert "not a session name" in result.stderr and "was not running" not in result.stdout


def test_an_event_that_cannot_be_written_is_an_error_not_spooled(city: Path) -> None:
    """A store failure used to be swallowed (a traceback in the log, then exit 1
    "did not record"); with spooled emits exiting 0 it must never read as spooled."""
    (city / ".gc").mkdir(mode=0o700)
    (city / ".gc" / "events.lock").mkdir()  # the lock cannot be opened
    result = gc(city, "event", "emit", "t.x", "--message", "m")
    assert result.returncode == 1
    assert "events.lock" in result.stderr and "not recorded" in result.stderr
    assert "Traceback" not in result.stderr and "spooled" not in result.stderr
