"""Finding and killing every process a session started.

tmux's ``kill-session`` only sends SIGHUP to each pane's process group, which misses
children that ignore SIGHUP, moved to their own process group, or daemonized. We
collect the panes' descendants from the process table, plus every process carrying
the session's marker variable in its environment (that one survives reparenting to
init), and signal them by (pid, start time) so a reused pid is never hit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Proc", "descendants", "kill_tree", "process_table", "with_marker"]

_PROC = Path("/proc")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    start: int
    """Start time in clock ticks since boot (0 when unknown): defeats pid reuse."""
    comm: str
    zombie: bool = False


def _read_stat(pid: int) -> Proc | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses; it ends at the last ')'.
    open_paren, close_paren = raw.find("("), raw.rfind(")")
    rest = raw[close_paren + 2 :].split()
    return Proc(
        pid=pid,
        ppid=int(rest[1]),
        start=int(rest[19]),
        comm=raw[open_paren + 1 : close_paren],
        zombie=rest[0] in ("Z", "X"),
    )


def _ps_table() -> dict[int, Proc]:
    out = subprocess.run(
        ["ps", "-A", "-o", "pid=", "-o", "ppid=", "-o", "comm="],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    table: dict[int, Proc] = {}
    for line in out.splitlines():
        fields = line.split(None, 2)
        if len(fields) == 3 and fields[0].isdigit() and fields[1].isdigit():
            pid = int(fields[0])
            table[pid] = Proc(pid, int(fields[1]), 0, os.path.basename(fields[2]))
    return table


def process_table() -> dict[int, Proc]:
    if not _PROC.is_dir():
        return _ps_table()
    table: dict[int, Proc] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and (proc := _read_stat(int(entry.name))) is not None:
            table[proc.pid] = proc
    return table


def descendants(roots: Iterable[int], table: dict[int, Proc]) -> set[int]:
    children: dict[int, list[int]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found: set[int] = set()
    stack = [pid for pid in roots if pid in table]
    while stack:
        pid = stack.pop()
        if pid in found:
            continue
        found.add(pid)
        stack.extend(children.get(pid, ()))
    return found


def with_marker(marker: str, table: dict[int, Proc], *, prefix: bool = False) -> set[int]:
    """Processes whose environment holds ``marker`` (``NAME=value``) exactly, or an
    entry starting with it when ``prefix`` is true."""
    needle = marker.encode() + (b"" if prefix else b"\0")
    found: set[int] = set()
    me = os.getpid()
    for pid in table:
        if pid == me:
            continue
        try:
            environ = (_PROC / str(pid) / "environ").read_bytes()
        except OSError:
            continue
        if environ.startswith(needle) or b"\0" + needle in environ:
            found.add(pid)
    return found


def _alive(proc: Proc) -> bool:
    now = _read_stat(proc.pid) if _PROC.is_dir() else None
    if now is None:
        if _PROC.is_dir():
            return False
        try:
            os.kill(proc.pid, 0)
        except OSError:
            return False
        return True
    return now.start == proc.start and not now.zombie


def _signal(procs: Iterable[Proc], sig: signal.Signals) -> None:
    for proc in procs:
        if _alive(proc):
            try:
                os.kill(proc.pid, sig)
            except OSError:
                pass


def _wait_gone(procs: list[Proc], timeout: float, interval: float = 0.02) -> list[Proc]:
    deadline = time.monotonic() + timeout
    while True:
        procs = [p for p in procs if _alive(p)]
        if not procs or time.monotonic() >= deadline:
            return procs
        time.sleep(interval)


def kill_tree(procs: Iterable[Proc], grace: float) -> list[Proc]:
    """SIGTERM, wait up to ``grace`` polling, SIGKILL the rest, wait briefly.

    :return: the processes still alive at the end (normally none).
    """
    targets = [p for p in procs if p.pid != os.getpid()]
    _signal(targets, signal.SIGTERM)
    survivors = _wait_gone(targets, grace)
    if survivors:
        _signal(survivors, signal.SIGKILL)
        survivors = _wait_gone(survivors, 2.0)
    return survivors
