"""Exit codes: 2 is a tolerated no-op with deliberate meanings, 1 carries stderr."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gascity.errors import SessionError, SessionExists, SessionNotFound, Unsupported
from gascity.testing import hooks_for
from gascity.types import Liveness, StartConfig

from .conftest import MakeProvider, WriteScript


def logged_ops(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def test_exit_2_on_every_op_is_tolerated_and_never_dead(
    make_provider: MakeProvider, write_script: WriteScript, tmp_path: Path
) -> None:
    log = tmp_path / "ops.log"
    script = write_script(f'#!/bin/sh\necho "$1" >> "{log}"\ncat >/dev/null\nexit 2\n')
    provider = make_provider(script)
    hooks = hooks_for(provider)
    config = StartConfig(command="agent", work_dir=str(tmp_path), meta={"gc.fingerprint": "f1"})

    hooks.start("worker-1", config)
    [listed] = hooks.list_running("")
    assert listed.name == "worker-1"
    assert listed.liveness is Liveness.UNKNOWN  # unknown, never DEAD
    assert listed.meta is None and listed.processes is None
    assert hooks.list_running("other") == []

    hooks.interrupt("worker-1")
    hooks.nudge("worker-1", "hello")
    assert hooks.peek("worker-1", 10) == ""
    assert hooks.process_alive("worker-1", ["claude"]) is None
    assert hooks.last_activity("worker-1") is None
    hooks.remove_meta("worker-1", "gc.drain")
    with pytest.raises(Unsupported):
        hooks.get_meta("worker-1", "gc.fingerprint")
    with pytest.raises(Unsupported):
        hooks.set_meta("worker-1", "gc.drain", "1")
    provider.send_keys("worker-1", ["Enter"])
    provider.clear_scrollback("worker-1")
    provider.copy_to("worker-1", str(tmp_path), "x")

    # A restarted controller (a new provider on the same city) still sees it.
    again = make_provider(script)
    assert [s.name for s in again.list_running("")] == ["worker-1"]

    assert hooks.stop("worker-1") is True  # is-running unknown: report a stop
    assert hooks.list_running("") == []
    ops = set(logged_ops(log))
    assert ops >= {
        "start", "list-running", "is-running", "interrupt", "nudge", "peek",
        "process-alive", "get-last-activity", "remove-meta", "get-meta", "set-meta",
        "send-keys", "clear-scrollback", "copy-to", "stop",
    }


def test_is_running_unsupported_is_derived_from_list_running(
    make_provider: MakeProvider, write_script: WriteScript, tmp_path: Path
) -> None:
    log = tmp_path / "ops.log"
    script = write_script(
        "#!/bin/sh\n"
        f'echo "$1 $2" >> "{log}"\n'
        'case "$1" in\n'
        "  list-running) echo alpha; echo alphabet ;;\n"
        "  stop) ;;\n"
        "  *) exit 2 ;;\n"
        "esac\n"
    )
    provider = make_provider(script)
    assert provider.is_running("alpha") is True
    assert provider.is_running("alp") is False  # an exact match, not a prefix
    assert provider.stop("alpha") is True
    assert provider.stop("ghost") is False
    assert "list-running alpha" in log.read_text()


def test_list_running_unsupported_drops_sessions_the_script_says_are_gone(
    make_provider: MakeProvider, write_script: WriteScript, tmp_path: Path
) -> None:
    script = write_script(
        "#!/bin/sh\ncat >/dev/null\n"
        'case "$1" in\n'
        '  is-running) [ "$2" = alive ] && echo true || echo false ;;\n'
        "  start) ;;\n"
        "  *) exit 2 ;;\n"
        "esac\n"
    )
    provider = make_provider(script)
    for name in ("alive", "gone"):
        provider.start(name, StartConfig(command="x", work_dir=str(tmp_path)))
    assert [s.name for s in provider.list_running("")] == ["alive"]


def test_stderr_of_a_failing_op_reaches_the_error(
    make_provider: MakeProvider, write_script: WriteScript, tmp_path: Path
) -> None:
    log = tmp_path / "ops.log"
    script = write_script(
        "#!/bin/sh\n"
        f'echo "$1" >> "{log}"\n'
        "cat >/dev/null\n"
        'echo "backend refused $1 for $2: quota exceeded" >&2\n'
        "exit 1\n"
    )
    provider = make_provider(script)
    hooks = hooks_for(provider)
    calls = {
        "peek": lambda: hooks.peek("w1", 5),
        "nudge": lambda: hooks.nudge("w1", "hi"),
        "set-meta": lambda: hooks.set_meta("w1", "k", "v"),
        "list-running": lambda: hooks.list_running("w"),
        "interrupt": lambda: hooks.interrupt("w1"),
        "process-alive": lambda: hooks.process_alive("w1", ["x"]),
        "get-last-activity": lambda: hooks.last_activity("w1"),
    }
    for op, call in calls.items():
        with pytest.raises(SessionError) as info:
            call()
        assert f"backend refused {op} for " in str(info.value)
        assert "quota exceeded" in str(info.value)
        assert str(script) in str(info.value)

    log.unlink()
    with pytest.raises(SessionError, match="backend refused start for w1: quota exceeded"):
        hooks.start("w1", StartConfig(command="x", work_dir=str(tmp_path)))
    # A failed start is torn down, and the teardown's own failure is reported too.
    assert logged_ops(log) == ["start", "stop"]


def test_exit_code_without_stderr_is_named(
    make_provider: MakeProvider, write_script: WriteScript
) -> None:
    provider = make_provider(write_script("#!/bin/sh\nexit 7\n"))
    with pytest.raises(SessionError, match="exit status 7"):
        provider.peek("w1", 1)


def test_collision_and_missing_session_are_recognised(
    make_provider: MakeProvider, write_script: WriteScript, tmp_path: Path
) -> None:
    log = tmp_path / "ops.log"
    script = write_script(
        "#!/bin/sh\n"
        f'echo "$1" >> "{log}"\n'
        "cat >/dev/null\n"
        'case "$1" in\n'
        '  start) echo "session \\"$2\\" already running" >&2; exit 1 ;;\n'
        '  *) echo "no such session: $2" >&2; exit 1 ;;\n'
        "esac\n"
    )
    provider = make_provider(script)
    with pytest.raises(SessionExists):
        provider.start("w1", StartConfig(command="x", work_dir=str(tmp_path)))
    assert logged_ops(log) == ["start"]  # never tear down the live owner of the name
    with pytest.raises(SessionNotFound, match="no such session: w1"):
        provider.interrupt("w1")
    with pytest.raises(SessionNotFound):
        provider.peek("w1", 3)


def test_results_are_parsed_as_the_reference_does(
    make_provider: MakeProvider, write_script: WriteScript
) -> None:
    script = write_script(
        "#!/bin/sh\ncat >/dev/null\n"
        'case "$1" in\n'
        "  list-running) printf 'w-1\\n\\nw-2\\nw-1\\nother\\n\\n\\n' ;;\n"
        "  peek) printf 'line 1\\nline 2\\n\\n\\n' ;;\n"
        "  get-meta) [ \"$3\" = set ] && printf 'v a l\\n'; exit 0 ;;\n"
        "  process-alive) echo true ;;\n"
        '  get-last-activity) [ "$2" = good ] && echo 2025-06-15T10:30:00+02:00'
        ' || echo yesterday ;;\n'
        "  *) exit 2 ;;\n"
        "esac\n"
    )
    provider = make_provider(script)
    assert [s.name for s in provider.list_running("w-")] == ["w-1", "w-2"]
    assert provider.peek("w-1", 2) == "line 1\nline 2"
    assert provider.get_meta("w-1", "set") == "v a l"
    assert provider.get_meta("w-1", "unset") is None  # empty stdout = not set
    assert provider.process_alive("w-1", ["claude"]) is True
    assert provider.process_alive("w-1", []) is True  # nothing to look for: no call
    assert provider.last_activity("good") == datetime(2025, 6, 15, 8, 30, tzinfo=UTC)
    assert provider.last_activity("bad") is None  # malformed reads as unknown
