"""gc-session-tmux: the exec session protocol over tmux, with per-session metadata.

Installed on PATH by ``gascity-exec``; select it with ``GC_SESSION=exec:gc-session-tmux``.
It is also the template for script authors (see ``docs/exec-protocol.md``): one
operation per run, ``gc-session-tmux <op> <name> [args...]``, values on stdin,
results on stdout, exit 0 / 1 (message on stderr) / 2 (unknown operation).

Environment:

* ``GC_TMUX_SOCKET``: tmux socket name (``-L``), or a path (``-S``) if it holds a
  ``/``. Without it, ``gc-<GC_CITY_NAME>`` (the server the ``tmux`` provider uses for
  that city) when the provider says which city this is, else tmux's default server.
* ``GC_TMUX_BIN``: the tmux binary (default ``tmux`` on PATH).

Only the standard library is imported, and only what ``list-running`` needs at the
top: this runs once per operation, so start-up time is the provider's per-call cost.

Odd names and texts: tmux is always called with an argv, never a shell. tmux treats
an argument ending in ``;`` as a command separator, so such arguments are escaped
(:func:`_arg`). tmux mangles session names (``.`` and ``:`` become ``_``, ``#{..}``
is expanded, ``$`` and a leading ``@`` change how a target is read), so every
character outside ``[A-Za-z0-9_-]`` is percent-encoded in the tmux name and decoded
again by ``list-running``: controller names are untouched. Metadata keys and values are stored
hex-encoded in tmux user options, so any text round-trips.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

__all__ = ["main"]

EXIT_UNKNOWN_OP = 2
META_PREFIX = "@gcm_"
WORKDIR_OPTION = "@gc_workdir"
STOP_GRACE = 2.0
_NO_SERVER = ("no server running", "error connecting to", "server exited unexpectedly")
_MAX_SOCKET = 64
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_PERCENT = re.compile("(?:%[0-9A-F]{2})+")


class Failure(Exception):
    """Ends the run with exit 1 and this message on stderr."""


# ------------------------------------------------------------------- tmux calls


def socket_for_city(city: str) -> str:
    """``gc-<city>``, the same server the ``tmux`` provider uses for the city; a name
    outside ``[A-Za-z0-9_-]`` (or a long one) gets a short hash against collisions."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", city) or "city"
    name = f"gc-{safe}"
    if safe != city or len(name) > _MAX_SOCKET:
        import hashlib

        digest = hashlib.sha256(city.encode()).hexdigest()[:8]
        name = f"{name[: _MAX_SOCKET - 9]}-{digest}"
    return name


def _socket() -> list[str]:
    sock = os.environ.get("GC_TMUX_SOCKET", "")
    if not sock and os.environ.get("GC_CITY_NAME"):
        sock = socket_for_city(os.environ["GC_CITY_NAME"])
    if not sock:
        return []
    return ["-S", sock] if "/" in sock else ["-L", sock]


def _arg(value: str) -> str:
    # tmux ends a command at an argument ending in ';'; it reads a final '\;' as a
    # literal ';' instead, so 'a;' is passed as 'a\;' and 'a\;' as 'a\\;'.
    return value[:-1] + "\\;" if value.endswith(";") else value


def tmux(*args: str, stdin: bytes | None = None, check: bool = True) -> str:
    argv = [os.environ.get("GC_TMUX_BIN", "tmux"), *_socket(), *(_arg(a) for a in args)]
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


def encode_name(name: str) -> str:
    return "".join(
        c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in name
    )


def decode_name(name: str) -> str:
    return _PERCENT.sub(
        lambda m: bytes.fromhex(m.group(0).replace("%", "")).decode("utf-8", "replace"), name
    )


def session_target(name: str) -> str:
    return "=" + encode_name(name)


def pane_target(name: str) -> str:
    # Window and pane targets need the trailing ':' for '=' (exact match) to apply.
    return "=" + encode_name(name) + ":"


def panes(name: str) -> list[tuple[bool, int]]:
    """(dead, pid) for every pane of the session; empty if there is no session."""
    # `list-panes -s -t =name` falls back to a prefix match in tmux 3.3 (`=p0-1` finds
    # `p0-10`); the window form `=name:` stays exact.
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


def _process_table() -> list[tuple[int, int, str]]:
    out = subprocess.run(
        ["ps", "-A", "-o", "pid=", "-o", "ppid=", "-o", "comm="],
        capture_output=True,
        check=False,
    ).stdout.decode("utf-8", "replace")
    table: list[tuple[int, int, str]] = []
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            table.append((int(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else ""))
    return table


def descendants(roots: Sequence[int]) -> dict[int, str]:
    """pid -> command name for ``roots`` and everything below them."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for pid, ppid, comm in table:
        children.setdefault(ppid, []).append(pid)
        names[pid] = comm
    found: dict[int, str] = {}
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found[pid] = names.get(pid, "")
        todo.extend(children.get(pid, ()))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited; its parent (or an init that never reaps) just has not
    # collected it yet.
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            stat = f.read()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _signal(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


# ---------------------------------------------------------------------- helpers


def _read_stdin() -> str:
    return sys.stdin.buffer.read().decode("utf-8", "replace")


def _child_env(env: dict[str, str]) -> dict[str, str]:
    merged = dict(os.environ)
    for key, value in env.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _run_shell(
    command: str, cwd: str | None, env: dict[str, str]
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["sh", "-c", command], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        capture_output=True, check=False,
    )


def _valid_env_name(key: str) -> bool:
    return bool(key) and "=" not in key and not key.startswith("-") and "\0" not in key


def paste(name: str, text: str) -> None:
    """Type ``text`` literally (a paste, never key names), then press Enter."""
    buffer = f"gc-nudge-{os.getpid()}"
    tmux("load-buffer", "-b", buffer, "-", stdin=text.encode("utf-8"))
    tmux("paste-buffer", "-d", "-p", "-b", buffer, "-t", pane_target(name))
    tmux("send-keys", "-t", pane_target(name), "Enter")


# -------------------------------------------------------------------------- ops


def op_start(name: str) -> None:
    import json

    if not name:
        raise Failure("start: missing session name")
    raw = _read_stdin()
    try:
        config = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise Failure(f"start: invalid JSON config on stdin: {exc}") from None
    existing = panes(name)
    if any(not dead for dead, _ in existing):
        raise Failure(f'session "{name}" already exists')
    if existing:  # only dead panes left (remain-on-exit): clear the corpse
        tmux("kill-session", "-t", session_target(name), check=False)

    env = {str(k): str(v) for k, v in (config.get("env") or {}).items()}
    bad = [k for k in env if not _valid_env_name(k)]
    if bad:
        raise Failure(f"start: invalid environment variable names: {bad}")
    child_env = _child_env(env)
    work_dir = str(config.get("work_dir") or os.getcwd())

    def cwd() -> str | None:
        return work_dir if os.path.isdir(work_dir) else None

    for i, command in enumerate(config.get("pre_start") or [], 1):
        proc = _run_shell(str(command), cwd(), child_env)
        if proc.returncode != 0:
            detail = proc.stderr.decode("utf-8", "replace").strip()
            raise Failure(f"start: pre_start command {i} failed (exit {proc.returncode})"
                          + (f": {detail}" if detail else ""))

    unset = [arg for k, v in sorted(env.items()) if v == "" for arg in ("-u", k)]
    assign = [f"{k}={v}" for k, v in sorted(env.items()) if v != ""]
    command = str(config.get("command") or "")
    agent = ["sh", "-c", command] if command else [os.environ.get("SHELL") or "sh"]
    new = ["new-session", "-d", "-s", encode_name(name), "-x", "220", "-y", "50"]
    if cwd() is not None:
        new += ["-c", work_dir]
    tmux(*new, "--", "env", *unset, "--", *assign, *agent)
    tmux("set-option", "-q", "-t", pane_target(name), WORKDIR_OPTION,
         work_dir.encode("utf-8").hex(), check=False)

    # After the session is up failures only warn, as the protocol says.
    setup_env = dict(child_env, GC_SESSION_NAME=name)
    for i, command in enumerate(config.get("session_setup") or [], 1):
        proc = _run_shell(str(command), cwd(), setup_env)
        if proc.returncode != 0:
            print(f"warning: session_setup command {i} failed (exit {proc.returncode})",
                  file=sys.stderr)
    script = str(config.get("session_setup_script") or "")
    if script:
        argv = [script] if os.access(script, os.X_OK) else ["sh", script]
        try:
            proc = subprocess.run(argv, cwd=cwd(), env=setup_env, stdin=subprocess.DEVNULL,
                                  capture_output=True, check=False)
            if proc.returncode != 0:
                print(f"warning: session_setup_script failed (exit {proc.returncode})",
                      file=sys.stderr)
        except OSError as exc:
            print(f"warning: session_setup_script: {exc}", file=sys.stderr)
    nudge = str(config.get("nudge") or "")
    if nudge and is_live(name):
        try:
            paste(name, nudge)
        except Failure as exc:
            print(f"warning: nudge: {exc}", file=sys.stderr)


def op_stop(name: str) -> None:
    if not name:
        raise Failure("stop: missing session name")
    pids = [pid for _, pid in panes(name)]
    if not pids:
        return  # idempotent
    tree = list(descendants(pids))
    tmux("kill-session", "-t", session_target(name), check=False)
    # kill-session only sends SIGHUP to the panes; children that ignore it or left
    # the pane's process group are ended here, with a bounded grace.
    _signal(tree, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while time.monotonic() < deadline:
        tree = [pid for pid in tree if _alive(pid)]
        if not tree:
            return
        time.sleep(0.02)
    _signal(tree, signal.SIGKILL)


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
    return META_PREFIX + key.encode("utf-8").hex()


def op_set_meta(name: str, key: str) -> None:
    value = _read_stdin()
    option = _meta_option(key)
    require(name)
    tmux("set-option", "-t", pane_target(name), option, value.encode("utf-8").hex())


def op_get_meta(name: str, key: str) -> None:
    option = _meta_option(key)
    require(name)
    raw = tmux("show-options", "-qv", "-t", pane_target(name), option).strip()
    if raw:
        sys.stdout.write(bytes.fromhex(raw).decode("utf-8", "replace"))


def op_remove_meta(name: str, key: str) -> None:
    option = _meta_option(key)
    require(name)
    tmux("set-option", "-qu", "-t", pane_target(name), option)


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
        if any(marker in err.lower() for marker in _NO_SERVER):
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
    import shutil
    from pathlib import Path

    require(name)
    if not src:
        raise Failure("copy-to: missing source")
    raw = tmux("show-options", "-qv", "-t", pane_target(name), WORKDIR_OPTION).strip()
    if not raw:
        raise Failure(f"copy-to: session {name} has no recorded work_dir")
    work_dir = Path(bytes.fromhex(raw).decode("utf-8", "replace"))
    dst = work_dir / rel_dst if rel_dst else work_dir
    source = Path(src)
    if source.is_dir():
        shutil.copytree(source, dst, dirs_exist_ok=True)
    elif source.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dst if rel_dst else dst / source.name)
    else:
        raise Failure(f"copy-to: no such file or directory: {src}")


def op_attach(name: str) -> None:
    require(name)
    argv = [os.environ.get("GC_TMUX_BIN", "tmux"), *_socket(),
            "attach-session", "-t", _arg(session_target(name))]
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
    try:
        return dispatch(sys.argv[1:] if argv is None else argv)
    except Failure as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
