"""Reading processes from Linux ``/proc`` without spawning anything.

A process is identified by ``(pid, start_time)``: the kernel reuses pids, but a reused
pid comes with a later start time, so a recorded pair never matches a stranger.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "ProcStat",
    "Snapshot",
    "argv0",
    "boot_time",
    "clock_ticks",
    "read_small",
    "read_stat",
]

PROC = "/proc"


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    comm: str
    state: str
    ppid: int
    pgrp: int
    session: int
    start_time: int
    """Clock ticks after boot (field 22 of ``/proc/<pid>/stat``)."""

    @property
    def live(self) -> bool:
        """Running or sleeping; a zombie has exited and only waits to be reaped."""
        return self.state not in ("Z", "X", "x")


def parse_stat(pid: int, raw: str) -> ProcStat | None:
    # comm may hold spaces and parentheses, so split around the *last* ')'.
    open_paren = raw.find("(")
    close_paren = raw.rfind(")")
    if open_paren < 0 or close_paren < open_paren:
        return None
    fields = raw[close_paren + 2 :].split(maxsplit=20)
    if len(fields) < 20:
        return None
    try:
        return ProcStat(
            pid=pid,
            comm=raw[open_paren + 1 : close_paren],
            state=fields[0],
            ppid=int(fields[1]),
            pgrp=int(fields[2]),
            session=int(fields[3]),
            start_time=int(fields[19]),
        )
    except ValueError:
        return None


def read_small(path: str) -> bytes | None:
    """A small file's bytes in one read, or ``None`` if it cannot be read. Raw
    ``os`` calls: a listing reads thousands of these, and file objects cost more
    than the reads themselves."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 8192)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_stat(pid: int) -> ProcStat | None:
    """The process ``pid``, or ``None`` if there is none (or it vanished mid-read)."""
    raw = read_small(f"{PROC}/{pid}/stat")
    return None if raw is None else parse_stat(pid, raw.decode("utf-8", "replace"))


def argv0(pid: int) -> str | None:
    """Base name of the process's ``argv[0]``, for names ``comm`` truncated to 15 chars."""
    try:
        with open(f"{PROC}/{pid}/cmdline", "rb") as f:
            raw = f.read(4096)
    except OSError:
        return None
    first = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
    return os.path.basename(first) or None


def clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def boot_time() -> float:
    """Epoch seconds of the boot, to turn start ticks into wall-clock times."""
    with open(f"{PROC}/stat", encoding="ascii") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def _scan() -> Iterator[ProcStat]:
    for entry in os.listdir(PROC):
        if entry.isdigit():
            stat = read_stat(int(entry))
            if stat is not None:
                yield stat


class Snapshot:
    """Every process at one moment, indexed by session and by parent: one ``/proc``
    scan serves the membership questions of any number of sessions."""

    def __init__(self, stats: Iterable[ProcStat] | None = None) -> None:
        self.by_pid: dict[int, ProcStat] = {}
        self.by_session: dict[int, list[ProcStat]] = defaultdict(list)
        self.by_parent: dict[int, list[ProcStat]] = defaultdict(list)
        for stat in _scan() if stats is None else stats:
            self.by_pid[stat.pid] = stat
            self.by_session[stat.session].append(stat)
            self.by_parent[stat.ppid].append(stat)

    def members(self, leader: int, start_time: int) -> list[ProcStat]:
        """Live processes of the session led by ``(leader, start_time)`` and their
        descendants (a child that called ``setsid`` is still ours while its parent is).

        Linux never hands out a pid that is still some process's session id, so if
        the leader is gone, whoever still carries its session id belongs to it; if
        the leader pid is held by a process with another start time, the session
        ended long ago and those processes are strangers.
        """
        head = self.by_pid.get(leader)
        if head is not None and head.start_time != start_time:
            return []
        found: dict[int, ProcStat] = {}
        todo = [s for s in self.by_session.get(leader, ()) if s.live]
        if head is not None and head.live:
            todo.append(head)
        while todo:
            stat = todo.pop()
            if stat.pid in found:
                continue
            found[stat.pid] = stat
            todo.extend(c for c in self.by_parent.get(stat.pid, ()) if c.live)
        return list(found.values())
