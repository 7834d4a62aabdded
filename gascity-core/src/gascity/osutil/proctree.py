"""Reading the process table without spawning anything.

A process is identified by ``(pid, start_time)``: the kernel reuses pids, but a reused
pid comes with a later start time, so a recorded pair never matches a stranger.

On Linux the table is read straight from ``/proc`` (thousands of small reads, no
dependencies). Where there is no ``/proc`` (macOS, the BSDs) the same answers come from
``psutil``; ``GC_PROC_BACKEND=psutil`` forces that path on Linux too, which is how the
fallback is tested. Start times are clock ticks after boot on both paths, so a pair
recorded by one backend still matches under the other.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PROC",
    "ProcStat",
    "Snapshot",
    "argv0",
    "available",
    "backend",
    "boot_time",
    "clock_ticks",
    "descendants",
    "environ",
    "live_table",
    "read_small",
    "read_stat",
    "tree",
    "with_marker",
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
    threads: int = 0
    """Its thread count (field 20), 0 when unknown: a tree walk reads one thread's
    ``children`` file where there is one thread, instead of listing ``task/``."""

    @property
    def live(self) -> bool:
        """Running or sleeping; a zombie has exited and only waits to be reaped."""
        return self.state not in ("Z", "X", "x")


def backend() -> str:
    """``"proc"`` or ``"psutil"``: which source answers the questions of this module."""
    forced = os.environ.get("GC_PROC_BACKEND", "")
    if forced in ("proc", "psutil"):
        return forced
    global _HAS_PROC
    if _HAS_PROC is None:
        # Once per process: a listing reads thousands of stat files, each asking this.
        _HAS_PROC = os.path.isdir(f"{PROC}/self")
    return "proc" if _HAS_PROC else "psutil"


_HAS_PROC: bool | None = None


def available() -> bool:
    """Whether processes can be listed at all here (``/proc`` or an installed psutil)."""
    if backend() == "proc":
        return True
    return importlib.util.find_spec("psutil") is not None


def _psutil() -> Any:
    try:
        psutil = importlib.import_module("psutil")
    except ImportError as exc:
        raise OSError(
            "this system has no /proc: install psutil (pip install psutil) so gascity "
            "can list and stop processes"
        ) from exc
    return psutil


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
            threads=int(fields[17]),
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


_PSUTIL_STATES = {"zombie": "Z", "dead": "X", "running": "R", "stopped": "T"}


def _psutil_stat(proc: Any) -> ProcStat | None:
    psutil = _psutil()
    try:
        with proc.oneshot():
            pid = proc.pid
            ticks = round((proc.create_time() - psutil.boot_time()) * clock_ticks())
            status = proc.status()
            ppid = proc.ppid()
            comm = proc.name()
        try:
            pgrp, session = os.getpgid(pid), os.getsid(pid)
        except OSError:
            if status != "zombie":
                return None
            pgrp = session = -1
    except (psutil.Error, OSError):
        return None
    return ProcStat(pid, comm, _PSUTIL_STATES.get(status, "S"), ppid, pgrp, session, ticks)


def read_stat(pid: int) -> ProcStat | None:
    """The process ``pid``, or ``None`` if there is none (or it vanished mid-read)."""
    if backend() == "psutil":
        psutil = _psutil()
        try:
            return _psutil_stat(psutil.Process(pid))
        except psutil.Error:
            return None
    raw = read_small(f"{PROC}/{pid}/stat")
    return None if raw is None else parse_stat(pid, raw.decode("utf-8", "replace"))


def argv0(pid: int) -> str | None:
    """Base name of the process's ``argv[0]``, for names ``comm`` truncated to 15 chars."""
    if backend() == "psutil":
        psutil = _psutil()
        try:
            argv = psutil.Process(pid).cmdline()
        except psutil.Error:
            return None
        return os.path.basename(argv[0]) if argv and argv[0] else None
    try:
        with open(f"{PROC}/{pid}/cmdline", "rb") as f:
            raw = f.read(4096)
    except OSError:
        return None
    first = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
    return os.path.basename(first) or None


def environ(pid: int) -> bytes | None:
    """The process's environment as ``NAME=value\\0...`` bytes, or ``None`` if unreadable."""
    if backend() == "psutil":
        psutil = _psutil()
        try:
            env = psutil.Process(pid).environ()
        except (psutil.Error, OSError):
            return None
        pairs = (f"{k}={v}".encode("utf-8", "surrogateescape") for k, v in env.items())
        return b"".join(p + b"\0" for p in pairs)
    # read_small stops at 8 KiB; environments can be larger, so read to the end.
    head = read_small(f"{PROC}/{pid}/environ")
    if head is None or len(head) < 8192:
        return head
    try:
        with open(f"{PROC}/{pid}/environ", "rb") as fh:
            return fh.read()
    except OSError:
        return None


def clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def boot_time() -> float:
    """Epoch seconds of the boot, to turn start ticks into wall-clock times."""
    if backend() == "psutil":
        return float(_psutil().boot_time())
    with open(f"{PROC}/stat", encoding="ascii") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def _scan() -> Iterator[ProcStat]:
    if backend() == "psutil":
        for proc in _psutil().process_iter():
            stat = _psutil_stat(proc)
            if stat is not None:
                yield stat
        return
    for entry in os.listdir(PROC):
        if entry.isdigit():
            stat = read_stat(int(entry))
            if stat is not None:
                yield stat


class Snapshot:
    """Every process at one moment, indexed by session and by parent: one scan
    serves the membership questions of any number of sessions."""

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


def _children_files() -> bool:
    """Whether the kernel lists each task's children (``CONFIG_PROC_CHILDREN``)."""
    global _HAS_CHILDREN
    if _HAS_CHILDREN is None:
        _HAS_CHILDREN = backend() == "proc" and os.path.exists(
            f"{PROC}/self/task/{os.getpid()}/children")
    return _HAS_CHILDREN


_HAS_CHILDREN: bool | None = None


def tree(leader: int, start_time: int) -> list[ProcStat] | None:
    """The live tree under the leader ``(leader, start_time)``, read from those
    processes' own ``/proc`` entries (``stat`` and ``task/*/children``) and no other.

    A session's listing pays for its own processes instead of a scan of every
    process on the host. ``[]`` when the leader pid now belongs to a stranger.
    ``None`` when this cannot answer and :meth:`Snapshot.members` must: no children
    files (another kernel, psutil), or a leader that exited (its survivors are found
    only by session id). A live leader's descendants that were re-parented away
    (their parent exited) are not in the tree.
    """
    if not _children_files():
        return None
    head = read_stat(leader)
    if head is not None and head.start_time != start_time:
        return []
    if head is None or not head.live:
        return None
    found: dict[int, ProcStat] = {leader: head}
    todo = [leader]
    while todo:
        pid = todo.pop()
        if found[pid].threads == 1:
            # One thread: its children file is the process's. A thread started since
            # the stat read is seen next listing, like a child forked after this read.
            tids = [str(pid)]
        else:
            try:
                tids = os.listdir(f"{PROC}/{pid}/task")
            except OSError:
                continue  # exited meanwhile
        for tid in tids:
            raw = read_small(f"{PROC}/{pid}/task/{tid}/children")
            for child in (raw or b"").split():
                cpid = int(child)
                if cpid in found:
                    continue
                stat = read_stat(cpid)
                if stat is not None and stat.live:
                    found[cpid] = stat
                    todo.append(cpid)
    return list(found.values())


def live_table() -> dict[int, ProcStat]:
    """Every live process by pid (empty where processes cannot be listed)."""
    if not available():
        return {}
    return {pid: s for pid, s in Snapshot().by_pid.items() if s.live}


def descendants(roots: Iterable[int], table: dict[int, ProcStat]) -> set[int]:
    """``roots`` (those present in ``table``) and everything below them."""
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
    entry starting with it when ``prefix`` is true. The marker survives reparenting
    to init, so it finds daemonized children a parent walk misses."""
    needle = marker.encode() + (b"" if prefix else b"\0")
    found: set[int] = set()
    me = os.getpid()
    for pid in table:
        if pid == me:
            continue
        env = environ(pid)
        if env and (env.startswith(needle) or b"\0" + needle in env):
            found.add(pid)
    return found
