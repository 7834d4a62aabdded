"""gc-session-screen: the exec session protocol over GNU screen.

Installed on PATH by ``gascity-exec``; select it with ``GC_SESSION=exec:gc-session-screen``.
One operation per run: ``gc-session-screen <op> <name> [args...]``, values on stdin,
results on stdout, exit 0 / 1 (message on stderr) / 2 (unknown operation). screen is
always called with an argv, never a shell.

Environment:

* ``SCREENDIR``: screen's socket directory (a city or a test keeps its own).
* ``GC_EXEC_STATE_DIR``: where per-session metadata lives; without it
  ``$TMPDIR/gc-session-screen-<uid>``, as the reference's conventions say.
* ``GC_SCREEN_BIN``: the screen binary (default ``screen`` on PATH).

An empty server (``screen -ls`` says "No Sockets found") lists nothing and is no
error; ``stop``, ``interrupt``, ``nudge`` and the other best-effort ops succeed on a
missing session.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gascity_exec.scriptcli import EXIT_UNKNOWN_OP, Failure, run_main

__all__ = ["main"]

STEP_TIMEOUT = 60.0
_LS_LINE = re.compile(r"^\s+\d+\.(\S+)\s.*\((?:Attached|Detached|Multi)")


def _screen(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = [os.environ.get("GC_SCREEN_BIN", "screen"), *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        raise Failure(f"screen {args[0]} failed: {(result.stderr or result.stdout).strip()}")
    return result


def names() -> list[str]:
    result = _screen("-ls", check=False)  # exits 1 with "No Sockets found" when empty
    return [m.group(1) for line in result.stdout.splitlines() if (m := _LS_LINE.match(line))]


def is_live(name: str) -> bool:
    return name in names()


def _state(name: str) -> Path:
    base = os.environ.get("GC_EXEC_STATE_DIR") or os.path.join(
        tempfile.gettempdir(), f"gc-session-screen-{os.getuid()}"
    )
    path = Path(base) / "screen" / name
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _run_step(command: str | list[str], cwd: str | None, env: dict[str, str], what: str) -> None:
    """Run one step: a string is a shell command of the config's, a list an argv."""
    from gascity.osutil.runner import run

    argv = ["sh", "-c", command] if isinstance(command, str) else command
    result = run(argv, cwd=cwd, env=env, timeout=STEP_TIMEOUT)
    if not result.ok:
        print(f"warning: {what} failed ({result.describe(400)})", file=sys.stderr)


def _stuff_literal(name: str, text: str) -> None:
    # readbuf + paste types the text as it is: stuff would read ^X and \\ escapes.
    with tempfile.NamedTemporaryFile("w", delete=False, encoding="utf-8") as f:
        f.write(text)
    try:
        _screen("-S", name, "-X", "readbuf", f.name)
        _screen("-S", name, "-X", "paste", ".")
    finally:
        time.sleep(0.1)  # screen reads the file after -X returns
        os.unlink(f.name)


def op_start(name: str) -> None:
    config = json.loads(sys.stdin.read() or "{}")
    if is_live(name):
        raise Failure(f'session "{name}" already exists')
    env = dict(os.environ)
    for key, value in (config.get("env") or {}).items():
        if value == "":
            env.pop(key, None)
        else:
            env[key] = str(value)
    work_dir = str(config.get("work_dir") or os.getcwd())
    cwd = work_dir if os.path.isdir(work_dir) else None
    from .stage import stage_start_files

    stage_start_files(config, work_dir)
    for i, command in enumerate(config.get("pre_start") or [], 1):
        _run_step(str(command), cwd, env, f"pre_start command {i}")
    command = str(config.get("command") or os.environ.get("SHELL") or "sh")
    argv = [os.environ.get("GC_SCREEN_BIN", "screen"), "-dmS", name, "sh", "-c", command]
    subprocess.run(argv, cwd=cwd, env=env, check=True, timeout=30)
    # screen -dmS returns once the session forked; an agent that exits at once
    # leaves no session behind, which the next listing reports.
    deadline = time.monotonic() + 1
    while not is_live(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    (_state(name) / "work_dir").write_text(work_dir)
    env["GC_SESSION_NAME"] = name
    for i, command in enumerate(config.get("session_setup") or [], 1):
        _run_step(str(command), cwd, env, f"session_setup command {i}")
    if config.get("session_setup_script"):
        # By argv: the path is the user's (the city's directory), never shell text.
        _run_step(["sh", str(config["session_setup_script"])], cwd, env, "session_setup_script")
    for i, command in enumerate(config.get("session_live") or [], 1):
        _run_step(str(command), cwd, env, f"session_live command {i}")
    if config.get("nudge"):
        _stuff_literal(name, str(config["nudge"]))
        _screen("-S", name, "-X", "stuff", "\r")


def op_stop(name: str) -> None:
    if is_live(name):
        _screen("-S", name, "-X", "quit", check=False)
        deadline = time.monotonic() + 5
        while is_live(name) and time.monotonic() < deadline:
            time.sleep(0.05)
    shutil.rmtree(_state(name), ignore_errors=True)


def op_peek(name: str, lines: str) -> None:
    if not is_live(name):
        raise Failure(f"no such session: {name}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "copy"
        _screen("-S", name, "-X", "hardcopy", "-h", str(out))
        deadline = time.monotonic() + 2
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        text = out.read_text(encoding="utf-8", errors="replace") if out.exists() else ""
    rows = [r.rstrip() for r in text.splitlines()]
    while rows and not rows[-1]:
        rows.pop()
    count = int(lines or "0")
    print("\n".join(rows[-count:] if count > 0 else rows))


def _list_running(prefix: str) -> None:
    for found in names():
        if found.startswith(prefix):
            print(found)


def _interrupt(name: str) -> None:
    if is_live(name):
        _screen("-S", name, "-X", "stuff", "\x03")


def _nudge(name: str) -> None:
    text = sys.stdin.read()
    if is_live(name) and text:
        _stuff_literal(name, text)
        _screen("-S", name, "-X", "stuff", "\r")


_KEYS = {"Enter": "\r", "C-c": "\x03", "Escape": "\x1b", "Tab": "\t", "Space": " "}


def _send_keys(name: str, keys: Sequence[str]) -> None:
    if is_live(name):
        for key in keys:
            _screen("-S", name, "-X", "stuff", _KEYS.get(key, key))


def _clear_scrollback(name: str) -> None:
    if is_live(name):
        _screen("-S", name, "-X", "scrollback", "0", check=False)
        _screen("-S", name, "-X", "scrollback", "10000", check=False)


def _meta_path(name: str, key: str) -> Path:
    if not is_live(name):
        raise Failure(f"no such session: {name}")
    return _state(name) / f"meta.{key.encode().hex()}"


def _set_meta(name: str, key: str) -> None:
    _meta_path(name, key).write_text(sys.stdin.read(), encoding="utf-8")


def _get_meta(name: str, key: str) -> None:
    path = _meta_path(name, key)
    if path.exists():
        sys.stdout.write(path.read_text(encoding="utf-8"))


def _copy_to(name: str, rest: Sequence[str]) -> None:
    from gascity.fsutil import copy_into

    work = _state(name) / "work_dir"
    source = rest[1] if len(rest) > 1 else ""
    if is_live(name) and work.exists() and source:
        copy_into(source, Path(work.read_text()), rest[2] if len(rest) > 2 else "")


def _arg(rest: Sequence[str]) -> str:
    return rest[1] if len(rest) > 1 else ""


OPS: dict[str, Callable[[str, Sequence[str]], None]] = {
    "start": lambda name, _rest: op_start(name),
    "stop": lambda name, _rest: op_stop(name),
    "is-running": lambda name, _rest: print("true" if is_live(name) else "false"),
    "list-running": lambda name, _rest: _list_running(name),
    "interrupt": lambda name, _rest: _interrupt(name),
    "nudge": lambda name, _rest: _nudge(name),
    "send-keys": lambda name, rest: _send_keys(name, rest[1:]),
    "clear-scrollback": lambda name, _rest: _clear_scrollback(name),
    "peek": lambda name, rest: op_peek(name, _arg(rest)),
    "set-meta": lambda name, rest: _set_meta(name, _arg(rest)),
    "get-meta": lambda name, rest: _get_meta(name, _arg(rest)),
    "remove-meta": lambda name, rest: _meta_path(name, _arg(rest)).unlink(missing_ok=True),
    "copy-to": _copy_to,
}
"""Each operation, given the session name and the arguments after the operation."""


def dispatch(args: Sequence[str]) -> int:
    if not args:
        raise Failure("usage: gc-session-screen <op> <name> [args...]")
    op, rest = args[0], list(args[1:])
    handler = OPS.get(op)
    if handler is None:
        return EXIT_UNKNOWN_OP
    handler(rest[0] if rest else "", rest)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(dispatch, argv)


if __name__ == "__main__":
    sys.exit(main())
