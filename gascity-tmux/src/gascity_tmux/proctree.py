"""Finding every process a session started, on top of the core's ``/proc`` reader.

tmux's ``kill-session`` only sends SIGHUP to each pane's process group, which misses
children that ignore SIGHUP, moved to their own process group, or daemonized. We
collect the panes' descendants, plus every process carrying the session's marker
variable in its environment (that one survives reparenting to init); the core's
:func:`gascity.builtin.killtree.terminate` then signals them through pidfds, so a
reused pid is never hit, and rescans so that processes forked meanwhile die too.

Linux only (``/proc``); elsewhere :func:`available` is false and ``stop`` relies on
tmux's own SIGHUP.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from gascity.builtin.proc import PROC, ProcStat, Snapshot, read_small

__all__ = ["available", "descendants", "process_table", "with_marker"]


def available() -> bool:
    return os.path.isdir(PROC)


def process_table() -> dict[int, ProcStat]:
    """Every live process by pid (empty where there is no ``/proc``)."""
    if not available():
        return {}
    return {pid: s for pid, s in Snapshot().by_pid.items() if s.live}


def descendants(roots: Iterable[int], table: dict[int, ProcStat]) -> set[int]:
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


def with_marker(marker: str, table: dict[int, ProcStat], *, prefix: bool = False) -> set[int]:
    """Processes whose environment holds ``marker`` (``NAME=value``) exactly, or an
    entry starting with it when ``prefix`` is true."""
    needle = marker.encode() + (b"" if prefix else b"\0")
    found: set[int] = set()
    me = os.getpid()
    for pid in table:
        if pid == me:
            continue
        environ = _environ(pid)
        if environ and (environ.startswith(needle) or b"\0" + needle in environ):
            found.add(pid)
    return found


def _environ(pid: int) -> bytes | None:
    # read_small stops at 8 KiB; environments can be larger, so read to the end.
    head = read_small(f"{PROC}/{pid}/environ")
    if head is None or len(head) < 8192:
        return head
    try:
        with open(f"{PROC}/{pid}/environ", "rb") as fh:
            return fh.read()
    except OSError:
        return None
