"""Files and terminals (issue 12, defects 9 and 11): secrets masked in `gc config show`,
.gc private, control characters escaped, `gc status` read-only, names checked early.
Each test failed on the code before the fix."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from gascity.config import parse_city
from gascity.controller.lock import ControllerLock
from gascity.errors import ConfigError


def gc(city: Path, *args: str, prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "gc"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GC_")}
    return subprocess.run([*prefix, str(exe), "--city", str(city), *args], capture_output=True,
                          text=True, env=env, timeout=60, check=False)


def without_dac_override() -> list[str]:
    """A prefix under which file modes bind: root (CI runs as root) bypasses them
    through CAP_DAC_OVERRIDE, so it is dropped from the bounding set (util-linux
    ``setpriv``, on every Debian); the uid, and so what the venv may read, stays."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "running as root, this test needs util-linux setpriv to drop CAP_DAC_OVERRIDE"
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner,-linux_immutable"]


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


def test_the_escapes_keep_tabs_and_newlines_where_text_may_span_lines() -> None:
    # Imported here: the CLI test above must run (and fail) on code without the module.
    from gascity.cli.terminal import safe_line, safe_text

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


def test_a_read_only_gc_answers_or_says_why_and_status_writes_nothing(city: Path) -> None:
    """A read-only .gc (another user's city, a read-only mount) used to give tracebacks,
    and `gc status` opened the controller lock for writing (so it failed, or saw no
    controller)."""
    assert gc(city, "mail", "send", "--from", "a", "--to", "b", "--body", "hello").returncode == 0
    assert gc(city, "event", "emit", "t.x", "--message", "ro-event").returncode == 0
    state = city / ".gc"
    lock = ControllerLock(state / "controller.lock")
    lock.acquire()  # as a running controller holds it
    prefix = without_dac_override()
    files = [p for p in state.iterdir() if p.is_file()]
    try:
        for path in files:
            path.chmod(0o400)
        state.chmod(0o500)
        seen = {p.name: (p.stat().st_mode, p.stat().st_mtime_ns, p.stat().st_size)
                for p in files}
        # The mechanism itself: nothing under .gc may be written from here.
        probe = subprocess.run([*prefix, "sh", "-c", 'echo x >> "$1" || exit 3; : > "$2"',
                                "probe", str(state / "controller.lock"), str(state / "new")],
                               capture_output=True, check=False)
        assert probe.returncode == 3, ("the read-only .gc could still be written", probe.stderr)
        status = gc(city, "status", prefix=prefix)
        assert status.returncode == 0, status.stderr
        assert f"controller: running (pid {os.getpid()})" in status.stdout, status.stdout
        events = gc(city, "events", prefix=prefix)
        assert events.returncode == 0 and "ro-event" in events.stdout, events.stderr
        for args in (("mail", "inbox", "b"), ("mail", "count", "b"), ("session", "list")):
            result = gc(city, *args, prefix=prefix)
            assert "Traceback" not in result.stderr, (args, result.stderr)
            if result.returncode != 0:  # or a one-line error naming the file
                assert result.returncode == 1 and "mail.db" in result.stderr, (args, result)
                assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        after = {p.name: (p.stat().st_mode, p.stat().st_mtime_ns, p.stat().st_size)
                 for p in state.iterdir() if p.is_file()}
        assert after == seen
    finally:
        state.chmod(0o700)
        for path in files:
            path.chmod(0o600)
        lock.release()
