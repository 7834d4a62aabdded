"""The machine's process table from one ``ps`` call, portable across Linux, macOS, BSD.

Gas City's built-in ``subprocess`` provider reads ``/proc``, which only Linux has. This
provider asks POSIX ``ps`` instead, once per listing, so the reconciler's steady tick
still costs one call whatever the number of sessions.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Proc", "ProcessTable", "read_table"]

# ``lstart`` is the start time with second resolution, the same text on every run:
# stored at start, it tells the session's leader from a later process reusing its pid.
_COLUMNS = "pid=,ppid=,pgid=,stat=,lstart=,comm="
_LSTART_WORDS = 5  # "Sat Nov 28 12:18:28 2026" in the C locale


@dataclass(frozen=True, slots=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    stat: str
    started: str
    comm: str

    @property
    def zombie(self) -> bool:
        return self.stat.startswith("Z")


class ProcessTable:
    def __init__(self, procs: Iterable[Proc]) -> None:
        self.by_pid = {p.pid: p for p in procs}

    def leader(self, pid: int, started: str) -> Proc | None:
        """The process ``pid`` if it is still the one that started at ``started``."""
        proc = self.by_pid.get(pid)
        return proc if proc is not None and proc.started == started else None

    def tree(self, pgid: int) -> list[Proc]:
        """Members of process group ``pgid`` plus every descendant of them, including
        children that moved to a group or session of their own."""
        members = {p.pid for p in self.by_pid.values() if p.pgid == pgid}
        children: dict[int, list[int]] = {}
        for p in self.by_pid.values():
            children.setdefault(p.ppid, []).append(p.pid)
        todo = list(members)
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in members:
                    members.add(child)
                    todo.append(child)
        return [self.by_pid[pid] for pid in sorted(members)]

    def names(self, pgid: int) -> frozenset[str]:
        return frozenset(p.comm for p in self.tree(pgid) if not p.zombie)


def _parse(line: str) -> Proc | None:
    parts = line.split(None, 4 + _LSTART_WORDS)
    if len(parts) < 5 + _LSTART_WORDS:
        return None
    try:
        pid, ppid, pgid = int(parts[0]), int(parts[1]), int(parts[2])
    except ValueError:
        return None
    started = " ".join(parts[4 : 4 + _LSTART_WORDS])
    # macOS prints the executable's path as comm; agents are matched by base name.
    comm = os.path.basename(parts[4 + _LSTART_WORDS].strip())
    return Proc(pid=pid, ppid=ppid, pgid=pgid, stat=parts[3], started=started, comm=comm)


def read_table(ps: str = "ps", pids: Iterable[int] = ()) -> ProcessTable:
    """Run ``ps`` once: every process, or only ``pids`` when given."""
    selection = ["-p", ",".join(str(p) for p in pids)] if pids else ["-A"]
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    result = subprocess.run(
        [ps, *selection, "-o", _COLUMNS],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    # ps exits 1 when a -p selection matched nothing: an empty table, not an error.
    if result.returncode not in (0, 1):
        raise OSError(f"{ps} failed ({result.returncode}): {result.stderr.strip()}")
    return ProcessTable(p for line in result.stdout.splitlines() if (p := _parse(line)))
