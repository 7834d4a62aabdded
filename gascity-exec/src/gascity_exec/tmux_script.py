"""gc-session-tmux: the exec session protocol over tmux, with per-session metadata.

Installed on PATH by ``gascity-exec``; select it with ``GC_SESSION=exec:gc-session-tmux``.
It is also the template for script authors (see ``docs/exec-protocol.md``): one
operation per run, ``gc-session-tmux <op> <name> [args...]``, values on stdin,
results on stdout, exit 0 / 1 (message on stderr) / 2 (unknown operation).

Environment:

* ``GC_TMUX_SOCKET``: tmux socket name (``-L``), or a path (``-S``) if it holds a
  ``/``. Without it, the city's server (:func:`gascity.tmuxconv.city_socket` of
  ``GC_CITY_NAME`` and ``GC_CITY``, the one the ``tmux`` provider uses) when the
  provider says which city this is, else tmux's default server.
* ``GC_TMUX_BIN``: the tmux binary (default ``tmux`` on PATH).

Only the standard library and :mod:`gascity.tmuxconv` are imported at the top (what
``list-running`` needs): this runs once per operation, so start-up time is the
provider's per-call cost.

Names, metadata and the socket follow :mod:`gascity.tmuxconv`, exactly as the
``tmux`` provider does, so a city can switch between the two without restarting a
session. tmux is always called with an argv, never a shell.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from gascity.tmuxconv import (
    AGENT_PANE_OPTION,
    MARKER_VAR,
    NO_SERVER,
    REMOVED,
    SOCKET_VAR,
    START_OPTION,
    WORKDIR_OPTION,
    city_socket,
    decode_name,
    encode_bundle,
    encode_name,
    encode_value,
    escape_arg,
    option_for,
    options_format,
    read_options,
    socket_args,
    target,
)
from gascity_exec.scriptcli import EXIT_UNKNOWN_OP, Failure, run_main

__all__ = ["main"]

STOP_GRACE = 2.0
STEP_TIMEOUT = float(os.environ.get("GC_TMUX_STEP_TIMEOUT", "60"))
"""Seconds one pre_start / session_setup step may run."""


# ------------------------------------------------------------------- tmux calls


SEP = "\0;"
"""Separates tmux commands inside one invocation (passed to tmux as ``;``)."""


def _session_socket(city_dir: str) -> str:
    """``[session] socket`` of the city's city.toml (the reference's override)."""
    import tomllib

    try:
        with open(os.path.join(city_dir, "city.toml"), "rb") as fh:
            table = tomllib.load(fh).get("session", {})
    except (OSError, ValueError):
        return ""
    value = table.get("socket") if isinstance(table, dict) else None
    return value if isinstance(value, str) else ""


def _socket_name() -> str:
    sock = os.environ.get("GC_TMUX_SOCKET", "")
    if not sock and os.environ.get("GC_CITY"):
        sock = _session_socket(os.environ["GC_CITY"])
    if not sock and os.environ.get("GC_CITY_NAME"):
        sock = city_socket(os.environ["GC_CITY_NAME"], os.environ.get("GC_CITY") or None)
    return sock


def _socket() -> list[str]:
    return socket_args(_socket_name())


def tmux(*args: str, stdin: bytes | None = None, check: bool = True) -> str:
    argv = [os.environ.get("GC_TMUX_BIN", "tmux"), *_socket(),
            *(";" if a is SEP else escape_arg(a) for a in args)]
    proc = subprocess.run(
        argv,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if check and proc.returncode != 0:
        raise Failure(proc.stderr.decode("utf-8", "replace").strip() or f"tmux {args[0]} failed")
    return proc.stdout.decode("utf-8", "replace")


def session_target(name: str) -> str:
    return target(name)


def pane_target(name: str) -> str:
    return target(name, pane=True)


def panes(name: str) -> list[tuple[bool, int]]:
    """(dead, pid) for every pane of the session; empty if there is no session."""
    out = tmux("list-panes", "-s", "-t", pane_target(name), "-F",
               "#{pane_dead} #{pane_pid}", check=False)
    result: list[tuple[bool, int]] = []
    for line in out.splitlines():
        dead, _, pid = line.partition(" ")
        if pid.isdigit():
            result.append((dead == "1", int(pid)))
    return result


def is_live(name: str) -> bool:
    return any(not dead for dead, _ in panes(name))


def require(name: str) -> None:
    if not name:
        raise Failure("missing session name")
    if not is_live(name):
        raise Failure(f"no such session: {name}")


# ---------------------------------------------------------------- process trees


def descendants(roots: Sequence[int]) -> dict[int, str]:
    """pid -> command name for ``roots`` and everything below them."""
    from gascity.osutil import proctree

    table = proctree.live_table()
    return {pid: table[pid].comm for pid in proctree.descendants(roots, table)}


# ---------------------------------------------------------------------- helpers


def _read_stdin() -> str:
    return sys.stdin.buffer.read().decode("utf-8", "replace")


def _run_step(argv: list[str], cwd: str | None, env: dict[str, str], what: str) -> str:
    """Run a city author's step; "" on success, else why it failed."""
    from gascity.osutil.runner import run

    result = run(argv, cwd=cwd, env=env, timeout=STEP_TIMEOUT, max_output=64 << 10)
    return "" if result.ok else f"{what} failed ({result.describe(400)})"


def _valid_env_name(key: str) -> bool:
    return bool(key) and "=" not in key and not key.startswith("-") and "\0" not in key


def paste(name: str, text: str) -> None:
    """Type ``text`` literally (a paste, never key names), then press Enter."""
    buffer = f"gc-nudge-{os.getpid()}"
    tmux("load-buffer", "-b", buffer, "-", stdin=text.encode("utf-8"))
    tmux("paste-buffer", "-d", "-p", "-b", buffer, "-t", pane_target(name))
    tmux("send-keys", "-t", pane_target(name), "Enter")


# -------------------------------------------------------------------------- ops


def _start_config() -> dict[str, Any]:
    """The start config JSON on stdin (none: all defaults)."""
    import json

    raw = _read_stdin()
    try:
        config = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise Failure(f"start: invalid JSON config on stdin: {exc}") from None
    if not isinstance(config, dict):
        raise Failure("start: the JSON config on stdin must be an object")
    return config


def _warn_steps(steps: list[tuple[list[str], str]], cwd: str | None,
                env: dict[str, str]) -> None:
    """Run each step; a failure is a warning, as the protocol says."""
    for step, what in steps:
        failed = _run_step(step, cwd, env, what)
        if failed:
            print(f"warning: {failed}", file=sys.stderr)


def op_start(name: str) -> None:
    if not name:
        raise Failure("start: missing session name")
    config = _start_config()
    existing = panes(name)
    if any(not dead for dead, _ in existing):
        raise Failure(f'session "{name}" already exists')
    if existing:  # only dead panes left (remain-on-exit): clear the corpse
        tmux("kill-session", "-t", session_target(name), check=False)

    env = {str(k): str(v) for k, v in (config.get("env") or {}).items()}
    bad = [k for k in env if not _valid_env_name(k)]
    if bad:
        raise Failure(f"start: invalid environment variable names: {bad}")
    from gascity.osutil.runner import merged_env

    child_env = merged_env(env)
    work_dir = str(config.get("work_dir") or os.getcwd())

    def cwd() -> str | None:
        return work_dir if os.path.isdir(work_dir) else None

    from .stage import stage_start_files

    stage_start_files(config, work_dir)
    # Non-fatal, as the reference's protocol says: warn and start anyway.
    _warn_steps([(["sh", "-c", str(c)], f"pre_start command {i}")
                 for i, c in enumerate(config.get("pre_start") or [], 1)], cwd(), child_env)

    unset = [arg for k, v in sorted(env.items()) if v == "" for arg in ("-u", k)]
    assign = [f"{k}={v}" for k, v in sorted(env.items()) if v != ""]
    command = str(config.get("command") or "")
    agent = ["sh", "-c", command] if command else [os.environ.get("SHELL") or "sh"]
    new = ["new-session", "-d", "-s", encode_name(name), "-x", "220", "-y", "50"]
    if cwd() is not None:
        new += ["-c", work_dir]
    start_id = os.urandom(6).hex()
    marker = f"{MARKER_VAR}={_socket_name()}:{name}:{start_id}"
    # The same start bundle as the tmux provider, so either can run the session: one
    # set-option (tmux walks every session and window after each one).
    bundle = {START_OPTION: start_id, WORKDIR_OPTION: encode_value(work_dir)}
    bundle.update((option_for(str(k)), encode_value(str(v)))
                  for k, v in (config.get("meta") or {}).items())
    argv: list[str] = [*new, "--", "env", *unset, "--", *assign, marker,
                       f"{SOCKET_VAR}={_socket_name()}", *agent]
    argv += [SEP, "set-option", "-p", "-t", pane_target(name), AGENT_PANE_OPTION,
             encode_bundle(bundle)]
    tmux(*argv)

    # After the session is up failures only warn, as the protocol says.
    setup_env = dict(child_env, GC_SESSION_NAME=name)
    steps = [(["sh", "-c", str(c)], f"session_setup command {i}")
             for i, c in enumerate(config.get("session_setup") or [], 1)]
    script = str(config.get("session_setup_script") or "")
    if script:
        steps.append(([script] if os.access(script, os.X_OK) else ["sh", script],
                      "session_setup_script"))
    # The controller no longer folds session_live into session_setup: run it after.
    steps += [(["sh", "-c", str(c)], f"session_live command {i}")
              for i, c in enumerate(config.get("session_live") or [], 1)]
    _warn_steps(steps, cwd(), setup_env)
    nudge = str(config.get("nudge") or "")
    if nudge and is_live(name):
        try:
            paste(name, nudge)
        except Failure as exc:
            print(f"warning: nudge: {exc}", file=sys.stderr)


def op_stop(name: str) -> None:
    from gascity.osutil import proctree
    from gascity.osutil.killtree import terminate

    if not name:
        raise Failure("stop: missing session name")
    out = tmux("list-panes", "-s", "-t", pane_target(name), "-F",
               "#{pane_pid}\t" + options_format([START_OPTION]), check=False)
    rows = [line.split("\t", 1) for line in out.splitlines()]
    roots = [int(r[0]) for r in rows if r[0].isdigit()]
    if not roots:
        return  # idempotent
    start_id = read_options((r[1] for r in rows if len(r) == 2), [START_OPTION])[0] or ""
    marker = f"{MARKER_VAR}={_socket_name()}:{name}:{start_id}" if start_id else ""
    # Taken before kill-session: once the panes are gone their children are
    # reparented, and only the marker still ties them to this session.
    table = proctree.live_table()
    tree = {pid: table[pid] for pid in proctree.descendants(roots, table)}

    def scan() -> list[proctree.ProcStat]:
        found = dict(tree)
        if marker:
            now = proctree.live_table()
            for pid in proctree.with_marker(marker, now):
                found.setdefault(pid, now[pid])
        return list(found.values())

    tmux("kill-session", "-t", session_target(name), check=False)
    # kill-session only sends SIGHUP to the panes; children that ignore it or left
    # the pane's process group are ended here, with a bounded grace.
    if proctree.available():
        terminate(scan, STOP_GRACE)


def op_interrupt(name: str) -> None:
    require(name)
    tmux("send-keys", "-t", pane_target(name), "C-c")


def op_is_running(name: str) -> None:
    print("true" if name and is_live(name) else "false")


def op_process_alive(name: str) -> None:
    wanted = [n.strip() for n in _read_stdin().split("\n") if n.strip()]
    if not wanted:
        print("true")
        return
    live = [pid for dead, pid in panes(name) if not dead] if name else []
    if not live:
        print("false")
        return
    running = {os.path.basename(comm) for comm in descendants(live).values()}
    # Linux truncates command names to 15 characters.
    hit = any(w in running or w[:15] in running for w in wanted)
    print("true" if hit else "false")


def op_nudge(name: str) -> None:
    text = _read_stdin()
    require(name)
    if text:
        paste(name, text)


def op_send_keys(name: str, keys: Sequence[str]) -> None:
    require(name)
    if keys:
        tmux("send-keys", "-t", pane_target(name), *keys)


def _meta_option(key: str) -> str:
    if not key:
        raise Failure("missing metadata key")
    return option_for(key)


def op_set_meta(name: str, key: str) -> None:
    value = _read_stdin()
    option = _meta_option(key)
    require(name)
    tmux("set-option", "-t", pane_target(name), option, encode_value(value))


def session_options(name: str, options: Sequence[str]) -> list[str | None]:
    """The session's options, its own over its start bundle (one tmux call)."""
    out = tmux("list-panes", "-s", "-t", pane_target(name), "-F", options_format(options))
    return read_options(out.splitlines(), options)


def op_get_meta(name: str, key: str) -> None:
    option = _meta_option(key)
    require(name)
    value = session_options(name, [option])[0]
    if value:
        sys.stdout.write(value)


def op_remove_meta(name: str, key: str) -> None:
    option = _meta_option(key)
    require(name)
    # Not unset: the start bundle's value would show through again.
    tmux("set-option", "-t", pane_target(name), option, REMOVED)


def op_peek(name: str, lines_arg: str) -> None:
    require(name)
    try:
        lines = int(lines_arg or "0")
    except ValueError:
        raise Failure(f"peek: lines must be a number, not {lines_arg!r}") from None
    start = f"-{lines}" if lines > 0 else "-"
    out = tmux("capture-pane", "-p", "-J", "-t", pane_target(name), "-S", start)
    rows = out.rstrip("\n").split("\n")
    while rows and not rows[-1].strip():
        rows.pop()
    if lines > 0:
        rows = rows[-lines:]
    if rows:
        print("\n".join(rows))


def op_list_running(prefix: str) -> None:
    argv = [os.environ.get("GC_TMUX_BIN", "tmux"), *_socket(),
            "list-panes", "-a", "-F", "#{pane_dead}#{session_name}"]
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        if any(marker in err.lower() for marker in NO_SERVER):
            return  # no server: nothing is running
        raise Failure(err or "tmux list-panes failed")
    live: dict[str, None] = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if line[:1] == "0":
            name = decode_name(line[1:])
            if name.startswith(prefix):
                live[name] = None
    if live:
        print("\n".join(live))


def op_get_last_activity(name: str) -> None:
    require(name)
    from datetime import UTC, datetime

    raw = tmux("display-message", "-p", "-t", pane_target(name), "#{session_activity}").strip()
    if raw.isdigit():
        when = datetime.fromtimestamp(int(raw), UTC)
        print(when.strftime("%Y-%m-%dT%H:%M:%SZ"))


def op_clear_scrollback(name: str) -> None:
    require(name)
    tmux("clear-history", "-t", pane_target(name))


def op_copy_to(name: str, src: str, rel_dst: str) -> None:
    from pathlib import Path

    from gascity.fsutil import copy_into

    require(name)
    if not src:
        raise Failure("copy-to: missing source")
    work_dir = session_options(name, [WORKDIR_OPTION])[0]
    if not work_dir:
        raise Failure(f"copy-to: session {name} has no recorded work_dir")
    try:
        if not copy_into(src, Path(work_dir), rel_dst):
            print(f"warning: copy-to: no such file or directory: {src}", file=sys.stderr)
    except ValueError as exc:
        raise Failure(str(exc)) from None


def op_attach(name: str) -> None:
    require(name)
    argv = [os.environ.get("GC_TMUX_BIN", "tmux"), *_socket(),
            "attach-session", "-t", escape_arg(session_target(name))]
    os.execvp(argv[0], argv)


# ------------------------------------------------------------------------- main


def dispatch(args: Sequence[str]) -> int:
    if not args:
        raise Failure("usage: gc-session-tmux <op> <name> [args...]")
    op, rest = args[0], list(args[1:])
    name = rest[0] if rest else ""
    arg = rest[1] if len(rest) > 1 else ""
    simple = {
        "start": op_start,
        "stop": op_stop,
        "interrupt": op_interrupt,
        "is-running": op_is_running,
        "process-alive": op_process_alive,
        "nudge": op_nudge,
        "list-running": op_list_running,
        "get-last-activity": op_get_last_activity,
        "clear-scrollback": op_clear_scrollback,
        "attach": op_attach,
    }
    with_key = {"set-meta": op_set_meta, "get-meta": op_get_meta, "remove-meta": op_remove_meta}
    if op in simple:
        simple[op](name)
    elif op in with_key:
        with_key[op](name, arg)
    elif op == "peek":
        op_peek(name, arg)
    elif op == "send-keys":
        op_send_keys(name, rest[1:])
    elif op == "copy-to":
        op_copy_to(name, arg, rest[2] if len(rest) > 2 else "")
    else:
        return EXIT_UNKNOWN_OP
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(dispatch, argv)


if __name__ == "__main__":
    sys.exit(main())
